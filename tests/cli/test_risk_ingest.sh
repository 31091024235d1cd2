#!/usr/bin/env bash
# has risk ingest and serve: alerts from outside in the three formats
# (Alertmanager webhook, PagerDuty Events v2, has's JSON), deduplicated by
# fingerprint, resolved and acknowledged by their senders; bad payloads
# refused whole; the receiver's status codes, token, size limit and stop.
. "$(dirname "$0")/lib.sh"

W="$T/ws"
mkdir -p "$W"
cd "$W" || exit 1
echo "state: .has/state.db" >has.yaml
# run_stdin ARGS...: like run, with this script's standard input.
run_stdin() {
  "$HAS" "$@" >"$T/stdout" 2>"$T/stderr"
  RC=$?
  OUT=$(cat "$T/stdout")
  ERR=$(cat "$T/stderr")
}

cat >"$T/am.json" <<'JSON'
{"version": "4", "status": "firing", "receiver": "has", "groupKey": "{}:{alertname=\"HighLatency\"}",
 "groupLabels": {"alertname": "HighLatency"}, "commonLabels": {}, "commonAnnotations": {},
 "externalURL": "http://alertmanager.example:9093", "truncatedAlerts": 0,
 "alerts": [
  {"status": "firing", "labels": {"alertname": "HighLatency", "instance": "web1:9100", "severity": "critical"},
   "annotations": {"summary": "p99 above 2s on web1", "description": "p99 is 3.1s"},
   "startsAt": "2026-11-25T11:00:00.123456789+01:00", "endsAt": "0001-01-01T00:00:00Z",
   "generatorURL": "http://prometheus.example/graph", "fingerprint": "c0ffee0123456789"},
  {"status": "firing", "labels": {"alertname": "DiskFull", "instance": "db1"}, "annotations": {},
   "startsAt": "2026-11-25T09:30:00Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "d15cf011"}]}
JSON

run risk ingest "$T/am.json" -o json
expect_rc 0 "an Alertmanager webhook from a file"
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert [(a["event_id"], a["outcome"]) for a in d["applied"]] == [(1, "opened"), (2, "opened")], d
' "$T/stdout" && ok || fail "two events opened: $OUT"
expect_err "2 alerts: 2 opened" "summary on stderr"
run_stdin risk ingest --format alertmanager -o json <"$T/am.json"
expect_rc 0 "again from standard input"
expect_out '"outcome": "updated"' "the same alerts are the same events"
run risk show 1 -o json
python3 -c '
import json, sys
e = json.load(open(sys.argv[1]))
assert e["title"] == "p99 above 2s on web1" and e["severity"] == "critical" and e["count"] == 2, e
assert e["first_seen"] == "2026-11-25T10:00:00.123Z", e   # startsAt, in UTC
assert e["message"] == "p99 is 3.1s" and e["fingerprint"] == "alertmanager:c0ffee0123456789", e
assert e["labels"]["instance"] == "web1:9100", e
' "$T/stdout" && ok || fail "event 1: $OUT"
run risk show 2 -o json
expect_out '"title": "DiskFull on db1"' "a title from alertname and instance"
expect_out '"severity": "warning"' "no severity label: warning"

# Resolved by the sender; a resolve of nothing open changes nothing.
sed 's/"status": "firing", "labels": {"alertname": "DiskFull"/"status": "resolved", "labels": {"alertname": "DiskFull"/; s/"startsAt": "2026-11-25T09:30:00Z", "endsAt": "0001-01-01T00:00:00Z"/"startsAt": "2026-11-25T09:30:00Z", "endsAt": "2026-11-25T09:45:00Z"/' \
  "$T/am.json" >"$T/am-resolved.json"
run risk ingest "$T/am-resolved.json" -o json
expect_out '"outcome": "resolved"' "resolved by Alertmanager"
run risk ingest "$T/am-resolved.json" -o json
expect_out '"outcome": "not_open"' "resolving again changes nothing"
run risk show 2 -o json
expect_out '"resolved_at": "2026-11-25T09:45:00.000Z"' "resolved at endsAt"

# PagerDuty Events API v2: trigger, acknowledge, resolve by dedup_key.
run_stdin risk ingest -o json <<<'{"routing_key": "k", "event_action": "trigger", "dedup_key": "mq-stuck",
  "payload": {"summary": "queue stuck on mq1", "source": "mq1", "severity": "error", "component": "rabbitmq",
              "custom_details": {"depth": 120000}}}'
expect_rc 0 "a PagerDuty trigger"
expect_out '"fingerprint": "pagerduty:mq-stuck"' "dedup_key is the fingerprint"
run_stdin risk ingest -o json <<<'{"routing_key": "k", "event_action": "acknowledge", "dedup_key": "mq-stuck"}'
expect_out '"outcome": "acknowledged"' "acknowledged"
run risk show 3 -o json
python3 -c '
import json, sys
e = json.load(open(sys.argv[1]))
assert e["severity"] == "critical" and e["acknowledged_by"] == "pagerduty", e
assert e["labels"] == {"component": "rabbitmq", "source": "mq1"} and "120000" in e["message"], e
' "$T/stdout" && ok || fail "pagerduty event: $OUT"
run_stdin risk ingest -o json <<<'{"routing_key": "k", "event_action": "resolve", "dedup_key": "mq-stuck"}'
expect_out '"outcome": "resolved"' "resolved"

# has's JSON: one event or a list; labels make the fingerprint.
run_stdin risk ingest -o json <<<'[{"title": "backup failed", "severity": "critical", "source": "cron", "labels": {"job": "backup"}},
  {"title": "backup failed again", "severity": "crit", "source": "cron", "labels": {"job": "backup"}}]'
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert [a["outcome"] for a in d["applied"]] == ["opened", "updated"], d
' "$T/stdout" && ok || fail "json events: $OUT"

# A sender's control characters never reach the terminal.
run_stdin risk ingest -o json <<<'{"title": "\u001b[2J\u001b[31mred\nline", "fingerprint": "esc", "message": "a\u0007b"}'
expect_rc 0 "a title with escape sequences is stored"
ESC_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["applied"][0]["event_id"])' "$T/stdout")
for cmd in "risk list -o table" "risk show $ESC_ID -o table" "risk review $ESC_ID -o markdown"; do
  # shellcheck disable=SC2086
  run $cmd
  if printf '%s' "$OUT" | LC_ALL=C grep -q "$(printf '\033')\|$(printf '\007')"; then fail "$cmd printed a control character"; else ok; fi
done
run risk show "$ESC_ID" -o table
expect_out "?[2J?[31mred line" "shown with ? and a space"
run risk show "$ESC_ID" -o json
expect_out '"title": "\u001b[2J\u001b[31mred\nline"' "JSON keeps the title exactly"

# Filters of the list.
run risk list --status all --source pagerduty -o json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert [e["source"] for e in d["events"]] == ["pagerduty"], d' "$T/stdout" &&
  ok || fail "--source: $OUT"
run risk list --status all --source alertmanager --severity critical -o json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert [e["title"] for e in d["events"]] == ["p99 above 2s on web1"], d' "$T/stdout" &&
  ok || fail "--source and --severity: $OUT"
run risk list --status all --level - -n 1 -o json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["events"]) == 1, d' "$T/stdout" && ok || fail "--level - with -n 1: $OUT"
run risk list --status all --level P1 -o json
expect_out '"events": []' "no event has a level here"

# Bad payloads are refused whole, with where and why (exit 65).
count_events() { sqlite3 .has/state.db "SELECT count(*) || '/' || sum(count) FROM events"; }
before=$(count_events)
for bad in '{' '[{"title": "ok"}, {"title": "x", "bogus": 1}]' '{"alerts": [{"status": "pending", "labels": {}}]}' \
  '{"event_action": "resolve"}' '{"event_action": "explode", "dedup_key": "x"}' '{"title": "x", "labels": {"a": [1]}}' \
  '{"title": "x", "at": "yesterday"}' '{"status": "firing"}'; do
  run_stdin risk ingest <<<"$bad"
  expect_rc 65 "refused: $bad"
done
expect_err "needs a fingerprint, a title or labels" "the last reason"
run_stdin risk ingest <<<'{"title": "spoofed", "source": "inspect", "labels": {"rule": "flag"}}'
expect_rc 65 "a JSON event may not pose as an inspection"
expect_err "source 'inspect' is reserved" "says why"
python3 -c 'print("[" * 5000 + "]" * 5000)' >"$T/deep.json"
run risk ingest "$T/deep.json"
expect_rc 65 "deep nesting is refused"
expect_err "nested deeper than 32 levels" "says why"
[ "$(count_events)" = "$before" ] && ok || fail "a refused payload changed events ($before -> $(count_events))"
run_stdin risk ingest --format nagios <<<'{}'
expect_rc 64 "unknown format"
run risk ingest "$T/missing.json"
expect_rc 74 "unreadable file"

# The receiver.
export RISK_TOKEN="t0k-$RANDOM"
"$HAS" risk serve --listen 127.0.0.1:0 --token-env RISK_TOKEN --max-body 64KiB 2>"$T/serve.log" &
pid=$!
for _ in $(seq 50); do grep -q "listening on" "$T/serve.log" && break; sleep 0.1; done
PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$T/serve.log")
[ -n "$PORT" ] && ok || fail "serve did not start: $(cat "$T/serve.log")"
URL="http://127.0.0.1:$PORT"
code() { curl -s -o "$T/body" -w '%{http_code}' "$@"; }
[ "$(code "$URL/healthz")" = 200 ] && ok || fail "healthz"
[ "$(code -X POST "$URL/alertmanager" --data-binary @"$T/am.json")" = 401 ] && ok || fail "no token: 401"
[ "$(code -X POST -H "Authorization: Bearer wrong" "$URL/alertmanager" --data-binary @"$T/am.json")" = 401 ] && ok ||
  fail "wrong token: 401"
AUTH=(-H "Authorization: Bearer $RISK_TOKEN" -H "Content-Type: application/json")
[ "$(code -X POST "${AUTH[@]}" "$URL/alertmanager" --data-binary @"$T/am.json")" = 200 ] && ok || fail "alertmanager: 200"
grep -q '"outcome":"updated"' "$T/body" && ok || fail "the body lists what changed: $(cat "$T/body")"
[ "$(code -X POST "${AUTH[@]}" "$URL/events" -d '{"title": "x", "nope": 1}')" = 400 ] && ok || fail "bad event: 400"
grep -q "unknown field 'nope'" "$T/body" && ok || fail "400 says why: $(cat "$T/body")"
[ "$(code -X POST -H "Content-Type: application/json" "$URL/v2/enqueue" \
  -d "{\"routing_key\": \"$RISK_TOKEN\", \"event_action\": \"trigger\", \"payload\": {\"summary\": \"s\", \"source\": \"h\", \"severity\": \"warning\"}}")" = 202 ] &&
  ok || fail "pagerduty with its routing key: 202"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["status"] == "success" and d["dedup_key"], d' "$T/body" &&
  ok || fail "pagerduty's reply: $(cat "$T/body")"
[ "$(code -X POST "$URL/v2/enqueue" -d '{"routing_key": "nope", "event_action": "trigger", "payload": {"summary": "s"}}')" = 401 ] &&
  ok || fail "pagerduty with a wrong routing key: 401"
[ "$(code "$URL/nowhere")" = 404 ] && ok || fail "404"
[ "$(code "$URL/events")" = 405 ] && ok || fail "GET of an endpoint: 405"
[ "$(code -X POST "${AUTH[@]}" "$URL/events" --data-binary @"$T/deep.json")" = 400 ] && ok || fail "deep nesting: 400"
[ "$(code "$URL/healthz")" = 200 ] && ok || fail "the receiver lives on after deep nesting"
# A second receiver on the same port is refused, not given half the alerts.
run risk serve --listen "127.0.0.1:$PORT"
expect_rc 74 "the port is taken by the first receiver"
head -c 100000 /dev/zero | tr '\0' ' ' >"$T/big"
[ "$(code -X POST "${AUTH[@]}" "$URL/events" --data-binary @"$T/big")" = 413 ] && ok || fail "too large: 413"
# Concurrent senders: every request lands, none is lost.
for i in $(seq 20); do
  curl -s -o /dev/null -X POST "${AUTH[@]}" "$URL/events" -d "{\"title\": \"burst $i\", \"fingerprint\": \"burst-$i\"}" &
done
wait $(jobs -p | grep -v "^$pid$") 2>/dev/null
n=$(sqlite3 .has/state.db "SELECT count(*) FROM events WHERE fingerprint LIKE 'json:json:burst-%'")
[ "$n" = 20 ] && ok || fail "20 concurrent events recorded ($n)"
kill -TERM "$pid"
wait "$pid"
RC=$?
expect_rc 0 "SIGTERM stops the receiver"
grep -q "POST /alertmanager 401 from 127.0.0.1: missing or wrong bearer token" "$T/serve.log" && ok ||
  fail "the log names refusals: $(cat "$T/serve.log")"

# Errors of the receiver itself.
run risk serve --listen 127.0.0.1:0 --token-env NOT_SET_ANYWHERE
expect_rc 64 "token variable not set"
run risk serve --listen nowhere
expect_rc 64 "a listen address without a port"
"$HAS" risk serve --listen :0 2>"$T/serve0.log" &
pid0=$!
for _ in $(seq 50); do grep -q "listening on" "$T/serve0.log" && break; sleep 0.1; done
grep -q "listening on 127.0.0.1:[1-9]" "$T/serve0.log" && ok || fail ":0 listens on loopback: $(cat "$T/serve0.log")"
kill -TERM "$pid0"; wait "$pid0"
python3 -c 'import socket,time,sys; s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(5)' >"$T/busy" &
busy=$!
for _ in $(seq 50); do [ -s "$T/busy" ] && break; sleep 0.1; done
run risk serve --listen "127.0.0.1:$(cat "$T/busy")"
expect_rc 74 "a port in use"
expect_err "cannot listen on 127.0.0.1:" "says so"
kill "$busy" 2>/dev/null
finish
