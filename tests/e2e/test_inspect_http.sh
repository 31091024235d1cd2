#!/usr/bin/env bash
# http probes against a real nginx on loopback: status, body, JSON paths,
# slow responses, TLS with a test CA and the certificate's days left,
# redirects, and the built-in http-health rule.
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/nginx.sh"
trap 'stop_nginx; rm -rf "$T"' EXIT

N="$T/nginx"
mkdir -p "$N/www"
echo '<html><body><h1>Service is UP</h1></body></html>' > "$N/www/index.html"
echo '{"status": "UP", "data": {"ready": true, "queue": 3}}' > "$N/www/health.json"

# A test CA and a server certificate that expires in 20 days.
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=has test CA" \
  -keyout "$N/ca.key" -out "$N/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$N/server.key" -out "$N/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$N/ext.cnf"
openssl x509 -req -in "$N/server.csr" -CA "$N/ca.pem" -CAkey "$N/ca.key" -CAcreateserial \
  -days 20 -extfile "$N/ext.cnf" -out "$N/server.pem" 2>/dev/null
# Whole days left are counted down from the issuing second: let one pass, so
# the certificate has 19 days and some hours left, never exactly 20.
sleep 1.1

HTTP_PORT=$(free_port)
TLS_PORT=$(free_port)
start_nginx "$N" "
  server {
    listen 127.0.0.1:$HTTP_PORT;
    root $N/www;
    location = /health { default_type application/json; try_files /health.json =404; }
    location = /down { return 503 'maintenance'; }
    location = /old { return 302 /; }
    location = /slow { echo_sleep 1.5; echo 'late'; }
  }
  server {
    listen 127.0.0.1:$TLS_PORT ssl;
    ssl_certificate $N/server.pem;
    ssl_certificate_key $N/server.key;
    root $N/www;
  }"

W="$T/ws"
mkdir -p "$W"
echo "inventory: {hosts: [{name: web, address: 127.0.0.1, labels: {role: web}}]}" > "$W/has.yaml"
cat > "$W/rules.yaml" <<YAML
kind: Rule
name: page
targets: {hosts: {role: web}}
probe: {http: {url: "http://\${{ target.address }}:$HTTP_PORT/"}}
expect: [status == 200, 'body:find("UP") ~= nil']
---
kind: Rule
name: json-health
targets: {names: [web]}
probe: {http: {url: "http://127.0.0.1:$HTTP_PORT/health"}}
expect: [status == 200, json.status == "UP", json.data.ready == true, json.data.queue < 10]
warning: {elapsed_ms: "~:1000"}
---
kind: Rule
name: down
labels: {group: down}
probe: {http: {url: "http://127.0.0.1:$HTTP_PORT/down"}}
expect: [status == 200]
---
kind: Rule
name: redirect-kept
probe: {http: {url: "http://127.0.0.1:$HTTP_PORT/old"}}
expect: [status == 302, 'headers.location:find("/") ~= nil']
---
kind: Rule
name: redirect-followed
probe: {http: {url: "http://127.0.0.1:$HTTP_PORT/old", follow_redirects: true}}
expect: [status == 200]
---
kind: Rule
name: tls
probe: {http: {url: "https://localhost:$TLS_PORT/", ca_file: "$N/ca.pem"}}
expect: [status == 200]
warning: {cert_days_left: "30:"}
---
kind: Rule
name: tls-untrusted
labels: {group: untrusted}
probe: {http: {url: "https://localhost:$TLS_PORT/"}}
---
kind: Rule
name: library-health
use: http-health
with: {url: "http://127.0.0.1:$HTTP_PORT/health"}
YAML
cat > "$W/slow.yaml" <<YAML
kind: Rule
name: slow
labels: {group: slow}
probe: {http: {url: "http://127.0.0.1:$HTTP_PORT/slow", timeout: 500ms}}
YAML

cd "$W"
run inspect run page json-health redirect-kept redirect-followed library-health
expect_rc 0 "healthy endpoints"
python3 - "$T/stdout" <<'PY' && ok || fail "values of the http probe"
import json, sys
results = {r["rule"]: r for r in json.load(open(sys.argv[1]))["results"]}
assert all(r["status"] == "ok" for r in results.values()), results
health = results["json-health"]["values"]
assert health["status"] == 200 and health["json"]["data"]["queue"] == 3, health
assert health["elapsed_ms"] >= 0 and "content-type" in health["headers"], health
assert results["page"]["target"] == "web"
PY

run -o table inspect run down
expect_rc 2 "503 fails the expectation"
expect_out "expected status == 200, got status=503" "the failing value is shown"

run -o table inspect run tls
expect_rc 1 "certificate expiring within 30 days warns"
expect_out "cert_days_left 19" "days left shown"

run -o table inspect run tls-untrusted
expect_rc 2 "untrusted certificate is critical"
expect_out "certificate" "TLS error message"

run -o table inspect run slow
expect_rc 2 "slow response times out"
expect_out "timed out" "timeout message"

finish
