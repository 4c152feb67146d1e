#!/usr/bin/env bash
# Org-wide packaging for a service-managed StackSet: builds the four functions once (arm64, release:
# tooling/sam-build.sh), uploads each to the code bucket of every Region, and writes and uploads the
# processed template (no SAM transform). Prints the keys and the template's URL as JSON.
#   tooling/org-package.sh --bucket-prefix acme-patchpilot-code --regions eu-west-1,us-east-1 [--out dist/org] [--no-build]
# The buckets come first (templates/code-bucket.yaml, one stack per Region); README "Org-wide with
# StackSets" has the commands around it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=true
args=()
for arg in "$@"; do
  if [[ "$arg" == "--no-build" ]]; then build=false; else args+=("$arg"); fi
done
bash tooling/setup.sh >&2
source tooling/env.sh
if $build; then
  bash tooling/sam-build.sh >&2
fi
exec .tools/venv/bin/python tooling/org_package.py --artifacts .aws-sam/build "${args[@]}"
