#!/usr/bin/env bash
# The main job, locally: a simulated patch week. Installs what is missing, builds, then plays the week
# against LocalStack and the SSM simulator (which it starts and stops itself).
#   tooling/patch-week.sh [--fleet N] [--seed S] [--failures K]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tooling/setup.sh >&2
source tooling/env.sh
cargo build --quiet -p patch-week
# The handlers run in-process here; their metric log lines would only interleave with the narrative.
PATCHPILOT_EMF=off exec target/debug/patch-week "$@"
