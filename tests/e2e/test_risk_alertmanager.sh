# End-to-end: a real Prometheus Alertmanager (Debian's prometheus-alertmanager,
# on a free 127.0.0.1 port, clustering off) sends its webhook, with a bearer
# token, to `has risk serve`: an alert pushed to Alertmanager's API becomes a
# risk event, the same alert again stays that event, its end resolves it.
source "$(dirname "$0")/../cli/lib.sh"

if ! command -v prometheus-alertmanager >/dev/null 2>&1; then
  skip "prometheus-alertmanager is not installed (Debian package prometheus-alertmanager)"
fi

W="$T/ws"
mkdir -p "$W"
cd "$W" || exit 1
echo "state: .has/state.db" >has.yaml
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

has_pid=""
am_pid=""
stop_all() {
  for pid in $am_pid $has_pid; do
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
}
trap 'stop_all; rm -rf "$T"' EXIT

export HAS_E2E_TOKEN="tok-$RANDOM$RANDOM"
"$HAS" risk serve --listen 127.0.0.1:0 --token-env HAS_E2E_TOKEN 2>"$T/serve.log" &
has_pid=$!
for _ in $(seq 50); do
  grep -q "listening on" "$T/serve.log" && break
  sleep 0.1
done
HPORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$T/serve.log")
[ -n "$HPORT" ] && ok || { fail "has risk serve did not start: $(cat "$T/serve.log")"; finish; }

APORT=$(free_port)
cat >"$T/am.yml" <<YAML
route:
  receiver: has
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: has
    webhook_configs:
      - url: http://127.0.0.1:$HPORT/alertmanager
        send_resolved: true
        http_config:
          authorization: {type: Bearer, credentials: $HAS_E2E_TOKEN}
YAML
prometheus-alertmanager --config.file="$T/am.yml" --storage.path="$T/am-data" \
  --web.listen-address="127.0.0.1:$APORT" --cluster.listen-address= --log.level=warn >"$T/am.log" 2>&1 &
am_pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$APORT/-/ready" >/dev/null && break
  sleep 0.2
done
curl -sf "http://127.0.0.1:$APORT/-/ready" >/dev/null && ok || { fail "alertmanager did not start: $(cat "$T/am.log")"; finish; }

# push ENDS_AT: the alert, to Alertmanager's own API, as Prometheus does.
push() {
  python3 - "$APORT" "$1" "$T" <<'PY'
import json, sys, urllib.request
port, ends, tmp = sys.argv[1], sys.argv[2], sys.argv[3]
alert = {"labels": {"alertname": "HighLatency", "instance": "web1:9100", "severity": "critical"},
         "annotations": {"summary": "p99 above 2s on web1; $(touch %s/pwn)" % tmp,
                         "description": "p99 is `touch %s/pwn2` 3.1s" % tmp},
         "startsAt": "2026-11-25T10:00:00Z", "generatorURL": "http://prometheus.example/graph"}
if ends:
    alert["endsAt"] = ends
req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v2/alerts", data=json.dumps([alert]).encode(),
                             headers={"Content-Type": "application/json"}, method="POST")
urllib.request.urlopen(req, timeout=10).read()
PY
}

# wait_for PYTHON-CONDITION: polls `has risk list --status all` (d = its JSON) for 30 s.
wait_for() {
  for _ in $(seq 150); do
    "$HAS" risk list --status all -o json >"$T/list.json" 2>/dev/null
    python3 -c "import json,sys; d = json.load(open(sys.argv[1])); sys.exit(0 if ($1) else 1)" "$T/list.json" && return 0
    sleep 0.2
  done
  return 1
}

push "" && ok || fail "pushing the alert to alertmanager"
wait_for 'len(d["events"]) == 1 and d["events"][0]["status"] == "open"' && ok ||
  fail "the alert did not become an event: $(cat "$T/list.json") $(cat "$T/serve.log")"
python3 -c '
import json, sys
e = json.load(open(sys.argv[1]))["events"][0]
assert e["source"] == "alertmanager" and e["severity"] == "critical", e
assert e["title"] == "p99 above 2s on web1; $(touch %s/pwn)" % sys.argv[2], e
assert e["message"] == "p99 is `touch %s/pwn2` 3.1s" % sys.argv[2], e
assert e["labels"] == {"alertname": "HighLatency", "instance": "web1:9100", "severity": "critical"}, e
assert e["fingerprint"].startswith("alertmanager:") and e["first_seen"] == "2026-11-25T10:00:00.000Z", e
' "$T/list.json" "$T" && ok || fail "the event's fields: $(cat "$T/list.json")"

# Alertmanager's end of the alert resolves the event.
push "$(date -u -d '-1 second' +%Y-%m-%dT%H:%M:%SZ)" && ok || fail "pushing the end of the alert"
wait_for 'len(d["events"]) == 1 and d["events"][0]["status"] == "resolved"' && ok ||
  fail "the end did not resolve the event: $(cat "$T/list.json") $(cat "$T/serve.log")"
run risk show 1 -o json
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
kinds = [t["kind"] for t in d["timeline"]]
assert kinds == ["opened", "resolved"], kinds
assert all(t["source"] == "alertmanager" for t in d["timeline"]), d["timeline"]
' "$T/stdout" && ok || fail "timeline: $OUT"
grep -q "POST /alertmanager 200 from 127.0.0.1: 1 opened" "$T/serve.log" && ok || fail "the log line: $(cat "$T/serve.log")"
grep -q "401" "$T/serve.log" && fail "alertmanager's token was refused: $(cat "$T/serve.log")" || ok
ls "$T" | grep -q pwn && fail "an alert's text was executed" || ok

# SIGTERM stops the receiver cleanly.
kill -TERM "$has_pid"
wait "$has_pid"
rc=$?
has_pid=""
[ "$rc" = 0 ] && ok || fail "serve exits 0 on SIGTERM ($rc)"
grep -q "stopped" "$T/serve.log" && ok || fail "serve says it stopped"
finish
