#!/usr/bin/env bash
# The main job, locally: a simulated patch week through the whole system. Installs what is missing
# (beside the build), builds the four functions and the driver in one debug build (the AWS SDK crates
# compile once), then plays the week: LocalStack, moto and the SSM simulator started on free ports,
# template.yaml's rules in EventBridge, the functions' binaries under the Lambda Runtime API. Stops
# everything it started (unless --keep).
#   tooling/patch-week.sh [--fleet N] [--seed S] [--failures K] [--storm-threshold T] [--keep]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
setup_log="$(mktemp)"
bash tooling/setup.sh >"$setup_log" 2>&1 &
setup_pid=$!
echo "installing the tools (in the background) and building the four functions and the driver..." >&2
cargo build --quiet --bins -p patch-group-tagger -p install-alerts -p compliance-snapshot -p patch-gate -p patchpilot -p patch-week
if ! wait "$setup_pid"; then
  cat "$setup_log" >&2
  echo "tool setup failed" >&2
  exit 1
fi
rm -f "$setup_log"
source tooling/env.sh
exec target/debug/patch-week --bin-dir target/debug "$@"
