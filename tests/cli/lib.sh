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

# skip REASON: this test cannot run here; exits 77, which CTest shows as
# skipped. Under CI=true a missing service fails the test instead (CTest
# would count a skip as a pass).
skip() {
  if [ "${CI:-}" = true ]; then
    echo "FAIL: $1 (CI=true: a test may not skip)"
    exit 1
  fi
  echo "SKIP: $1"
  exit 77
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

# start_receiver FILE: starts a webhook receiver on a free 127.0.0.1 port
# that appends each POST body (and a newline) to FILE and answers 200 "ok";
# sets NPORT and RECEIVER (its pid; the caller stops it).
start_receiver() {
  NPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  cat >"$T/receiver.py" <<'PY'
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(sys.argv[2], "ab") as out:
            out.write(body + b"\n")
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
PY
  python3 "$T/receiver.py" "$NPORT" "$1" &
  RECEIVER=$!
  for _ in $(seq 50); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $NPORT), 0.2)" 2>/dev/null && break
    sleep 0.1
  done
}

# at_terminal OUTFILE COMMAND: runs COMMAND (a shell command line) in the
# background on a pseudo-terminal (util-linux script), its output in
# OUTFILE; sets TERMINAL (script's pid). answer TEXT types at its prompt.
at_terminal() {
  rm -f "$T/terminal.in"
  mkfifo "$T/terminal.in"
  script -qec "$2" /dev/null <"$T/terminal.in" >"$1" 2>&1 &
  TERMINAL=$!
  exec 9>"$T/terminal.in"
}
answer() { printf '%s\n' "$1" >&9; }
# end_terminal: waits for the command at the terminal; RC is its status.
end_terminal() {
  wait "$TERMINAL"; RC=$?
  exec 9>&-
}

finish() {
  echo "$passes passed, $fails failed"
  [ "$fails" -eq 0 ]
  exit $?
}
