# End-to-end: the prometheus probe against a real Prometheus on 127.0.0.1 (a
# free port, a temporary TSDB) that scrapes itself. Stops it on exit.
source "$(dirname "$0")/../cli/lib.sh"

if ! command -v prometheus >/dev/null 2>&1; then
  skip "prometheus is not installed (Debian package prometheus)"
fi

PROM=$(mktemp -d /tmp/has-e2e-prom-XXXXXX)
prom_pid=""
stop_prometheus() {
  if [ -n "$prom_pid" ]; then
    kill "$prom_pid" 2>/dev/null
    wait "$prom_pid" 2>/dev/null
  fi
}
trap 'stop_prometheus; rm -rf "$PROM" "$T"' EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$PROM/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:$port"]
EOF
prometheus --config.file="$PROM/prometheus.yml" --storage.tsdb.path="$PROM/data" \
  --web.listen-address="127.0.0.1:$port" --log.level=warn >"$PROM/log" 2>&1 &
prom_pid=$!

# Wait (at most 60 s) until the first scrape has stored a sample of `up`.
if ! python3 - "$port" <<'EOF'; then
import json, sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/api/v1/query?query=up"
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            if json.load(response)["data"]["result"]:
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.25)
sys.exit(1)
EOF
  echo "FAIL: Prometheus had no sample of up within 60 s"
  cat "$PROM/log"
  exit 1
fi

closed_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export HAS_E2E_PROM="http://127.0.0.1:$port"
export HAS_E2E_PROM_DOWN="http://127.0.0.1:$closed_port"

WS="$T/ws"
mkdir -p "$WS/rules"
printf 'state: .has/state.db\ndefaults:\n  timeout: 10s\n' >"$WS/has.yaml"
cat >"$WS/rules/prometheus.yaml" <<'EOF'
kind: Rule
name: prom-up
probe:
  prometheus: {url: "${env:HAS_E2E_PROM}", query: up}
expect: [value == 1]
---
kind: Rule
name: prom-scalar
probe:
  prometheus: {url: "${env:HAS_E2E_PROM}/", query: 'scalar(up{job="prometheus"}) * 2'}
expect: [value == 2]
---
kind: Rule
name: prom-empty
probe:
  prometheus: {url: "${env:HAS_E2E_PROM}", query: 'up{job="no-such-job"}'}
expect: [samples == 0]
---
kind: Rule
name: prom-nan
probe:
  prometheus: {url: "${env:HAS_E2E_PROM}", query: 0 / 0}
---
kind: Rule
name: prom-inf
probe:
  prometheus: {url: "${env:HAS_E2E_PROM}", query: 1 / 0}
expect: [value > 1e300]
---
kind: Rule
name: prom-missing-series
probe:
  prometheus: {url: "${env:HAS_E2E_PROM}", query: 'up{job="no-such-job"}'}
expect: [samples > 0]
---
kind: Rule
name: prom-bad-query
probe:
  prometheus: {url: "${env:HAS_E2E_PROM}", query: "rate(up[5m]"}
---
kind: Rule
name: prom-down
probe:
  prometheus: {url: "${env:HAS_E2E_PROM_DOWN}", query: up, timeout: 2s}
---
kind: Rule
name: prom-up-bare
probe:
  prometheus: {url: "${env:HAS_E2E_PROM}", query: up}
---
kind: Rule
name: prom-empty-bare
probe:
  prometheus: {url: "${env:HAS_E2E_PROM}", query: 'up{job="no-such-job"}'}
---
kind: Tree
name: metric-gone
start: look
nodes:
  look:
    probe: {prometheus: {url: "${env:HAS_E2E_PROM}", query: 'up{job="no-such-job"}'}}
    branches: [{status: ok, next: exporting}, {else: gone}]
  exporting: {diagnosis: {cause: the target exports its metrics, severity: ok}}
  gone: {diagnosis: {cause: the metric is gone, severity: critical}}
---
kind: Plan
name: wait-empty
steps:
  - id: wait
    timeout: 1500ms
    wait: {probe: {prometheus: {url: "${env:HAS_E2E_PROM}", query: 'up{job="no-such-job"}'}}, interval: 300ms}
---
kind: Plan
name: wait-empty-expected
steps:
  - id: wait
    timeout: 1500ms
    wait:
      probe: {prometheus: {url: "${env:HAS_E2E_PROM}", query: 'up{job="no-such-job"}'}}
      expect: [samples == 0]
      interval: 300ms
---
kind: Plan
name: wait-up
steps:
  - id: wait
    timeout: 5s
    wait: {probe: {prometheus: {url: "${env:HAS_E2E_PROM}", query: up}}, interval: 300ms}
EOF

check() {
  if python3 -c '
import json, sys
doc = json.loads(sys.stdin.read())
results = {x["rule"]: x for x in doc["results"]}
def r(name): return results[name]
def v(name): return results[name]["values"]
sys.exit(0 if eval(sys.argv[1]) else 1)
' "$2" <<<"$OUT"; then ok; else fail "$1: $2"; fi
}

run -C "$WS" validate
expect_rc 0 "the workspace validates"

run -C "$WS" -o json inspect run prom-up prom-scalar prom-empty prom-nan prom-inf
expect_rc 0 "queries of a healthy Prometheus pass"
check "up is 1" 'r("prom-up")["status"] == "ok" and v("prom-up")["value"] == 1 and v("prom-up")["samples"] == 1'
check "the series and its labels" \
  'v("prom-up")["result_type"] == "vector" and v("prom-up")["metric"]["job"] == "prometheus" and v("prom-up")["series"][0]["metric"]["instance"] == "127.0.0.1:'"$port"'"'
check "the message" 'r("prom-up")["message"].startswith("value = 1 (vector, 1 sample) in ")'
check "a scalar" 'v("prom-scalar")["result_type"] == "scalar" and v("prom-scalar")["value"] == 2'
check "no samples is ok" \
  'r("prom-empty")["status"] == "ok" and v("prom-empty")["value"] is None and r("prom-empty")["message"].startswith("no samples")'
check "NaN is null" 'v("prom-nan")["value"] is None and v("prom-nan")["value_text"] == "NaN"'
check "+Inf compares as infinite" 'r("prom-inf")["status"] == "ok" and v("prom-inf")["value_text"] == "+Inf"'

# Without expect, the default verdict: a sample is ok, none is critical, the
# same in a tree node and a wait step (has-definitions(5)).
run -C "$WS" -o json inspect run prom-up-bare prom-empty-bare
expect_rc 2 "a bare query without samples is critical"
check "a bare query with a sample is ok" 'r("prom-up-bare")["status"] == "ok"'
check "a bare query without samples is critical" \
  'r("prom-empty-bare")["status"] == "critical" and r("prom-empty-bare")["message"] == "default: prometheus query returned no sample -> critical"'
run -C "$WS" -o json diagnose run metric-gone
expect_out '"node": "gone"' "the tree's ok branch is not taken without samples"
run -C "$WS" plan run wait-empty
expect_rc 1 "a wait for a query without samples does not pass"
run -C "$WS" plan run wait-empty-expected
expect_rc 0 "a wait whose expectation wants no samples passes"
run -C "$WS" plan run wait-up
expect_rc 0 "a wait for a query with a sample passes"

run -C "$WS" -o json inspect run prom-missing-series
expect_rc 2 "an expectation on an empty result fails"
check "missing series is critical" 'r("prom-missing-series")["status"] == "critical"'

run -C "$WS" -o json inspect run prom-bad-query
expect_rc 3 "a query Prometheus rejects is unknown"
check "Prometheus' error" \
  'r("prom-bad-query")["status"] == "unknown" and r("prom-bad-query")["message"].startswith("Prometheus: bad_data: ") and "parse error" in r("prom-bad-query")["message"]'
check "errorType kept" 'v("prom-bad-query")["error_type"] == "bad_data" and v("prom-bad-query")["http_status"] == 400'

run -C "$WS" -o json inspect run prom-down
expect_rc 2 "an unreachable Prometheus is critical"
check "transport failure" 'r("prom-down")["status"] == "critical" and "onnect" in r("prom-down")["message"]'

finish
