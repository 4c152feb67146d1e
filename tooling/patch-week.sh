#!/usr/bin/env bash
# The main job, locally: a simulated patch week through the whole system. Installs what is missing,
# builds the four functions in release mode, then plays the week: LocalStack, moto and the SSM
# simulator started on free ports, template.yaml's rules in EventBridge, the functions' binaries under
# the Lambda Runtime API. Stops everything it started (unless --keep).
#   tooling/patch-week.sh [--fleet N] [--seed S] [--failures K] [--storm-threshold T] [--keep]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tooling/setup.sh >&2
source tooling/env.sh
echo "building the four functions (release) and the driver..." >&2
cargo build --quiet --release --bins -p patch-group-tagger -p install-alerts -p compliance-snapshot -p patch-gate
cargo build --quiet -p patch-week
exec target/debug/patch-week --bin-dir target/release "$@"
