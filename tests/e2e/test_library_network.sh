#!/usr/bin/env bash
# The network and TLS rules of the shipped library (plugins/rules/network.yaml
# and tls.yaml) against real endpoints on loopback: tcp-port on an open and a
# closed port, dns-resolves for localhost, http-health on nginx, and the
# certificate rules on an nginx serving a test CA's certificate that expires
# in 20 days (also where it answers 404 and 503: any status will do for
# tls-cert-endpoint), and on that certificate's file.
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/nginx.sh"
trap 'stop_nginx; rm -rf "$T"' EXIT

for program in nginx openssl python3; do
  if ! command -v "$program" >/dev/null; then
    skip "$program is not installed (apt-get install nginx-light openssl python3)"
  fi
done

N="$T/nginx"
mkdir -p "$N/www"
echo '<html><body>UP</body></html>' > "$N/www/index.html"

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
[ -s "$N/server.pem" ] || { echo "FAIL: openssl did not make the test certificate"; exit 1; }

HTTP_PORT=$(free_port)
TLS_PORT=$(free_port)
CLOSED_PORT=$(free_port)
start_nginx "$N" "
  server {
    listen 127.0.0.1:$HTTP_PORT;
    root $N/www;
    location = /down { return 503 'maintenance'; }
  }
  server {
    listen 127.0.0.1:$TLS_PORT ssl;
    ssl_certificate $N/server.pem;
    ssl_certificate_key $N/server.key;
    root $N/www;
    location = /missing { return 404 'no such page'; }
    location = /down { return 503 'maintenance'; }
  }"

W="$T/ws"
mkdir -p "$W"
echo "inventory: {hosts: [{name: web, address: 127.0.0.1}]}" > "$W/has.yaml"
cat > "$W/rules.yaml" <<YAML
kind: Rule
name: port-open
targets: {names: [web]}
use: tcp-port
with: {port: $HTTP_PORT}
---
kind: Rule
name: port-closed
use: tcp-port
with: {port: $CLOSED_PORT, host: 127.0.0.1}
---
kind: Rule
name: dns-localhost
use: dns-resolves
with: {name: localhost, expect: [127.0.0.1]}
---
kind: Rule
name: dns-any
use: dns-resolves
with: {name: localhost}
---
kind: Rule
name: dns-wrong
use: dns-resolves
with: {name: localhost, expect: [127.0.0.2]}
---
kind: Rule
name: dns-no-server
use: dns-resolves
with: {name: localhost, server: "127.0.0.1:$CLOSED_PORT"}
---
kind: Rule
name: health
use: http-health
with: {url: "http://127.0.0.1:$HTTP_PORT/"}
---
kind: Rule
name: health-down
use: http-health
with: {url: "http://127.0.0.1:$HTTP_PORT/down"}
---
kind: Rule
name: cert-endpoint-30
use: tls-cert-endpoint
with: {url: "https://localhost:$TLS_PORT/", ca_file: "$N/ca.pem", warn_days: 30}
---
kind: Rule
name: cert-endpoint-10
use: tls-cert-endpoint
with: {url: "https://localhost:$TLS_PORT/", ca_file: "$N/ca.pem", warn_days: 10, crit_days: 5}
---
kind: Rule
name: cert-endpoint-crit
use: tls-cert-endpoint
with: {url: "https://localhost:$TLS_PORT/", ca_file: "$N/ca.pem", crit_days: 25}
---
kind: Rule
name: cert-endpoint-404
use: tls-cert-endpoint
with: {url: "https://localhost:$TLS_PORT/missing", ca_file: "$N/ca.pem", warn_days: 10, crit_days: 5}
---
kind: Rule
name: cert-endpoint-503
use: tls-cert-endpoint
with: {url: "https://localhost:$TLS_PORT/down", ca_file: "$N/ca.pem", warn_days: 10, crit_days: 5}
---
kind: Rule
name: cert-endpoint-untrusted
use: tls-cert-endpoint
with: {url: "https://localhost:$TLS_PORT/"}
---
kind: Rule
name: cert-file-30
use: tls-cert-file
with: {path: "$N/server.pem"}
---
kind: Rule
name: cert-file-10
use: tls-cert-file
with: {path: "$N/server.pem", warn_days: 10, crit_days: 5}
---
kind: Rule
name: cert-file-missing
use: tls-cert-file
with: {path: "$N/no-such.pem"}
YAML

run -C "$W" validate
expect_rc 0 "the workspace validates"

run -C "$W" -o json inspect run port-open dns-localhost dns-any health cert-endpoint-10 cert-file-10
expect_rc 0 "open port, localhost, healthy endpoint, certificates with 10 days' warning"
python3 - "$T/stdout" "$N" <<'PY' && ok || fail "values of the network and TLS rules"
import json, sys
results = {r["rule"]: r for r in json.load(open(sys.argv[1]))["results"]}
assert all(r["status"] == "ok" for r in results.values()), results
assert results["port-open"]["target"] == "web" and results["port-open"]["values"]["connected"] is True
assert results["dns-localhost"]["values"]["addresses"] == ["127.0.0.1"], results["dns-localhost"]
assert results["dns-any"]["values"]["count"] >= 1, results["dns-any"]
assert results["health"]["values"]["status"] == 200
assert results["cert-endpoint-10"]["values"]["cert_days_left"] == 19, results["cert-endpoint-10"]
cert = results["cert-file-10"]["values"]
assert cert["days_left"] == 19 and cert["path"] == sys.argv[2] + "/server.pem", cert
assert "CN=localhost" in cert["subject"] and "has test CA" in cert["issuer"], cert
PY

run -C "$W" -o table inspect run port-closed
expect_rc 2 "a closed port is critical"
expect_out "connection refused" "the reason"

run -C "$W" -o table inspect run dns-wrong
expect_rc 2 "localhost does not resolve to 127.0.0.2"
expect_out "does not resolve to 127.0.0.2" "the missing address"

run -C "$W" -o table inspect run dns-no-server
expect_rc 2 "asking a DNS server that is not there is critical"
expect_out "no DNS server at 127.0.0.1:$CLOSED_PORT" "the server that did not answer"

run -C "$W" -o table inspect run health-down
expect_rc 2 "503 fails http-health"
expect_out "status=503" "the failing status"

run -C "$W" -o table inspect run cert-endpoint-30
expect_rc 1 "19 days left warns with warn_days 30"
expect_out "cert_days_left 19 is outside the warning range 30:" "days left and the range"

run -C "$W" -o table inspect run cert-endpoint-crit
expect_rc 2 "19 days left is critical with crit_days 25"
expect_out "critical range 25:" "the critical range"

# The certificate is checked, not the page: a 404 or a 503 from an endpoint
# whose certificate is fine is ok.
run -C "$W" -o json inspect run cert-endpoint-404 cert-endpoint-503
expect_rc 0 "a good certificate is ok whatever status the endpoint answers"
python3 - "$T/stdout" <<'PY' && ok || fail "tls-cert-endpoint on a 404 and a 503"
import json, sys
results = {r["rule"]: r for r in json.load(open(sys.argv[1]))["results"]}
for name, status in (("cert-endpoint-404", 404), ("cert-endpoint-503", 503)):
    r = results[name]
    assert r["status"] == "ok", r
    assert r["values"]["status"] == status and r["values"]["cert_days_left"] == 19, r
PY
run -C "$W" -o table validate --strict
expect_rc 0 "the library's certificate rule judges by itself: no note, nothing for --strict"

run -C "$W" -o table inspect run cert-endpoint-untrusted
expect_rc 2 "a certificate from an unknown CA is critical"
expect_out "certificate" "the TLS error"

run -C "$W" -o table inspect run cert-file-30
expect_rc 1 "the certificate file warns with warn_days 30"
expect_out "days_left 19 is outside the warning range 30:" "days left and the range"

run -C "$W" -o table inspect run cert-file-missing
expect_rc 3 "a missing certificate file is unknown"
expect_out "does not exist" "the reason"

finish
