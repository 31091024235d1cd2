#!/usr/bin/env bash
# has diagnose: trees over real exec probes, questions answered by flag,
# probe errors, timeouts, the stored runs, history, show, list and graphs.
. "$(dirname "$0")/lib.sh"

W="$T/ws"
mkdir -p "$W/trees"
cat >"$W/has.yaml" <<'YAML'
state: .has/state.db
YAML
cd "$W" || exit 1

cat >"$W/trees/web.yaml" <<'YAML'
kind: Plan
name: restart-web
params: {host: {type: string}}
steps:
  - id: go
    exec: {command: ["true"]}
---
kind: Rule
name: always-ok
probe: {exec: {command: ["true"]}}
---
kind: Tree
name: web
description: why the web tier is slow or down
start: health
tests:
  - name: overloaded
    nodes:
      health: {status: ok, values: {exit_code: 0}}
      load: {status: ok, values: {json: {active: 95, max: 100}}}
    expect: overloaded
  - name: bad deploy
    nodes: {health: {status: critical}}
    answers: {deploy: "yes"}
    expect: bad-deploy
  - name: probe error
    nodes: {health: {status: unknown}}
    expect: broken
nodes:
  health:
    probe: {exec: {command: [sh, -c, 'exit "$1"', sh, "${{ get(vars, 'health', '0') }}"]}}
    branches:
      - {status: critical, next: deploy}
      - {status: unknown, next: broken}
      - {else: load}
  load:
    probe: {exec: {command: [sh, -c, 'echo "{\"active\": $1, \"max\": 100}"', sh, "${{ get(vars, 'active', '10') }}"]}}
    collect: {uptime: {exec: {command: [uptime]}}}
    branches:
      - {if: "json.active > 0.9 * json.max", next: overloaded}
      - {else: rule}
  rule:
    use: always-ok
    branches: [{status: ok, next: fine}, {else: unsure}]
  deploy:
    ask: {question: "Was there a deploy in the last hour?", choices: ["yes", "no"]}
    branches:
      - {equals: "yes", next: bad-deploy}
      - {equals: "no", next: down}
  overloaded:
    diagnosis:
      cause: too many connections
      severity: warning
      confidence: 0.8
      explanation: "${{ nodes.load.values.json.active }} of ${{ nodes.load.values.json.max }} connections in use"
      plans: [{name: restart-web, params: {host: "${{ get(vars, 'host', 'web1') }}"}}]
  bad-deploy:
    diagnosis: {cause: a bad deploy, severity: critical, confidence: 0.7, explanation: roll it back}
  down:
    diagnosis: {cause: the web server is down, severity: critical}
  broken:
    diagnosis: {cause: the health check itself is broken, severity: unknown}
  fine:
    diagnosis: {cause: nothing wrong, severity: ok}
  unsure:
    diagnosis: {cause: unclear, severity: unknown}
---
kind: Tree
name: strict
start: check
timeout: 1s
nodes:
  check:
    probe: {exec: {command: [sh, -c, 'exit 3']}}
    branches: [{status: critical, next: down}, {else: down}]
  down:
    diagnosis: {cause: down, severity: critical}
---
kind: Tree
name: slow
start: wait
nodes:
  wait:
    probe: {exec: {command: [sleep, "5"]}}
    timeout: 3s
    branches: [{status: ok, next: fine}, {else: timed-out}]
  timed-out:
    diagnosis: {cause: the check timed out, severity: unknown}
  fine:
    diagnosis: {cause: fine, severity: ok}
---
kind: Tree
name: node-timeout
start: wait
nodes:
  wait:
    probe: {exec: {command: [sleep, "5"]}}
    timeout: 500ms
    branches: [{status: ok, next: fine}, {else: timed-out}]
  timed-out:
    diagnosis: {cause: the check timed out, severity: unknown}
  fine:
    diagnosis: {cause: fine, severity: ok}
YAML

run validate
expect_rc 0 "the trees validate"

# A healthy service with few connections: ok, through the rule node.
run diagnose run web -o json
expect_rc 0 "ok diagnosis exits 0"
expect_out '"cause": "nothing wrong"' "ok cause"
expect_out '"end": "diagnosis"' "ended with a diagnosis"
expect_err "[1] health (exec probe): ok" "step 1 printed"
expect_err "-> load (else)" "branch taken printed"
expect_err "collected uptime: ok" "collected evidence printed"
expect_err "rule always-ok" "the rule node printed"
python3 - "$T/stdout" <<'PY' || fail "json path and evidence"
import json, sys
doc = json.load(open(sys.argv[1]))
assert [s["node"] for s in doc["path"]] == ["health", "load", "rule"], doc["path"]
assert doc["path"][0]["evidence"]["exit_code"] == 0, doc["path"][0]
assert doc["path"][1]["evidence"]["values"]["json"]["active"] == 10
assert doc["path"][1]["collected"]["uptime"]["status"] == "ok"
assert "duration_ms" in doc["path"][0]["evidence"]
assert "git_commit" in doc["workspace"]
assert doc["run_id"] >= 1
PY

# An overloaded service: the expression branch, a templated explanation and
# the recommended plan with its parameters.
run diagnose run web -v active=95 -v host=web7 -o json
expect_rc 1 "warning diagnosis exits 1"
expect_out '"cause": "too many connections"' "warning cause"
expect_out '"explanation": "95 of 100 connections in use"' "explanation filled in"
expect_out '"host": "web7"' "plan parameter filled in from vars"
run diagnose run web -v active=95 -o table
expect_rc 1 "table output"
expect_out "too many connections (warning, confidence 80%)" "table conclusion"
expect_out "path: health -> load -> overloaded" "table path"
expect_out "recommended: has plan run restart-web -p host=web1" "table recommendation"

# Down: a question node; without an answer and a terminal it needs input.
run diagnose run web -v health=2
expect_rc 3 "needs input exits 3"
expect_out '"end": "needs_input"' "needs input"
expect_out "node 'deploy' asks" "names the node"
expect_out '"choices"' "lists the choices"
run diagnose run web -v health=2 --answer deploy=yes -o json
expect_rc 2 "critical diagnosis exits 2"
expect_out '"cause": "a bad deploy"' "answered yes"
run diagnose run web -v health=2 --answer deploy=no -o json
expect_rc 2 "answered no"
expect_out '"cause": "the web server is down"' "answered no cause"
run diagnose run web --answer deploy=maybe
expect_rc 64 "an answer not among the choices"
expect_err "not one of the choices" "bad answer message"
expect_err "help: answer one of: yes, no" "bad answer help"
run diagnose run web --answer nosuch=yes
expect_rc 64 "an answer for no question"
rows=$(sqlite3 .has/state.db "SELECT count(*) FROM runs WHERE status = 'failed'")
[ "$rows" = 0 ] && ok || fail "a usage error records no run ($rows)"

# A probe error follows the unknown branch...
run diagnose run web -v health=3 -o json
expect_rc 3 "unknown branch"
expect_out '"cause": "the health check itself is broken"' "unknown branch taken"
# ...or, without one, ends inconclusive saying where and why.
run diagnose run strict -o json
expect_rc 3 "inconclusive exits 3"
expect_out '"end": "inconclusive"' "inconclusive"
expect_out "node 'check' could not check" "says where"

# Per-node timeout (the default of has.yaml) and a whole-tree timeout.
run diagnose run slow --timeout 1s -o json
expect_rc 3 "whole-tree timeout bounds the probe"
expect_out '"cause": "the check timed out"' "the probe was stopped at the tree's timeout"
expect_out '"message": "timed out after 1000 ms"' "the probe's timeout is the time left"

run diagnose run node-timeout -o json
expect_rc 3 "a node's own timeout"
expect_out '"message": "timed out after 500 ms"' "node timeout applied"

# Ctrl-C stops the running probe and ends the walk as interrupted.
"$HAS" diagnose run slow -o json >"$T/int.out" 2>"$T/int.err" &
pid=$!
sleep 0.5
kill -INT "$pid"
wait "$pid"
RC=$?; OUT=$(cat "$T/int.out"); ERR=$(cat "$T/int.err")
expect_rc 130 "interrupted walk exits 130"
expect_out "interrupted at node 'wait'" "says where it stopped"
rows=$(sqlite3 .has/state.db "SELECT count(*) FROM runs WHERE command = 'diagnose' AND status = 'interrupted' AND exit_code = 130")
[ "$rows" = 1 ] && ok || fail "the run is recorded as interrupted ($rows)"

# Stored runs, with an event.
sqlite3 .has/state.db "INSERT INTO events (id, fingerprint, source, title, severity, status, first_seen, last_seen) VALUES (7, 'f', 'test', 'web down', 'critical', 'open', 'now', 'now')"
run diagnose run web --event 7 -o json
expect_rc 0 "run for an event"
expect_out '"event_id": 7' "event in the output"
run diagnose run web --event 99
expect_rc 64 "an unknown event"
expect_err "no risk event 99" "unknown event message"
rows=$(sqlite3 .has/state.db "SELECT count(*) FROM diagnose_runs WHERE event_id = 7 AND outcome = 'diagnosis'")
[ "$rows" = 1 ] && ok || fail "diagnose_runs row for the event ($rows)"
rows=$(sqlite3 .has/state.db "SELECT count(*) FROM runs WHERE command = 'diagnose' AND status = 'warning' AND exit_code = 1")
[ "$rows" -ge 2 ] && ok || fail "runs rows with status ($rows)"

run diagnose history -o json
expect_rc 0 "history"
expect_out '"tree": "web"' "history lists the runs"
run diagnose history web --event 7 -o json
expect_rc 0 "history of an event"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["runs"]) == 1 and d["runs"][0]["event_id"] == 7, d' "$T/stdout" || fail "history --event"
run diagnose history -o table
expect_out "nothing wrong" "history table"

run diagnose list -o json
expect_rc 0 "list"
expect_out '"name": "web"' "list has the tree"
expect_out '"nodes": 10' "list counts nodes"
run diagnose list -o table
expect_out "why the web tier is slow or down" "list table"

run diagnose show web -o table
expect_rc 0 "show"
expect_out "if json.active > 0.9 * json.max -> overloaded" "show lists branches"
expect_out "recommends plan restart-web" "show lists plans"
run diagnose show nosuch
expect_rc 64 "show an unknown tree"
expect_err "no tree named 'nosuch'" "unknown tree message"
run diagnose run wex
expect_rc 64 "run an unknown tree"
expect_err "did you mean 'web'" "hint"

# Graphs, with the path of a past run highlighted.
run diagnose graph web
expect_rc 0 "mermaid graph"
expect_out "flowchart TD" "mermaid header"
expect_out 'fill:#f4a3a3' "critical leaves red"
expect_out '|"status critical"|' "branch labels"
last=$(sqlite3 .has/state.db "SELECT max(run_id) FROM diagnose_runs")
run diagnose graph web -o dot --run "$last"
expect_rc 0 "dot graph"
expect_out 'digraph "web"' "dot header"
expect_out '"health" -> "load" [label="else", color="#1f4fd6", penwidth=3];' "path highlighted"
if command -v dot >/dev/null; then
  dot -Tsvg "$T/stdout" >"$T/graph.svg" && grep -q "<svg" "$T/graph.svg" && ok || fail "dot -Tsvg"
fi
if command -v dot >/dev/null; then
  run diagnose graph web -o svg --run "$last"
  expect_rc 0 "svg through Graphviz"
  expect_out "<svg" "an svg picture"
fi
run diagnose graph web -o png
expect_rc 64 "unsupported graph format"
expect_err "help: use -o mermaid, -o dot or -o svg" "format help"
run diagnose graph strict --run "$last"
expect_rc 64 "a run of another tree"

# Test cases replayed without running anything: pass/fail and coverage.
run diagnose test web -o json
expect_rc 0 "every case passes"
python3 - "$T/stdout" <<'PY' || fail "test report"
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["passed"] is True
assert [c["name"] for c in doc["cases"]] == ["overloaded", "bad deploy", "probe error"]
assert doc["coverage"]["branches"] == 9, doc["coverage"]
assert doc["coverage"]["covered"] == 5, doc["coverage"]
assert {"node": "rule", "branch": "else"} in doc["coverage"]["uncovered"]
PY
run diagnose test web -o table
expect_rc 0 "test table"
expect_out "PASS bad deploy" "pass line"
expect_out "3 of 3 cases passed; branches covered: 5 of 9" "coverage line"
expect_out "not covered: deploy -> equals no" "uncovered branch"
run diagnose test strict
expect_rc 1 "a tree without cases"
expect_err "tree 'strict' has no test cases" "no cases message"
sed -i 's/    expect: broken/    expect: fine/' "$W/trees/web.yaml"
run diagnose test web -o table
expect_rc 1 "a failing case exits 1"
expect_out "FAIL probe error: expected fine, got broken (diagnosis)" "fail line"
expect_out "2 of 3 cases passed" "count of passes"
sed -i 's/    expect: fine/    expect: broken/' "$W/trees/web.yaml"

# A probe's output inserted into a later node's probe and into the
# recommended plan's parameters is never scanned again: an ${env:} or ${{ }}
# in it stays text, and no secret leaks.
printf '%s' 'leak ${env:HAS_DIAG_SECRET} ${{ 6 * 7 }}' >"$W/hostile.txt"
cat >"$W/trees/leak.yaml" <<'YAML'
kind: Tree
name: leak
start: a
nodes:
  a:
    probe: {exec: {command: [cat, hostile.txt]}}
    branches: [{else: b}]
  b:
    probe: {exec: {command: [printf, "%s", "${{ nodes.a.values.stdout }}"]}}
    branches: [{else: done}]
  done:
    diagnosis:
      cause: hostile output
      explanation: "read ${{ nodes.b.values.stdout }}"
      severity: warning
      plans: [{name: restart-web, params: {host: "${{ nodes.b.values.stdout }}"}}]
YAML
HAS_DIAG_SECRET=s3cr3t-value run diagnose run leak -o json
expect_rc 1 "the hostile walk ends with its diagnosis"
expect_no_out "s3cr3t-value" "no secret in the output"
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
want = "leak ${env:HAS_DIAG_SECRET} ${{ 6 * 7 }}"
assert d["conclusion"]["plans"][0]["params"]["host"] == want, d["conclusion"]
assert d["conclusion"]["explanation"] == "read " + want, d["conclusion"]
' "$T/stdout" && ok || fail "hostile text arrives verbatim: $OUT"
rm "$W/trees/leak.yaml"

# Validation errors, with file and line.
cat >"$W/trees/bad.yaml" <<'YAML'
kind: Tree
name: bad
start: a
nodes:
  a:
    probe: {exec: {command: ["true"]}}
    branches: [{status: ok, next: nowhere}, {else: b}]
  b:
    diagnosis: {cause: x, severity: ok, plans: [no-such-plan]}
tests:
  - {name: t1, nodes: {b: {status: ok}}, answers: {a: "yes"}, expect: c}
YAML
run validate -o table
expect_rc 65 "bad tree fails validation"
expect_out "trees/bad.yaml:7:16: error: tree 'bad' node 'a' branches to 'nowhere'" "dangling branch with its place"
expect_out "trees/bad.yaml:9:49: error: tree 'bad' node 'b' recommends plan 'no-such-plan'" "unknown plan with its place"
expect_out "trees/bad.yaml:11:5: error: tree 'bad' test 't1' expects node 'c', which is not one of its nodes" "test expects a missing node"
expect_out "tree 'bad' test 't1' records a result for 'b', which is not a probe or use node" "test records a leaf"
expect_out "tree 'bad' test 't1' answers 'a', which is not a question node" "test answers a probe"
run diagnose run web
expect_rc 65 "run refuses bad definitions"
rm "$W/trees/bad.yaml"

run diagnose --help
expect_rc 0 "help"
expect_out "run" "help lists run"
run diagnose
expect_rc 64 "no verb"

finish
