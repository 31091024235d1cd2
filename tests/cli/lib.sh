# Helpers for CLI tests: run the real binary and check what it printed.
# Each test script sources this file; it gets $HAS and $HAS_SOURCE from CTest.
set -u
: "${HAS:?HAS must point at the has binary}"
: "${HAS_SOURCE:?HAS_SOURCE must point at the source tree}"

T=$(mktemp -d "${TMPDIR:-/tmp}/has-cli-XXXXXX")
trap 'rm -rf "$T"' EXIT
export NO_COLOR=1
unset HAS_STATE
fails=0
passes=0

# run ARGS...: runs has, capturing stdout in $OUT, stderr in $ERR, status in $RC.
run() {
  "$HAS" "$@" >"$T/stdout" 2>"$T/stderr" </dev/null
  RC=$?
  OUT=$(cat "$T/stdout")
  ERR=$(cat "$T/stderr")
}

fail() {
  echo "FAIL: $*" >&2
  echo "  command status: ${RC:-}" >&2
  echo "  stdout: ${OUT:-}" | head -20 >&2
  echo "  stderr: ${ERR:-}" | head -20 >&2
  fails=$((fails + 1))
}
ok() { passes=$((passes + 1)); }

expect_rc() { if [ "$RC" -eq "$1" ]; then ok; else fail "expected exit $1, got $RC ($2)"; fi; }
expect_out() { if grep -qF -- "$1" <<<"$OUT"; then ok; else fail "stdout lacks '$1' ($2)"; fi; }
expect_err() { if grep -qF -- "$1" <<<"$ERR"; then ok; else fail "stderr lacks '$1' ($2)"; fi; }
expect_no_out() { if grep -qF -- "$1" <<<"$OUT"; then fail "stdout has '$1' ($2)"; else ok; fi; }
expect_no_err() { if grep -qF -- "$1" <<<"$ERR"; then fail "stderr has '$1' ($2)"; else ok; fi; }

finish() {
  echo "$passes passed, $fails failed"
  [ "$fails" -eq 0 ]
  exit $?
}
