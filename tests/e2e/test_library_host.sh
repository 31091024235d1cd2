#!/usr/bin/env bash
# The host rules of the shipped library (plugins/rules/host.yaml) on this
# machine: every one passes with generous thresholds and reads real values;
# thresholds that must trip do; clock-skew reads the Date header of a real
# nginx on loopback (offset near 0) and of a server whose clock is a day off.
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/nginx.sh"

for program in nginx curl python3; do
  if ! command -v "$program" >/dev/null; then
    skip "$program is not installed (apt-get install nginx-light curl python3)"
  fi
done

SKEWED_PID=
stop_all() {
  stop_nginx
  [ -n "$SKEWED_PID" ] && kill "$SKEWED_PID" 2>/dev/null && wait "$SKEWED_PID" 2>/dev/null
  rm -rf "$T"
}
trap stop_all EXIT

N="$T/nginx"
mkdir -p "$N/www"
echo ok > "$N/www/index.html"
HTTP_PORT=$(free_port)
start_nginx "$N" "
  server {
    listen 127.0.0.1:$HTTP_PORT;
    root $N/www;
  }"

# A reference server whose clock is a day behind: its Date is fixed at
# yesterday's date and time.
SKEWED_PORT=$(free_port)
python3 - "$SKEWED_PORT" <<'PY' 2>"$T/skewed.log" &
import email.utils, http.server, sys, time
class Handler(http.server.BaseHTTPRequestHandler):
    def date_time_string(self, timestamp=None):
        return email.utils.formatdate(time.time() - 86400, usegmt=True)
    def do_HEAD(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    do_GET = do_HEAD
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
PY
SKEWED_PID=$!
for _ in $(seq 50); do
  curl -sfI "http://127.0.0.1:$SKEWED_PORT/" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sfI "http://127.0.0.1:$SKEWED_PORT/" >/dev/null || { echo "FAIL: the skewed server did not start"; cat "$T/skewed.log"; exit 1; }

W="$T/ws"
mkdir -p "$W"
echo "defaults: {timeout: 15s}" > "$W/has.yaml"
cat > "$W/host.yaml" <<YAML
kind: Rule
name: disk
use: disk-usage
with: {path: /, warn: 100, crit: 100}
---
kind: Rule
name: inodes
use: disk-inodes
with: {path: "$T", warn: 100, crit: 100}
---
kind: Rule
name: memory
use: memory-usage
with: {warn: 100, crit: 100}
---
kind: Rule
name: swap
use: swap-usage
with: {warn: 100, crit: 100}
---
kind: Rule
name: load
use: load-per-cpu
with: {warn: 1000, crit: 1000}
---
kind: Rule
name: zombies
use: zombie-processes
with: {warn: 100000, crit: 100000}
---
kind: Rule
name: fds
use: file-descriptors
with: {warn: 100, crit: 100}
---
kind: Rule
name: clock
use: clock-skew
with: {url: "http://127.0.0.1:$HTTP_PORT/"}
YAML
cat > "$W/trip.yaml" <<YAML
kind: Rule
name: disk-trips
labels: {group: trip}
use: disk-usage
with: {warn: 0}
---
kind: Rule
name: disk-crit
labels: {group: trip}
use: disk-usage
with: {warn: 0, crit: 0}
---
kind: Rule
name: clock-skewed
labels: {group: trip}
use: clock-skew
with: {url: "http://127.0.0.1:$SKEWED_PORT/"}
---
kind: Rule
name: clock-skewed-allowed
labels: {group: trip}
use: clock-skew
with: {url: "http://127.0.0.1:$SKEWED_PORT/", warn: 90000, crit: 90000}
---
kind: Rule
name: clock-unreachable
labels: {group: trip}
use: clock-skew
with: {url: "http://127.0.0.1:$(free_port)/"}
YAML

run -C "$W" validate
expect_rc 0 "the workspace using every host rule validates"

run -C "$W" -o json inspect run disk inodes memory swap load zombies fds clock
expect_rc 0 "every host rule passes with generous thresholds"
python3 - "$T/stdout" <<'PY' && ok || fail "values of the host rules"
import json, sys
results = {r["rule"]: r for r in json.load(open(sys.argv[1]))["results"]}
assert sorted(results) == sorted("disk inodes memory swap load zombies fds clock".split()), results.keys()
for name, r in results.items():
    assert r["status"] == "ok" and r["target"] == "local", (name, r)
v = {name: r["values"] for name, r in results.items()}
assert 0 < v["disk"]["used_percent"] <= 100 and v["disk"]["total_bytes"] > 0, v["disk"]
assert v["inodes"]["inodes_total"] == 0 or 0 < v["inodes"]["inodes_used_percent"] <= 100, v["inodes"]
assert 0 < v["memory"]["used_percent"] < 100 and v["memory"]["total_bytes"] > 0, v["memory"]
swap = v["swap"]
# A machine without swap reads 0 of 0 and passes.
assert swap["swap_total_bytes"] > 0 or swap["swap_used_percent"] == 0, swap
assert v["load"]["cpus"] >= 1 and v["load"]["load5_per_cpu"] >= 0, v["load"]
assert v["zombies"]["count"] >= 0, v["zombies"]
assert v["fds"]["max"] > 0 and v["fds"]["allocated"] > 0, v["fds"]
# The Date header has whole seconds.
assert abs(v["clock"]["offset"]) <= 2, v["clock"]
assert v["clock"]["exit_code"] == 0 and "offset" in v["clock"]["stdout"], v["clock"]
PY

run -C "$W" -o table inspect run disk-trips
expect_rc 1 "disk-usage with warn 0 warns"
expect_out "used_percent" "the message names the value"
expect_out "warning range ~:0" "the message names the range"

run -C "$W" -o table inspect run disk-crit
expect_rc 2 "disk-usage with crit 0 is critical"

run -C "$W" -o json inspect run clock-skewed
expect_rc 2 "a clock a day off is critical"
python3 - "$T/stdout" <<'PY' && ok || fail "the offset of a clock a day off"
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
assert abs(r["values"]["offset"] + 86400) <= 2, r
assert "offset" in r["message"] and "critical range -60:60" in r["message"], r
PY

run -C "$W" -o table inspect run clock-skewed-allowed
expect_rc 0 "a day off is within thresholds of 90000 s"

run -C "$W" -o table inspect run clock-unreachable
expect_rc 3 "an unreachable reference server is unknown"
expect_out "cannot reach" "the reason"

finish
