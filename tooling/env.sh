# Sourced by the project's scripts: puts the tools tooling/setup.sh installed on PATH.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$root/.tools/venv/bin:$root/.tools/awscli/bin:$PATH"
export SAM_CLI_TELEMETRY=0
export AWS_PAGER=""
