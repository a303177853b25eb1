# Shared helpers for the CLI tests: $TANDEM is the executable, $MPIRUN the launcher.
set -u
fail() { echo "FAIL: $*" >&2; exit 1; }
work=$(mktemp -d /tmp/tandem_cli.XXXXXX)
trap 'rm -rf "$work"' EXIT
# expect_error CODE PATTERN -- command...: the command exits with CODE and stderr matches PATTERN.
expect_error() {
  local code=$1 pattern=$2
  shift 3
  set +e
  "$@" > "$work/out" 2> "$work/err"
  local rc=$?
  set -e
  [ "$rc" -eq "$code" ] || { cat "$work/err"; fail "'$*' exited $rc, expected $code"; }
  grep -qE -- "$pattern" "$work/err" || { cat "$work/err"; fail "'$*': stderr does not match '$pattern'"; }
  echo "ok: $* -> exit $rc, '$pattern'"
}
