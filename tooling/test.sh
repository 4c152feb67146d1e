#!/usr/bin/env bash
# The whole test suite, as CI runs it: tools, formatting, lints, unit and integration tests against
# LocalStack, moto and the SSM simulator, the template's linters, and a SAM build.
#
# Nothing is tested less to go faster; work is done once, and what can wait on something else
# overlaps instead:
# - clippy lints the workspace's crates *while* the test build compiles them (clippy's own driver as
#   the workspace's compiler wrapper, `-D warnings`, every target), instead of a separate `cargo
#   clippy` pass that would type-check every dependency a second time;
# - the tool environments install (downloads) while clippy compiles;
# - the arm64 `sam build` (the longest step, much of it one-threaded fat-LTO links) starts as soon as
#   the tools are in and runs beside everything else at the lowest CPU priority, taking the cycles
#   clippy's and the test build's one-threaded links and the waiting tests leave idle. It builds into
#   its own target directory (`target/sam`), so neither cargo waits on the other's lock.
# Each step's wall time is printed at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
source tooling/env.sh
source tooling/local-aws.sh

timings=()
step_name=""
step_started=$SECONDS
finish_step() {
  [ -n "$step_name" ] && timings+=("$(printf '%5d s  %s' $((SECONDS - step_started)) "$step_name")")
  step_name=""
}
step() {
  finish_step
  step_name="$*"
  step_started=$SECONDS
  printf '\n==> %s\n' "$*"
}
report_timings() {
  finish_step
  echo
  echo "wall time by step (background steps overlap the ones beside them):"
  printf '  %s\n' "${timings[@]}"
  printf '  %5d s  total\n' "$SECONDS"
  # The background jobs' logs have been printed where they mattered: leave nothing in /tmp.
  if [ -n "${work:-}" ]; then rm -rf "$work"; fi
}
trap report_timings EXIT

# Background jobs write their log and their exit status to files; `join` waits, prints, and fails
# the run if the job failed.
work="$(mktemp -d)"
background() {
  local name="$1"
  shift
  (
    started=$SECONDS
    set +e
    "$@" >"$work/$name.log" 2>&1
    status=$?
    echo "$status $((SECONDS - started))" >"$work/$name.status"
  ) &
  eval "${name}_pid=$!"
}
join() {
  local name="$1" pid_var="${1}_pid"
  wait "${!pid_var}" || true
  local status seconds
  read -r status seconds <"$work/$name.status"
  sed 's/^/  | /' "$work/$name.log"
  timings+=("$(printf '%5d s  %s (in the background)' "$seconds" "$name")")
  if [ "$status" -ne 0 ]; then
    echo "$name failed (exit $status)"
    exit "$status"
  fi
}

step "tools: rustfmt and clippy now; the rest installs in the background, then the SAM build starts there"
bash tooling/setup.sh components
# The background job: the tools (marking when they are in), then the arm64 SAM build at nice 19.
background setup_and_sam_build bash -c "
  bash tooling/setup.sh rest || exit \$?
  touch '$work/tools.ready'
  echo '--- sam build (nice 19) ---'
  started=\$SECONDS
  nice -n 19 bash tooling/sam-build.sh || exit \$?
  echo \"--- sam build: \$((SECONDS - started)) s ---\"
"

step "cargo fmt --check"
cargo fmt --all --check

# `cargo clippy` is `cargo check` with clippy-driver as RUSTC_WORKSPACE_WRAPPER and its arguments in
# CLIPPY_ARGS; the same wrapper on the test build lints every workspace target as it compiles
# (dependencies are compiled by plain rustc either way). Only the test commands get it: the SAM build
# beside them compiles the shipped binaries with plain rustc.
clippy_driver="$(rustup which clippy-driver)"
linted() {
  RUSTC_WORKSPACE_WRAPPER="$clippy_driver" CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__" "$@"
}

step "cargo test --workspace --all-targets --no-run, linted as it builds (clippy -D warnings)"
linted cargo test --workspace --all-targets --no-run --quiet

step "tools ready (for LocalStack and moto)"
until [ -e "$work/tools.ready" ]; do
  if [ -e "$work/setup_and_sam_build.status" ]; then join setup_and_sam_build; fi
  sleep 2
done

step "local AWS: LocalStack and moto, one for the whole run"
start_local_aws
echo "LocalStack $PATCHPILOT_LOCALSTACK_URL, DynamoDB (moto) $PATCHPILOT_DYNAMODB_URL"

step "cargo test --workspace"
log="$(mktemp)"
set +e
linted cargo test --workspace --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
passed=$(grep -Eo '^test result: .* ([0-9]+) passed' "$log" | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '; ([0-9]+) failed' "$log" | grep -Eo '[0-9]+' | awk '{s+=$1} END {print s+0}')
if [ "$status" -ne 0 ]; then
  # A failing test's message sits after its captured output, which can be long (the patch week's
  # is its whole transcript): say each panic again here, at the end, where a shortened log keeps it.
  echo
  echo "why, each failing test (its panic, as printed above):"
  awk '/^---- .* stdout ----$/ { test = $2 }
       /^thread .* panicked at / { shown = 0; print "  " test ": " $0; keep = 1; next }
       keep && /^note: / { keep = 0 }
       keep && shown < 12 { print "    " $0; shown++ }' "$log"
fi
rm -f "$log"
[ "$status" -eq 0 ] || { echo "cargo test failed"; echo "tests: $passed passed, $failed failed"; exit "$status"; }

step "cfn-lint (with the serverless rules): the SAM template, and what CloudFormation receives"
cfn-lint --append-rules cfn_lint_serverless.rules -- template.yaml
# The SAM transform, applied for every parameter set (list parameters in each form they accept), and
# each translated template linted as CloudFormation will receive it.
translated="target/translated-templates"
rm -rf "$translated"
python tooling/template/translate.py "$translated" >/dev/null
# And the processed template a service-managed StackSet receives (README "Org-wide with StackSets").
python tooling/template/translate.py "$translated" --org >/dev/null
for template in "$translated"/*.json; do
  echo "  $(basename "$template" .json)"
  cfn-lint --append-rules cfn_lint_serverless.rules -- "$template"
done

step "cfn-lint: the templates deployed beside it (templates/: staging's account; the organization's code buckets, alert topic and monitoring account)"
cfn-lint -- templates/*.yaml

step "sam validate --lint"
sam validate --lint

step "the SAM build finishes"
join setup_and_sam_build

trap - EXIT
report_timings
echo
echo "tests: $passed passed, $failed failed"
