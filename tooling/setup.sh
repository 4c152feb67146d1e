#!/usr/bin/env bash
# Installs every tool the tests and the patch week need, into gitignored folders under .tools/.
# Idempotent: each virtual environment records the requirements it was built from and is only
# rebuilt when they change, so a second run takes seconds.
#
#   .tools/localstack  LocalStack (needs Python 3.13)
#   .tools/moto        moto's server, for DynamoDB (LocalStack's needs a Java download)
#   .tools/venv        aws-sam-cli, cfn-lint (+ serverless rules), cargo-lambda, ziglang
#   .tools/awscli      the AWS CLI (tests drive the simulator with it too)
#
#   tooling/setup.sh               everything
#   tooling/setup.sh components    only rustfmt and clippy (seconds; what `cargo fmt`/`clippy` need)
#   tooling/setup.sh rest          everything else (the test command runs it beside the first builds)
#
set -euo pipefail
mode="${1:-all}"
case "$mode" in all | components | rest) ;; *) echo "usage: setup.sh [all|components|rest]" >&2; exit 2 ;; esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
mkdir -p "$tools"
# Never pick up the interpreters of our own virtual environments when looking for Python.
PATH="$(printf '%s' "$PATH" | tr ':' '\n' | grep -v "^$tools/" | paste -sd: -)"

log() { printf '[setup] %s\n' "$*" >&2; }

if [ "$mode" != rest ]; then
  for component in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component" >&2 || true
  done
  [ "$mode" = components ] && exit 0
fi

# --- Python 3.13 for LocalStack -------------------------------------------------------------
find_python313() {
  local candidate
  for candidate in "${PATCHPILOT_PYTHON313:-}" python3.13 \
    "$HOME"/.pyenv/versions/3.13*/bin/python3.13 /usr/local/bin/python3.13 /usr/bin/python3.13; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null; then
      readlink -f "$(command -v "$candidate")"
      return 0
    fi
  done
  return 1
}

python313="$(find_python313)" || {
  log "ERROR: LocalStack 2026.3 needs Python 3.13 and none was found."
  log "       Looked for PATCHPILOT_PYTHON313, python3.13 on PATH, ~/.pyenv/versions/3.13*, /usr/{local/,}bin."
  log "       Install one (e.g. 'pyenv install 3.13') or point PATCHPILOT_PYTHON313 at it."
  exit 1
}

# make_venv DIR PYTHON REQUIREMENT... : (re)build DIR only when the requirement list changed.
make_venv() {
  local dir="$1" python="$2"
  shift 2
  local wanted
  wanted="$(printf '%s\n' "$python" "$@")"
  if [ -f "$dir/.requirements" ] && [ "$(cat "$dir/.requirements")" = "$wanted" ]; then
    log "$(basename "$dir"): up to date"
    return 0
  fi
  log "$(basename "$dir"): installing $* (a minute or two the first time)"
  rm -rf "$dir"
  "$python" -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check --upgrade pip >&2
  "$dir/bin/pip" install --quiet --disable-pip-version-check "$@" >&2
  printf '%s' "$wanted" >"$dir/.requirements"
}

# The four environments install side by side (each mostly waits on downloads); any failure fails setup.
pids=()
make_venv "$tools/localstack" "$python313" \
  'localstack-core[runtime]==2026.3.0' 'cbor2<6' 'cryptography==43.0.3' 'pyopenssl==24.2.1' 'service_identity' &
pids+=($!)

# ziglang is pinned to a release cargo-zigbuild (inside cargo-lambda) is known to drive.
# LocalStack's DynamoDB needs a Java runtime and DynamoDB Local downloaded from outside the package
# registries, which this kind of machine cannot reach; moto's pure-Python DynamoDB stands in for it.
make_venv "$tools/moto" "$python313" 'moto[server,dynamodb]==5.2.5' &
pids+=($!)

# cfn-lint comes at the version aws-sam-cli pins, so `sam validate --lint` and cfn-lint agree.
make_venv "$tools/venv" "$python313" \
  'aws-sam-cli==1.170.0' 'cfn-lint-serverless==0.3.6' 'cargo-lambda==1.9.2' 'ziglang==0.14.1' &
pids+=($!)

# The AWS CLI pins botocore exactly, so it lives apart from SAM's boto3.
make_venv "$tools/awscli" "$python313" 'awscli' &
pids+=($!)

# --- Rust targets (beside the downloads above) ------------------------------------------------------------------------------
if rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
  log "rust target aarch64-unknown-linux-gnu: present"
elif rustup target add aarch64-unknown-linux-gnu >&2 2>&1; then
  log "rust target aarch64-unknown-linux-gnu: added"
else
  log "WARNING: could not add the aarch64-unknown-linux-gnu target; sam build will fall back to x86_64"
fi
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
[ "$failed" -eq 0 ] || { log "ERROR: a tool environment did not install (see above)"; exit 1; }
log "done"
