#!/usr/bin/env bash
# Benchmarks (not tests): cold start, warm latency, calls per invocation, fleet scale, binary size.
# Builds the four functions in release mode, starts LocalStack, moto and the simulator, prints tables.
#   tooling/bench.sh [--max-fleet 100000] [--max-backfill 10000] [--cold-runs 5] [--warm-runs 20] [--seed 42]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tooling/setup.sh >&2
source tooling/env.sh
echo "building the four functions (release) and the benchmark driver..." >&2
cargo build --quiet --release --bins -p patch-group-tagger -p install-alerts -p compliance-snapshot -p patch-gate
cargo build --quiet --release -p patch-week --bin patchpilot-bench
# The in-process measurements would print the functions' metric lines between the tables.
PATCHPILOT_EMF=off exec target/release/patchpilot-bench --bin-dir target/release "$@"
