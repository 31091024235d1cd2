#!/usr/bin/env bash
# has notify and inspect run --notify against a local server that plays a
# DingTalk custom robot as documented: access token, signed timestamp
# (HMAC-SHA256 of "timestamp\nsecret", base64, URL-encoded), security
# keyword, errcode 0 on success and errcode 310000 with HTTP 200 on failure.
. "$(dirname "$0")/lib.sh"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
cat > "$T/robot.py" <<'PY'
import base64, hashlib, hmac, json, sys, time, urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer
port, secret, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
class Robot(BaseHTTPRequestHandler):
    def log_message(self, *args): pass
    def do_POST(self):
        url = urllib.parse.urlparse(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        def answer(code, msg):
            data = json.dumps({"errcode": code, "errmsg": msg}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        if url.path != "/robot/send" or q.get("access_token") != "tok":
            return answer(300001, "token is not exist")
        ts = q.get("timestamp", "0")
        want = base64.b64encode(hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()).decode()
        if q.get("sign") != want or abs(time.time() * 1000 - int(ts)) > 3600 * 1000:
            return answer(310000, "sign not match")
        text = body.get("markdown", {}).get("text", "")
        if body.get("msgtype") != "markdown" or "[has]" not in text:
            return answer(310000, "keywords not in content")
        with open(log, "a") as f:
            f.write(json.dumps(body) + "\n")
        answer(0, "ok")
HTTPServer(("127.0.0.1", port), Robot).serve_forever()
PY

W="$T/ws"
mkdir -p "$W"
cat > "$W/has.yaml" <<YAML
notifiers:
  ops-room:
    kind: dingtalk
    url: "\${env:HAS_TEST_ROBOT_URL}"
    secret: "\${env:HAS_TEST_ROBOT_SECRET}"
    keyword: "[has]"
YAML
cat > "$W/rules.yaml" <<YAML
kind: Rule
name: flag
probe: {exec: {command: [test, -e, "$T/flag"]}}
YAML
export HAS_TEST_ROBOT_URL="http://127.0.0.1:$PORT/robot/send?access_token=tok"
export HAS_TEST_ROBOT_SECRET="SECabc123-very-secret"
cd "$W"

start_robot() {
  python3 "$T/robot.py" "$PORT" "$1" "$T/received.ndjson" &
  ROBOT=$!
  for _ in $(seq 50); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 0.2)" 2>/dev/null && return
    sleep 0.1
  done
}
stop_robot() { kill "$ROBOT" 2>/dev/null; wait "$ROBOT" 2>/dev/null; }
trap 'stop_robot; rm -rf "$T"' EXIT

start_robot "$HAS_TEST_ROBOT_SECRET"
run -o table notify test ops-room
expect_rc 0 "test message accepted"
expect_out '{"errcode": 0, "errmsg": "ok"}' "prints exactly what the robot answered"
expect_no_out "SECabc123" "never prints the secret"

# The robot is down: the digest waits in the outbox, the run's status is its own.
stop_robot
touch "$T/flag"
run inspect run --notify
expect_rc 0 "first run ok"
rm "$T/flag"
run inspect run --notify
expect_rc 1 "failing run"
expect_err "kept in the outbox" "delivery failure is reported, not fatal"
run -o json notify outbox
python3 -c 'import json,sys; o=json.load(open(sys.argv[1]))["outbox"]; assert len(o)==1 and o[0]["status"]=="pending", o' "$T/stdout" && ok || fail "one pending digest"
sqlite3 .has/state.db "select payload, last_error from outbox" | grep -q "SECabc123\|access_token=tok" && fail "a secret reached the outbox" || ok

# The robot is back: the next delivery sends it exactly once.
start_robot "$HAS_TEST_ROBOT_SECRET"
sqlite3 .has/state.db "update outbox set next_attempt_at = '2000-01-01T00:00:00.000Z' where status = 'pending'"
run -o table notify deliver
expect_rc 0 "deliver"
run notify deliver
[ "$(wc -l < "$T/received.ndjson")" -eq 2 ] && ok || fail "test message and one digest received: $(cat "$T/received.ndjson")"
grep -q '"msgUuid"' "$T/received.ndjson" && ok || fail "msgUuid sent for idempotency"
tail -1 "$T/received.ndjson" | grep -q 'flag' && ok || fail "the digest names the failing rule"

# Nothing changed: no new digest unless --notify=always.
run inspect run --notify
[ "$(wc -l < "$T/received.ndjson")" -eq 2 ] && ok || fail "no digest when nothing changed"
run inspect run --notify=always
[ "$(wc -l < "$T/received.ndjson")" -eq 3 ] && ok || fail "--notify=always sends"

# A wrong secret: the robot's errcode 310000 in an HTTP 200 is a failure.
stop_robot
start_robot "another-secret"
run notify test ops-room
expect_rc 1 "wrong secret"
expect_out '310000' "the robot's answer is printed"
expect_err "has: error:" "error line"
expect_no_err "SECabc123" "secret not in the error"
run inspect run --notify=bogus
expect_rc 64 "bad --notify value"
run notify test nosuch
expect_rc 64 "unknown notifier"

finish
