#!/usr/bin/env bash
# `sam build` of template.yaml: the four functions for arm64 in release (the Makefile's one cargo
# lambda build, zig as the linker), into .aws-sam/build. Builds into its own cargo target directory
# (target/sam) so it can run beside other cargo commands of this checkout without waiting on their lock.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source tooling/env.sh
export CARGO_TARGET_DIR="$PWD/target/sam"
if rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
  sam build --no-cached --build-in-source --build-dir .aws-sam/build
else
  echo "!!! WARNING: the aarch64-unknown-linux-gnu target is not installed: building x86_64 instead of arm64 !!!"
  sed 's/- arm64$/- x86_64/; s/\[arm64\]/[x86_64]/' template.yaml > .template-x86_64.yaml
  LAMBDA_ARCH=--x86-64 sam build --no-cached --build-in-source --template-file .template-x86_64.yaml --build-dir .aws-sam/build
fi
