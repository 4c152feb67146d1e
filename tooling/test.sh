#!/usr/bin/env bash
# The whole test suite, as CI runs it: tools, formatting, lints, unit and integration tests against
# LocalStack, moto and the SSM simulator, the template's linters, and a SAM build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tooling/setup.sh
source tooling/env.sh
source tooling/local-aws.sh

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "local AWS: LocalStack and moto, one for the whole run"
start_local_aws
echo "LocalStack $PATCHPILOT_LOCALSTACK_URL, DynamoDB (moto) $PATCHPILOT_DYNAMODB_URL"

step "cargo test --workspace"
log="$(mktemp)"
set +e
cargo test --workspace 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
passed=$(grep -Eo '^test result: .* ([0-9]+) passed' "$log" | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '; ([0-9]+) failed' "$log" | grep -Eo '[0-9]+' | awk '{s+=$1} END {print s+0}')
rm -f "$log"
[ "$status" -eq 0 ] || { echo "cargo test failed"; echo "tests: $passed passed, $failed failed"; exit "$status"; }

step "cfn-lint (with the serverless rules): the SAM template, and what CloudFormation receives"
cfn-lint --append-rules cfn_lint_serverless.rules -- template.yaml
# The SAM transform, applied for every parameter set (list parameters in each form they accept), and
# each translated template linted as CloudFormation will receive it.
translated="target/translated-templates"
rm -rf "$translated"
python tooling/template/translate.py "$translated" >/dev/null
for template in "$translated"/*.json; do
  echo "  $(basename "$template" .json)"
  cfn-lint --append-rules cfn_lint_serverless.rules -- "$template"
done

step "sam validate --lint"
sam validate --lint

step "sam build"
if rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
  sam build --build-dir .aws-sam/build
else
  echo "!!! WARNING: the aarch64-unknown-linux-gnu target is not installed: building x86_64 instead of arm64 !!!"
  sed 's/- arm64$/- x86_64/; s/\[arm64\]/[x86_64]/' template.yaml > .template-x86_64.yaml
  sam build --template-file .template-x86_64.yaml --build-dir .aws-sam/build
fi

echo
echo "tests: $passed passed, $failed failed"
