#!/usr/bin/env bash
# Benchmarks (not tests), printed as tables. Builds the four functions in release mode, starts
# LocalStack, moto and the simulator.
#   tooling/bench.sh [--max-fleet 100000] [--max-backfill 10000] [--cold-runs 5] [--warm-runs 20] [--seed 42]
#       cold start, warm latency, calls per invocation, fleet scale, binary size
#   tooling/bench.sh budgets [--sections 1,2,3,4,5,6] [--fleets 100000,500000] [--concurrency 1,2,4,8,16] [--deadline-seconds 30]
#                            [--pass-fleets 10000,100000,500000] [--pass-groups 1000] [--pass-seconds 120] [--summaries auto]
#       time budgets: rate limits, the snapshot at 100,000/500,000 inside its timeout, a backfill slower
#       than its timeout, a 1,000-instance window summary, a cut deadline at the CPU share of the
#       snapshot's MemorySize, the per-instance pass's two sources (about 55 minutes in all)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tooling/setup.sh >&2
source tooling/env.sh
echo "building the four functions (release) and the benchmark drivers..." >&2
cargo build --quiet --release --bins -p patch-group-tagger -p install-alerts -p compliance-snapshot -p patch-gate
cargo build --quiet --release -p patch-week --bin patchpilot-bench --bin patchpilot-budget-bench
# The in-process measurements would print the functions' metric lines between the tables.
export PATCHPILOT_EMF=off
if [[ "${1:-}" == "budgets" ]]; then
    shift
    exec target/release/patchpilot-budget-bench --bin-dir target/release "$@"
fi
exec target/release/patchpilot-bench --bin-dir target/release "$@"
