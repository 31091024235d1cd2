#!/usr/bin/env bash
# The service rules of the shipped library (plugins/rules/services.yaml):
# redis-alive against a real redis-server on loopback, before and after it
# stops, and nginx-alive against a real nginx's stub_status page.
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/nginx.sh"

for program in nginx redis-server redis-cli python3; do
  if ! command -v "$program" >/dev/null; then
    skip "$program is not installed (apt-get install nginx-light redis-server python3)"
  fi
done

REDIS_PID=
stop_redis() {
  if [ -n "$REDIS_PID" ]; then
    kill "$REDIS_PID" 2>/dev/null
    # Bounded: redis-server exits on SIGTERM within a second without saving.
    for _ in $(seq 50); do
      kill -0 "$REDIS_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$REDIS_PID" 2>/dev/null
    wait "$REDIS_PID" 2>/dev/null
    REDIS_PID=
  fi
}
trap 'stop_redis; stop_nginx; rm -rf "$T"' EXIT

REDIS_PORT=$(free_port)
mkdir -p "$T/redis"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
  --dir "$T/redis" --logfile "$T/redis/redis.log" &
REDIS_PID=$!
for _ in $(seq 50); do
  [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && break
  sleep 0.1
done
[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] ||
  { echo "FAIL: redis-server did not start"; cat "$T/redis/redis.log"; exit 1; }

N="$T/nginx"
mkdir -p "$N/www"
echo '<html><body>UP</body></html>' > "$N/www/index.html"
HTTP_PORT=$(free_port)
start_nginx "$N" "
  server {
    listen 127.0.0.1:$HTTP_PORT;
    root $N/www;
    location = /nginx_status { stub_status; allow 127.0.0.1; deny all; }
  }"

W="$T/ws"
mkdir -p "$W"
echo "defaults: {timeout: 10s}" > "$W/has.yaml"
cat > "$W/rules.yaml" <<YAML
kind: Rule
name: redis
use: redis-alive
with: {port: $REDIS_PORT}
---
kind: Rule
name: not-redis
use: redis-alive
with: {host: 127.0.0.1, port: $HTTP_PORT}
---
kind: Rule
name: nginx
use: nginx-alive
with: {url: "http://127.0.0.1:$HTTP_PORT/nginx_status"}
---
kind: Rule
name: nginx-no-status
use: nginx-alive
with: {url: "http://127.0.0.1:$HTTP_PORT/"}
YAML

run -C "$W" validate
expect_rc 0 "the workspace validates"

run -C "$W" -o json inspect run redis nginx
expect_rc 0 "redis and nginx are alive"
python3 - "$T/stdout" <<'PY' && ok || fail "values of redis-alive and nginx-alive"
import json, sys
results = {r["rule"]: r for r in json.load(open(sys.argv[1]))["results"]}
assert all(r["status"] == "ok" for r in results.values()), results
assert results["redis"]["values"]["banner"].startswith("+PONG"), results["redis"]
import re
assert re.search(r"Active connections: \d+", results["nginx"]["values"]["body"]), results["nginx"]
PY

run -C "$W" -o table inspect run not-redis
expect_rc 2 "a server that is not redis is critical"
expect_out "'+PONG' not found in the reply" "the reason"

run -C "$W" -o table inspect run nginx-no-status
expect_rc 2 "a page that is not stub_status fails nginx-alive"
expect_out "Active connections" "the failing expectation"

stop_redis
run -C "$W" -o table inspect run redis
expect_rc 2 "a stopped redis is critical"
expect_out "connection refused" "the reason"

finish
