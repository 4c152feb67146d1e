#!/usr/bin/env bash
# The main job, locally: a simulated patch week. Installs what is missing, builds, then plays the week
# against LocalStack and the SSM simulator (which it starts and stops itself).
#   tooling/patch-week.sh [--fleet N] [--seed S] [--failures K]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source tooling/env.sh
bash tooling/setup.sh >&2
cargo build --quiet -p patch-week
exec target/debug/patch-week "$@"
