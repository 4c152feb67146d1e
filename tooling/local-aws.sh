# Sourced by the project's scripts: starts LocalStack and moto once (through the test-support crate's
# `local-aws`, the same code the tests use) and exports their URLs. They stop when the script exits:
# `local-aws` runs until its stdin (a pipe from this shell) closes.
start_local_aws() {
  cargo build --quiet -p patchpilot-test-support --bin local-aws
  coproc LOCAL_AWS { "$root/target/debug/local-aws"; }
  local line
  while IFS= read -r line <&"${LOCAL_AWS[0]}"; do
    case "$line" in
      export\ *) eval "$line" ;;
      "# ready") return 0 ;;
    esac
  done
  echo "local AWS services did not start" >&2
  return 1
}
