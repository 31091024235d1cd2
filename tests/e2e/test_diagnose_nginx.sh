#!/usr/bin/env bash
# has diagnose against a real nginx on loopback: a tree over http and tcp
# probes diagnoses it up, answering 503, and stopped; the path of a past
# walk drawn with Graphviz.
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/nginx.sh"
trap 'stop_nginx; rm -rf "$T"' EXIT

N="$T/nginx"
mkdir -p "$N/www"
echo '{"status": "UP", "active": 3, "max": 100}' > "$N/www/health.json"
PORT=$(free_port)
start_nginx "$N" "
  server {
    listen 127.0.0.1:$PORT;
    root $N/www;
    location = /health { default_type application/json; try_files /health.json =404; }
    location = /maintenance { return 503 'maintenance'; }
  }"

W="$T/ws"
mkdir -p "$W"
echo 'state: .has/state.db' > "$W/has.yaml"
cat >"$W/tree.yaml" <<YAML
kind: Tree
name: web
start: health
nodes:
  health:
    probe: {http: {url: "http://127.0.0.1:$PORT\${{ get(vars, 'path', '/health') }}", timeout: 2s}}
    branches:
      # A 503 is critical by default: the maintenance page is told apart first.
      - {if: "status == 503", next: maintenance}
      - {status: critical, next: port}
      - {if: "status == 200 and json.active < 0.9 * json.max", next: fine}
      - {else: port}
  port:
    probe: {tcp: {host: 127.0.0.1, port: $PORT, timeout: 2s}}
    branches: [{status: ok, next: app}, {else: down}]
  fine:
    diagnosis: {cause: nginx is up, severity: ok, explanation: "\${{ nodes.health.values.json.active }} connections"}
  maintenance:
    diagnosis: {cause: maintenance page, severity: warning}
  app:
    diagnosis: {cause: the application answers badly, severity: critical}
  down:
    diagnosis: {cause: nginx is down, severity: critical, confidence: 0.9}
YAML
cd "$W" || exit 1

run diagnose run web -o json
expect_rc 0 "nginx up"
expect_out '"cause": "nginx is up"' "up diagnosis"
expect_out '"explanation": "3 connections"' "values from the real response"

run diagnose run web -v path=/maintenance -o json
expect_rc 1 "maintenance page"
expect_out '"cause": "maintenance page"' "503 diagnosis"

run diagnose run web -v path=/missing -o json
expect_rc 2 "404 with the port open"
expect_out '"cause": "the application answers badly"' "404 diagnosis"

stop_nginx
run diagnose run web -o json
expect_rc 2 "nginx stopped"
expect_out '"cause": "nginx is down"' "down diagnosis"
python3 - "$T/stdout" <<'PY' || fail "path through the tcp probe"
import json, sys
doc = json.load(open(sys.argv[1]))
assert [s["node"] for s in doc["path"]] == ["health", "port"], doc["path"]
assert doc["path"][0]["branch"] == "status critical", doc["path"][0]
assert doc["path"][1]["evidence"]["status"] == "critical", doc["path"][1]
PY

last=$(sqlite3 .has/state.db "SELECT max(run_id) FROM diagnose_runs")
run diagnose graph web -o dot --run "$last"
expect_rc 0 "dot graph of the last walk"
expect_out '"health" -> "port" [label="status critical", color="#1f4fd6", penwidth=3];' "the path is highlighted"
expect_out '"health" -> "port" [label="else"];' "only the branch taken"
expect_out '"down" [label="down\nnginx is down\ncritical, 90%", shape=ellipse, fillcolor="#f4a3a3", color="#1f4fd6", penwidth=3];' "the leaf reached is red and highlighted"
if command -v dot >/dev/null; then
  dot -Tsvg "$T/stdout" >"$T/web.svg" && grep -q "<svg" "$T/web.svg" && ok || fail "dot -Tsvg"
  run diagnose graph web -o mermaid
  expect_rc 0 "mermaid graph"
else
  echo "graphviz is not installed (apt-get install graphviz): dot -Tsvg not checked" >&2
fi

finish
