#!/usr/bin/env bash
# has validate builds every probe as a run would (bad field values are
# errors at the rule, tree node or wait step), and notes the rules and tree
# nodes whose verdict their probe's default decides (has-definitions(5),
# "Default verdicts"). Nothing runs: the URLs point nowhere.
. "$(dirname "$0")/lib.sh"

# --- Probe field values, checked without running -----------------------------
W="$T/bad"
mkdir -p "$W"
cat >"$W/has.yaml" <<'YAML'
inventory:
  hosts:
    - {name: web1, address: 10.0.0.1, labels: {role: web}}
    - {name: web2, address: 10.0.0.2, labels: {role: web}}
YAML
# name | expect_status as YAML
STATUSES=(
  'reversed|"299-200"'
  'class|"6xx"'
  'fraction|200.5'
  'boolean|true'
  'empty-list|[]'
  'empty|""'
)
for item in "${STATUSES[@]}"; do
  IFS='|' read -r name value <<<"$item"
  cat >>"$W/rules.yaml" <<YAML
kind: Rule
name: status-$name
probe: {http: {url: "http://127.0.0.1:9/", expect_status: $value}}
---
YAML
done
cat >>"$W/rules.yaml" <<'YAML'
kind: Rule
name: chromium
probe: {page: {url: "http://127.0.0.1:9/", engine: chromium}}
---
kind: Rule
name: bad-method
probe: {http: {url: "http://127.0.0.1:9/", method: "GE T"}}
---
# Two targets, one error: reported once, at the rule.
kind: Rule
name: per-target
targets: {hosts: {role: web}}
use: tls-cert-endpoint
with: {url: "ftp://${{ target.address }}/"}
---
# Known only when it runs (a template per target): fine when it is right.
kind: Rule
name: per-target-fine
targets: {hosts: {role: web}}
probe: {http: {url: "http://${{ target.address }}:8080/", expect_status: 200}}
---
# An unset variable is the run's problem, not the definition's.
kind: Rule
name: unset-variable
probe: {http: {url: "${env:HAS_TEST_NO_SUCH_VARIABLE}"}}
YAML
cat >"$W/tree.yaml" <<'YAML'
kind: Tree
name: t
start: look
nodes:
  look:
    probe: {http: {url: "http://127.0.0.1:9/", expect_status: "2xx-3xx"}}
    collect:
      port: {tcp: {port: 70000}}
    branches:
      - {status: ok, next: fine}
      - {else: later}
  later:
    # Its URL is known only during the walk: not checked now.
    probe: {http: {url: "${{ vars.url }}", expect_status: 200}}
    branches:
      - {status: ok, next: fine}
      - {else: fine}
  fine: {diagnosis: {cause: fine, severity: ok}}
YAML
cat >"$W/plan.yaml" <<'YAML'
kind: Plan
name: p
params:
  port: {type: int, default: 80}
steps:
  - id: up
    wait: {probe: {http: {url: "http://127.0.0.1:9/", expect_status: 700}}, interval: 1s}
    timeout: 2s
  - id: typo
    wait: {probe: {htp: {url: "http://127.0.0.1:9/"}}, interval: 1s}
    timeout: 2s
  - id: later
    wait: {probe: {tcp: {port: "${{ params.port }}"}}, interval: 1s}
    timeout: 2s
YAML
cd "$W" || exit 1
run -o table validate
expect_rc 65 "bad probe field values fail validation"
for item in "${STATUSES[@]}"; do
  IFS='|' read -r name _ <<<"$item"
  expect_out "error: rule 'status-$name': http probe: field 'expect_status'" "expect_status $name is an error"
done
expect_out "which is not an HTTP status; write statuses (200), classes (2xx)" "the help of expect_status"
expect_out "error: rule 'chromium': page probe: field 'engine' must be http or browser, not 'chromium'" \
  "a page engine that does not exist"
expect_out "error: rule 'bad-method': http probe: field 'method' must be an HTTP method" "a bad method"
expect_out "error: rule 'per-target': http probe: field 'url' must start with http:// or https://" \
  "a template's probe is built with the rule's values"
[ "$(grep -c "rule 'per-target':" <<<"$OUT")" -eq 1 ] && ok || fail "one error per rule, not per target"
expect_no_out "per-target-fine" "a probe right on every target"
expect_no_out "error: rule 'unset-variable'" "an unset variable is left to run time"
expect_out "tree.yaml:6:13: error: node 'look' of tree 't': http probe: field 'expect_status' has '2xx-3xx'" \
  "a tree node's probe, at the probe"
expect_out "node 'look' of tree 't' (collect port): tcp probe: field 'port' must be between 1 and 65535" \
  "a collect probe"
expect_no_out "node 'later'" "a probe with \${{ }} is checked when it runs"
expect_out "error: step 'up' of Plan 'p': http probe: field 'expect_status' has '700'" "a wait step's probe"
expect_out "error: step 'typo' of Plan 'p': unknown probe kind 'htp'" "a wait step's probe kind"
expect_no_out "step 'later'" "a wait probe with \${{ }} is checked when it runs"
grep -q "rules.yaml:1:1: error: rule 'status-reversed'" <<<"$OUT" && ok || fail "the error is at the rule"
run -o json validate
python3 - "$T/stdout" <<'PY' && ok || fail "the errors in JSON"
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["valid"] is False and doc["errors"] == 13, doc
PY

# --- Notes: which checks rely on their probe's default verdict ---------------
W="$T/notes"
mkdir -p "$W"
echo "{}" >"$W/has.yaml"
cat >"$W/rules.yaml" <<'YAML'
kind: Rule
name: http-thresholds
probe: {http: {url: "http://127.0.0.1:9/"}}
warning: {elapsed_ms: "~:300"}
---
kind: Rule
name: http-listed
probe: {http: {url: "http://127.0.0.1:9/", expect_status: [200, 204]}}
---
kind: Rule
name: http-expect
probe: {http: {url: "http://127.0.0.1:9/"}}
expect: [status == 200]
---
kind: Rule
name: prom-thresholds
probe: {prometheus: {url: "http://127.0.0.1:9/", query: up}}
critical: {value: "1:"}
---
kind: Rule
name: process-thresholds
probe: {system: {process: nginx}}
warning: {count: "2:"}
---
kind: Rule
name: file-thresholds
probe: {system: {file: /etc/hostname}}
warning: {age_seconds: "~:3600"}
---
kind: Rule
name: disk-thresholds
probe: {system: {disk: /}}
warning: {used_percent: "~:80"}
---
kind: Rule
name: disk-bare
probe: {system: {disk: /}}
---
kind: Rule
name: tcp-bare
probe: {tcp: {port: 9}}
---
kind: Rule
name: uses-cert
use: tls-cert-endpoint
with: {url: "https://127.0.0.1:9/"}
---
kind: Rule
name: uses-health
use: http-health
with: {url: "http://127.0.0.1:9/"}
---
kind: Rule
name: uses-disk
use: disk-usage
---
kind: Rule
name: uses-tcp
use: tcp-port
with: {port: 9}
YAML
# node | probe | branch that reads it (or not)
NODES=(
  'status|{http: {url: "http://127.0.0.1:9/"}}|{status: critical, next: end}|yes'
  'equals|{http: {url: "http://127.0.0.1:9/"}}|{equals: critical, next: end}|yes'
  'if-verdict|{http: {url: "http://127.0.0.1:9/"}}|{if: "verdict ~= \"ok\"", next: end}|yes'
  'if-value|{http: {url: "http://127.0.0.1:9/"}}|{if: "value == \"critical\"", next: end}|yes'
  'if-status|{http: {url: "http://127.0.0.1:9/"}}|{if: "status == 503", next: end}|no'
  'listed|{http: {url: "http://127.0.0.1:9/", expect_status: 200}}|{status: critical, next: end}|no'
  'unknown-only|{http: {url: "http://127.0.0.1:9/"}}|{status: unknown, next: end}|no'
  'prom-value|{prometheus: {url: "http://127.0.0.1:9/", query: up}}|{if: "value == 0", next: end}|no'
  'prom-status|{prometheus: {url: "http://127.0.0.1:9/", query: up}}|{status: critical, next: end}|yes'
  'exec-status|{exec: {command: ["true"]}}|{status: critical, next: end}|no'
)
{
  echo "kind: Tree"
  echo "name: nodes"
  echo "start: status"
  echo "nodes:"
  # Each node's else leads to the next, so every node is reachable.
  for i in "${!NODES[@]}"; do
    IFS='|' read -r name probe branch _ <<<"${NODES[$i]}"
    IFS='|' read -r next _ <<<"${NODES[$((i + 1))]:-end}"
    echo "  $name:"
    echo "    probe: $probe"
    echo "    branches: [$branch, {else: $next}]"
  done
  echo "  end: {diagnosis: {cause: done, severity: ok}}"
} >"$W/tree.yaml"
cd "$W" || exit 1
run -o table validate
expect_rc 0 "notes are not errors"
expect_out "note: rule 'http-thresholds' has no expect or expect_status: the http probe's default verdict decides" \
  "thresholds do not judge an HTTP status"
expect_out "to judge it yourself, write expect or expect_status in the probe" "what an http rule can write"
expect_out "note: rule 'prom-thresholds' has no expect: the prometheus probe's default verdict decides" \
  "thresholds do not judge a missing sample"
expect_out "note: rule 'process-thresholds' has no expect:" "a missing process stays critical"
expect_out "note: rule 'file-thresholds' has no expect:" "a missing file stays critical"
expect_out "note: rule 'disk-bare' has no expect or thresholds:" "a disk without thresholds"
expect_out "to judge it yourself, write expect or warning/critical thresholds" "what a system rule can write"
for quiet in http-listed http-expect disk-thresholds tcp-bare uses-cert uses-health uses-disk uses-tcp; do
  expect_no_out "rule '$quiet'" "$quiet judges by itself or by its status"
done
for item in "${NODES[@]}"; do
  IFS='|' read -r name _ _ noted <<<"$item"
  if [ "$noted" = yes ]; then
    expect_out "note: node '$name' of tree 'nodes' branches on the verdict of its" "node $name reads the verdict"
  else
    expect_no_out "node '$name' of" "node $name does not rely on the default"
  fi
done
expect_out "to branch on what it saw, give the probe expect_status or branch with if: on its values" \
  "what an http node can write"
expect_out "node 'prom-status' of tree 'nodes' branches on the verdict of its prometheus probe, which the probe's default verdict decides (at least one sample ok; no sample critical); to branch on what it saw, branch with if: on its values" \
  "what a prometheus node can write"

run -o table validate --strict
expect_rc 65 "--strict makes the notes errors"
expect_out "error: rule 'http-thresholds' has no expect or expect_status" "a rule under --strict"
expect_out "(an error under --strict)" "the error says why"
expect_no_out "note:" "no notes are left under --strict"
finish
