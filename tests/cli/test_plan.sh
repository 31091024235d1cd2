#!/usr/bin/env bash
# has plan: running plans for real (local programs), the journal, rollback,
# resume after SIGKILL, confirm gates, locks, abort, Ctrl-C, and hostile
# values that must never run as code.
. "$(dirname "$0")/lib.sh"

W="$T/ws"
mkdir -p "$W/plans"
LOG="$T/log"
# A sleep only this test starts, so pgrep/pkill never touch anyone else's.
SLEEP="30.$$"
export LOG SLEEP
cat >"$W/has.yaml" <<'YAML'
state: .has/state.db
inventory:
  hosts:
    - {name: web1, address: 127.0.0.1, labels: {role: web}}
    - {name: web2, address: 127.0.0.2, labels: {role: web}}
YAML
cd "$W" || exit 1

# Every step appends to $LOG so the order things ran in can be checked.
cat >"$W/plans/basic.yaml" <<'YAML'
kind: Plan
name: basic
description: restart a service with its traffic drained
params:
  host: {required: true, description: the host}
  service: {default: nginx, allowed: [nginx, api]}
  fail_at: {default: none}
steps:
  - id: drain
    exec: {command: [sh, -c, 'echo "drain $1" >>"$LOG"', sh, "${{ params.host }}"]}
    rollback: {exec: {command: [sh, -c, 'echo "restore $1" >>"$LOG"', sh, "${{ params.host }}"]}}
  - id: restart
    needs: [drain]
    exec:
      shell: 'echo "restart $SVC" >>"$LOG"; echo "{\"pid\": 42}"'
      env: {SVC: "${{ params.service }}"}
    rollback: {exec: {command: [sh, -c, 'echo "unrestart" >>"$LOG"']}}
  - id: check
    needs: [restart]
    exec: {command: [sh, -c, 'echo "check pid $1" >>"$LOG"; [ "$2" != check ]', sh, "${{ steps.restart.json.pid }}", "${{ params.fail_at }}"]}
  - id: only-api
    needs: [check]
    when: params.service == "api"
    exec: {command: [sh, -c, 'echo api >>"$LOG"']}
YAML

run validate
expect_rc 0 "the plans validate"

# --- parameters ----------------------------------------------------------
run plan run basic
expect_rc 64 "a required parameter is missing"
expect_err "parameter 'host' of plan 'basic' is required (the host)" "names the missing parameter"
run plan run basic -p host=a -p service=apache
expect_rc 64 "a value not allowed"
expect_err "must be one of nginx, api, not apache" "lists the allowed values"
run plan run basic -p hots=a
expect_rc 64 "an unknown parameter"
expect_err "plan 'basic' has no parameter 'hots' (did you mean 'host'?)" "suggests the right name"
run plan run nope
expect_rc 64 "an unknown plan"

# --- dry run: the exact argv, nothing run, no state ----------------------
run -o table plan run basic -p 'host=a b' --dry-run
expect_rc 0 "dry run"
expect_out "run:  sh -c 'echo \"drain \$1\" >>\"\$LOG\"' sh 'a b'" "dry run shows the argv, quoted"
expect_out "undo: sh -c 'echo \"restore \$1\" >>\"\$LOG\"' sh 'a b'" "dry run shows the rollback"
expect_out "SVC=nginx /bin/sh -c" "dry run shows the environment of a shell step"
expect_out "(resolved when it runs:" "values only a run produces are resolved when it runs"
expect_out "when: params.service == \"api\" (now false)" "dry run evaluates when"
[ -e "$LOG" ] && fail "dry run ran something" || ok
[ -e "$W/.has/state.db" ] && fail "dry run wrote the state file" || ok

# ssh and systemd with a host: the dry run shows the exact ssh command line.
cat >"$W/plans/remote.yaml" <<'YAML'
kind: Plan
name: remote
steps:
  - id: drain
    for_each: {hosts: {role: web}}
    ssh: {host: "${{ item.name }}", command: [sudo, lb-drain, api]}
    rollback: {systemd: {host: "${{ item.name }}", unit: nginx.service, action: start}}
YAML
run -o table plan run remote --dry-run
expect_rc 0 "dry run of ssh steps"
expect_out "run:  [web1] ssh -o BatchMode=yes" "the ssh command line of each host"
expect_out "-- 127.0.0.2 'sudo lb-drain api'" "the remote command"
expect_out "undo: [web2] ssh" "a systemd rollback with a host runs over ssh"
expect_no_out "resolved when it runs" "nothing is left unresolved"
rm "$W/plans/remote.yaml"
[ -e "$W/.has/state.db" ] && fail "dry run wrote the state file" || ok

# --- a run that succeeds -------------------------------------------------
run plan run basic -p host=web1
expect_rc 0 "plan succeeds"
python3 - "$T/stdout" <<'PY' && ok || fail "run report"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["state"] == "succeeded", d
steps = {s["step"]: s for s in d["steps"]}
assert steps["drain"]["state"] == "succeeded" and steps["drain"]["detail"].startswith("sh -c"), steps["drain"]
assert steps["only-api"]["state"] == "skipped", steps["only-api"]
assert d["params"] == {"host": "web1", "service": "nginx", "fail_at": "none"}, d["params"]
PY
[ "$(cat "$LOG")" = "drain web1
restart nginx
check pid 42" ] && ok || fail "steps ran in order with outputs passed on: $(cat "$LOG")"
expect_err "✔ drain succeeded" "progress on stderr"

# --- failure rolls back completed steps in reverse order -----------------
: >"$LOG"
run plan run basic -p host=web1 -p fail_at=check
expect_rc 1 "failed plan exits 1"
[ "$(cat "$LOG")" = "drain web1
restart nginx
check pid 42
unrestart
restore web1" ] && ok || fail "rollback in reverse order: $(cat "$LOG")"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["state"]=="rolled_back" and "check" in d["reason"], d' "$T/stdout" && ok || fail "state rolled_back"

# --- a rollback that fails stops and says what is left undone -----------
cat >"$W/plans/undo-fails.yaml" <<'YAML'
kind: Plan
name: undo-fails
steps:
  - id: one
    exec: {command: ["true"]}
    rollback: {exec: {command: [sh, -c, 'echo undo-one >>"$LOG"']}}
  - id: two
    needs: [one]
    exec: {command: ["true"]}
    rollback: {exec: {command: [sh, -c, 'echo undo-two >>"$LOG"; exit 4']}}
  - id: three
    needs: [two]
    exec: {command: ["false"]}
YAML
: >"$LOG"
run plan run undo-fails
expect_rc 1 "rollback failure exits 1"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["state"]=="rollback_failed" and d["left_undone"]==["two","one"], d' "$T/stdout" && ok || fail "left undone: two, one"
[ "$(cat "$LOG")" = "undo-two" ] && ok || fail "stopped at the failed undo: $(cat "$LOG")"
expect_err "left undone: two, one" "says what is left undone"

# --- on_failure: abort leaves the undo to the operator; rollback RUN ----
cat >"$W/plans/abort.yaml" <<'YAML'
kind: Plan
name: aborting
on_failure: abort
steps:
  - id: one
    exec: {command: ["true"]}
    rollback: {exec: {command: [sh, -c, 'echo undo-one >>"$LOG"']}}
  - id: two
    needs: [one]
    exec: {command: ["false"]}
  - id: tolerated
    on_failure: continue
    exec: {command: ["false"]}
YAML
: >"$LOG"
run plan run aborting
expect_rc 1 "aborting plan fails"
RUN=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["state"]=="failed" and d["undoable"]==["one"], d; print(d["run_id"])' "$T/stdout") && ok || fail "failed with undoable steps"
expect_err "has plan rollback $RUN" "says how to roll back"
[ -s "$LOG" ] && fail "abort did not roll back by itself" || ok
run plan rollback "$RUN"
expect_rc 0 "rollback RUN"
[ "$(cat "$LOG")" = "undo-one" ] && ok || fail "rollback RUN undid one"
run plan rollback "$RUN"
expect_rc 0 "a second rollback has nothing left to undo"
[ "$(cat "$LOG")" = "undo-one" ] && ok || fail "nothing undone twice"

# --- retries, timeouts, for_each with max_fail ----------------------------
cat >"$W/plans/misc.yaml" <<'YAML'
kind: Plan
name: retrying
steps:
  - id: flaky
    retries: 3
    retry_delay: 10ms
    exec: {command: [sh, -c, 'n=$(cat "$LOG.n" 2>/dev/null || echo 0); n=$((n+1)); echo $n >"$LOG.n"; [ $n -ge 3 ]']}
---
kind: Plan
name: slow
steps:
  - id: hang
    timeout: 300ms
    exec: {command: [sleep, "30"]}
---
kind: Plan
name: fleet
on_failure: abort
steps:
  - id: each
    for_each: [ok1, bad1, ok2, bad2, ok3]
    max_fail: 1
    exec: {command: [sh, -c, 'echo "$1" >>"$LOG"; case "$1" in bad*) exit 1;; esac', sh, "${{ item }}"]}
---
kind: Plan
name: fleet-hosts
steps:
  - id: hosts
    for_each: {hosts: {role: web}}
    max_parallel: 2
    exec: {command: [echo, "${{ item.name }}=${{ item.address }}"]}
  - id: expect
    needs: [hosts]
    exec: {command: [echo, '{"ready": false}']}
    expect: [json.ready == true]
YAML
run plan run retrying
expect_rc 0 "retries until it passes"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); s=d["steps"][0]; assert s["attempts"]==3 and s["state"]=="succeeded", s' "$T/stdout" && ok || fail "three attempts journaled"
start=$(date +%s%N)
run plan run slow
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
expect_rc 1 "a step over its timeout fails"
expect_out "timed out" "says it timed out"
[ "$elapsed" -lt 5000 ] && ok || fail "timeout killed the step (took ${elapsed} ms)"
: >"$LOG"
run plan run fleet
expect_rc 1 "more failures than max_fail fail the step"
python3 - "$T/stdout" <<'PY' && ok || fail "for_each items journaled"
import json, sys
d = json.load(open(sys.argv[1]))
steps = {s["step"]: s for s in d["steps"]}
assert steps["each"]["state"] == "failed" and "not started" in steps["each"]["message"], steps["each"]
assert steps["each[ok1]"]["state"] == "succeeded" and steps["each[bad1]"]["state"] == "failed", steps
assert "each[ok3]" not in steps, steps
PY
run plan run fleet-hosts
expect_rc 1 "an expectation that fails fails the step"
python3 - "$T/stdout" <<'PY' && ok || fail "for_each over inventory hosts, expect"
import json, sys
d = json.load(open(sys.argv[1]))
steps = {s["step"]: s for s in d["steps"]}
assert steps["hosts[web1]"]["message"] == "exit 0: web1=127.0.0.1", steps
assert steps["hosts[web2]"]["message"] == "exit 0: web2=127.0.0.2", steps
assert "expectation failed: json.ready == true" in steps["expect"]["message"], steps["expect"]
PY

# --- hostile strings in params, event labels and outputs never run -------
cat >"$W/plans/hostile.yaml" <<'YAML'
kind: Plan
name: hostile
params:
  value: {required: true}
steps:
  - id: echo
    exec: {command: [printf, "%s", "${{ params.value }}"]}
  - id: pass-on
    needs: [echo]
    exec: {command: [sh, -c, 'printf "%s|%s|%s\n" "$1" "$2" "$3" >>"$LOG"', sh, "${{ steps.echo.stdout }}", "${{ event.labels.service }}", "${{ event.title }}"]}
  - id: env
    needs: [pass-on]
    exec:
      shell: 'printf "%s\n" "$VALUE" >>"$LOG"'
      env: {VALUE: "${{ params.value }}"}
YAML
run plan run basic -p host=x --dry-run  # creates nothing; the state comes next
run plan run retrying >/dev/null
sqlite3 "$W/.has/state.db" "INSERT INTO events (fingerprint, source, title, severity, status, count, labels, first_seen, last_seen)
  VALUES ('hostile', 'test', 'down; touch $T/pwn-title', 'critical', 'open', 1,
          json_object('service', '\$(touch $T/pwn-label)\`touch $T/pwn-tick\`'), '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')"
EVENT=$(sqlite3 "$W/.has/state.db" "SELECT id FROM events WHERE fingerprint = 'hostile'")
: >"$LOG"
for value in "\$(touch $T/pwn1)" "; touch $T/pwn2" "\`touch $T/pwn3\`" "' ; touch $T/pwn4; '" "\${{ params.value }}" "\${env:HOME}"; do
  run plan run hostile -p "value=$value" --event "$EVENT"
  expect_rc 0 "hostile value passes through: $value"
done
ls "$T" | grep -q pwn && fail "a hostile value was executed: $(ls "$T" | grep pwn)" || ok
grep -qF "\$(touch $T/pwn1)|\$(touch $T/pwn-label)\`touch $T/pwn-tick\`|down; touch $T/pwn-title" "$LOG" && ok || fail "values arrive verbatim: $(head -3 "$LOG")"
grep -qxF "\${{ params.value }}" "$LOG" && ok || fail "a value is never scanned for templates again"
grep -qxF "\${env:HOME}" "$LOG" && ok || fail "a value is never scanned for env references"
run -o json plan history hostile -n 1
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); r=d['runs'][0]; assert r['event_id']==$EVENT and r['user'] and r['host'], r" "$T/stdout" && ok || fail "the run records its event, user and host"

# --- secrets: not stored, not shown --------------------------------------
cat >"$W/plans/secret.yaml" <<'YAML'
kind: Plan
name: secret
params:
  token: {secret: true}
steps:
  - id: use
    exec: {command: [echo, "token=${{ params.token }}"]}
YAML
run plan run secret -p token=s3cr3t-value
expect_rc 0 "plan with a secret"
expect_no_out "s3cr3t-value" "the secret is not printed"
expect_no_err "s3cr3t-value" "the secret is not in progress lines"
if sqlite3 "$W/.has/state.db" .dump | grep -q s3cr3t-value; then fail "the secret reached the state file"; else ok; fi

# --- confirm: without input the run ends waiting, frees its lock, and -----
# --- `has plan approve` continues it; a terminal's "later" keeps it open --
cat >"$W/plans/gated.yaml" <<'YAML'
kind: Plan
name: gated
steps:
  - id: before
    exec: {command: [sh, -c, 'echo before >>"$LOG"']}
  - id: gate
    needs: [before]
    confirm: {message: "switch the database?"}
  - id: after
    needs: [gate]
    exec: {command: [sh, -c, 'echo after >>"$LOG"']}
YAML
: >"$LOG"
run plan run gated
expect_rc 75 "a gate nobody can answer ends the run as waiting"
GRUN=$(sqlite3 "$W/.has/state.db" "SELECT max(run_id) FROM plan_runs WHERE plan = 'gated'")
expect_err "to continue: has plan approve $GRUN gate" "says how to approve"
run -o json plan status "$GRUN"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["state"]=="waiting", d' "$T/stdout" && ok || fail "the run waits at the gate"
expect_out "switch the database?" "status shows the question"
[ "$(sqlite3 "$W/.has/state.db" "SELECT count(*) FROM locks")" = 0 ] && ok || fail "the waiting run holds no lock"
[ "$(cat "$LOG")" = "before" ] && ok || fail "nothing after the gate ran yet"
run plan approve "$GRUN" nope
expect_rc 64 "approving an unknown step"
run plan approve "$GRUN" gate
expect_rc 0 "approve continues the run whose process ended"
expect_err "approved step gate of run $GRUN" "approve says what it approved"
run -o json plan status "$GRUN"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["state"]=="succeeded", d' "$T/stdout" && ok || fail "the gated run finished after approval"
[ "$(cat "$LOG")" = "before
after" ] && ok || fail "the step after the gate ran"
# At a terminal, "later" keeps the gate open while the process waits for
# `has plan approve` from elsewhere.
: >"$LOG"
at_terminal "$T/gated.out" "\"$HAS\" -C \"$W\" plan run gated"
answer l
for _ in $(seq 100); do grep -q "approve with" "$T/gated.out" 2>/dev/null && break; sleep 0.1; done
GRUN=$(sqlite3 "$W/.has/state.db" "SELECT max(run_id) FROM plan_runs WHERE plan = 'gated'")
run -o json plan status "$GRUN"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["state"]=="waiting", d' "$T/stdout" && ok || fail "the run at a terminal waits at the gate"
run plan approve "$GRUN" gate
expect_rc 0 "approve a live run"
for _ in $(seq 100); do grep -q after "$LOG" 2>/dev/null && break; sleep 0.1; done
[ "$(cat "$LOG")" = "before
after" ] && ok || fail "the live run went on after approval: $(cat "$T/gated.out")"
end_terminal
[ "$RC" -eq 0 ] && ok || fail "the run at the terminal succeeded (exit $RC)"
run plan run gated --yes
expect_rc 0 "--yes approves"
expect_out "approved by --yes" "journaled as approved by --yes"

# --- resume after SIGKILL ------------------------------------------------
cat >"$W/plans/long.yaml" <<'YAML'
kind: Plan
name: long
params:
  idem: {type: bool, default: false}
steps:
  - id: first
    exec: {command: [sh, -c, 'echo first >>"$LOG"']}
    rollback: {exec: {command: [sh, -c, 'echo undo-first >>"$LOG"']}}
  - id: slow
    needs: [first]
    exec: {command: [sh, -c, 'echo slow >>"$LOG"; [ -e "$LOG.fast" ] || sleep "$SLEEP"']}
    rollback: {exec: {command: [sh, -c, 'echo undo-slow >>"$LOG"']}}
  - id: last
    needs: [slow]
    exec: {command: [sh, -c, 'echo last >>"$LOG"']}
---
kind: Plan
name: long-idempotent
steps:
  - id: first
    exec: {command: [sh, -c, 'echo first >>"$LOG"']}
  - id: slow
    needs: [first]
    idempotent: true
    exec: {command: [sh, -c, 'echo slow >>"$LOG"; [ -e "$LOG.fast" ] || sleep "$SLEEP"']}
  - id: last
    needs: [slow]
    exec: {command: [sh, -c, 'echo last >>"$LOG"']}
YAML
start_and_kill() { # PLAN: runs it in the background, SIGKILLs has mid-step
  : >"$LOG"; rm -f "$LOG.fast"
  "$HAS" plan run "$1" >/dev/null 2>&1 </dev/null &
  local pid=$!
  for _ in $(seq 100); do grep -q slow "$LOG" 2>/dev/null && break; sleep 0.1; done
  kill -9 "$pid"; wait "$pid" 2>/dev/null
  pkill -f "sleep $SLEEP" 2>/dev/null
  KRUN=$(sqlite3 "$W/.has/state.db" "SELECT max(run_id) FROM plan_runs WHERE plan = '$1'")
}
start_and_kill long
run -o json plan status "$KRUN"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); s={x["step"]:x for x in d["steps"]}; assert d["state"]=="running" and s["slow"]["state"]=="running" and s["first"]["state"]=="succeeded", d' "$T/stdout" && ok || fail "the journal shows the step in flight"
touch "$LOG.fast"
run plan run long
expect_rc 0 "a new run takes over the lock of the dead one"
grep -c first "$LOG" | grep -qx 2 && ok || fail "the new run ran"
start_and_kill long
touch "$LOG.fast"
run plan resume "$KRUN"
expect_rc 1 "a non-idempotent step in flight needs a decision"
expect_err "step slow of run $KRUN was cut short when the run stopped and is not idempotent" "names the step"
expect_err "--retry slow" "says how to decide"
run plan resume "$KRUN" --skip slow
expect_rc 0 "resume with --skip"
[ "$(cat "$LOG")" = "first
slow
last" ] && ok || fail "resume ran only what was left: $(cat "$LOG")"
start_and_kill long
touch "$LOG.fast"
run plan resume "$KRUN" --rerun-step slow
expect_rc 0 "resume with --rerun-step (the older name of --retry)"
[ "$(grep -c slow "$LOG")" = 2 ] && [ "$(grep -c first "$LOG")" = 1 ] && ok || fail "slow ran again, first did not: $(cat "$LOG")"
start_and_kill long-idempotent
touch "$LOG.fast"
run plan resume "$KRUN"
expect_rc 0 "an idempotent step in flight runs again by itself"
run plan resume "$KRUN"
expect_rc 64 "a finished run cannot be resumed"

# --- locks, abort, Ctrl-C -------------------------------------------------
: >"$LOG"; rm -f "$LOG.fast"
"$HAS" plan run long >"$T/bg.out" 2>"$T/bg.err" </dev/null &
BG=$!
for _ in $(seq 100); do grep -q slow "$LOG" 2>/dev/null && break; sleep 0.1; done
BRUN=$(sqlite3 "$W/.has/state.db" "SELECT max(run_id) FROM plan_runs WHERE plan = 'long'")
run plan run long
expect_rc 75 "a second run on the same target is refused"
expect_err "run $BRUN holds it" "names the run that holds the lock"
run -o table plan run long --explain
expect_out "held by run $BRUN" "--explain names the holder of the lock"
run -o table plan run long -p idem=true --explain
expect_out "free" "the lock key holds the parameters: other values, another target"
run plan abort "$BRUN"
expect_rc 0 "abort"
wait "$BG"; BRC=$?
[ "$BRC" -eq 1 ] && ok || fail "the aborted run exits 1 (got $BRC)"
run -o json plan status "$BRUN"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["state"]=="aborted", d' "$T/stdout" && ok || fail "state aborted"
pgrep -f "sleep $SLEEP" >/dev/null && fail "abort left the step's process running" || ok

: >"$LOG"
"$HAS" plan run long >"$T/int.out" 2>"$T/int.err" </dev/null &
BG=$!
for _ in $(seq 100); do grep -q slow "$LOG" 2>/dev/null && break; sleep 0.1; done
kill -INT "$BG"; wait "$BG"; BRC=$?
[ "$BRC" -eq 130 ] && ok || fail "Ctrl-C exits 130 (got $BRC)"
IRUN=$(sqlite3 "$W/.has/state.db" "SELECT max(run_id) FROM plan_runs WHERE plan = 'long'")
grep -qF "has plan rollback $IRUN" "$T/int.err" && ok || fail "Ctrl-C offers the rollback: $(cat "$T/int.err")"
run -o json plan status "$IRUN"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); s={x["step"]:x for x in d["steps"]}; assert d["state"]=="interrupted" and s["slow"]["state"]=="unknown", d' "$T/stdout" && ok || fail "interrupted in the journal: the step cut short has an unknown outcome"
pgrep -f "sleep $SLEEP" >/dev/null && fail "Ctrl-C left the step's process running" || ok
run plan rollback "$IRUN"
expect_rc 0 "roll back the interrupted run"
grep -qx undo-first "$LOG" && ok || fail "the completed step was undone"

# --- nested plans and Action templates -----------------------------------
cat >"$W/plans/nested.yaml" <<'YAML'
kind: Action
name: note
params:
  text: {required: true}
steps:
  - id: write
    exec: {command: [sh, -c, 'echo "note $1" >>"$LOG"', sh, "${{ params.text }}"]}
    rollback: {exec: {command: [sh, -c, 'echo "unnote $1" >>"$LOG"', sh, "${{ params.text }}"]}}
---
kind: Plan
name: child
params:
  n: {type: int}
steps:
  - id: work
    exec: {command: [sh, -c, 'echo "child $1" >>"$LOG"', sh, "${{ params.n }}"]}
    rollback: {exec: {command: [sh, -c, 'echo "unchild" >>"$LOG"']}}
---
kind: Plan
name: parent
params:
  fail: {type: bool, default: false}
steps:
  - id: a
    use: note
    with: {text: hello}
  - id: b
    needs: [a]
    plan: {name: child, params: {n: 7}}
  - id: c
    needs: [b]
    exec: {command: [sh, -c, '[ "$1" = false ]', sh, "${{ params.fail }}"]}
YAML
: >"$LOG"
run plan run parent
expect_rc 0 "nested plan and Action"
[ "$(cat "$LOG")" = "note hello
child 7" ] && ok || fail "nested steps ran: $(cat "$LOG")"
: >"$LOG"
run plan run parent -p fail=true
expect_rc 1 "nested plan rolled back"
[ "$(cat "$LOG")" = "note hello
child 7
unchild
unnote hello" ] && ok || fail "the called plan and Action are undone in reverse: $(cat "$LOG")"

# --- list, show, graph, history, log -------------------------------------
run -o table plan list
expect_rc 0 "list"
expect_out "basic" "lists plans"
expect_out "Action" "lists Action templates"
run -o table plan show basic
expect_rc 0 "show"
expect_out "host (string, required) — the host" "show lists parameters"
expect_out "undo exec" "show lists rollbacks"
run -o mermaid plan graph basic
expect_rc 0 "graph mermaid"
expect_out "flowchart TD" "mermaid header"
expect_out "drain --> restart" "mermaid edges"
run -o dot plan graph basic
expect_rc 0 "graph dot"
expect_out '"drain" -> "restart";' "dot edges"
if command -v dot >/dev/null; then
  "$HAS" -o dot plan graph parent | dot -Tsvg >"$T/g.svg" && grep -q "<svg" "$T/g.svg" && ok || fail "Graphviz draws the graph"
fi
run -o xml plan graph basic
expect_rc 64 "graph format checked"
run -o table plan history
expect_rc 0 "history"
expect_out "parent" "history lists runs"
run -o table plan log
expect_rc 0 "log of the latest run"
expect_out "plan child n=7" "the latest run is the latest top-level run"
HRUN=$(sqlite3 "$W/.has/state.db" "SELECT max(run_id) FROM plan_runs WHERE plan = 'hostile'")
run -o table plan log "$HRUN"
expect_out "stdout:" "log shows output"
expect_out "\${env:HOME}" "log shows what the step printed"

# --- a notify step, against a local webhook receiver ----------------------
start_receiver "$T/received"
mkdir -p "$T/notifyws/plans"
cat >"$T/notifyws/has.yaml" <<YAML
notifiers:
  ops:
    kind: webhook
    url: http://127.0.0.1:$NPORT/hook
YAML
cat >"$T/notifyws/plans/tell.yaml" <<'YAML'
kind: Plan
name: tell
params:
  who: {required: true}
steps:
  - id: tell
    notify: {notifier: ops, title: "switching", text: "failing over ${{ params.who }}", severity: critical}
YAML
run -C "$T/notifyws" plan run tell -p 'who=db1 $(touch pwn-notify)'
expect_rc 0 "a notify step sends through the notifier"
grep -qF 'failing over db1 $(touch pwn-notify)' "$T/received" && ok || fail "the receiver got the text: $(cat "$T/received" 2>/dev/null)"
kill "$RECEIVER" 2>/dev/null; wait "$RECEIVER" 2>/dev/null
run -C "$T/notifyws" plan run tell -p who=x
expect_rc 1 "a notify step fails when the receiver is down"
[ -e "$T/notifyws/pwn-notify" ] && fail "the notify text was executed" || ok

# --- on a terminal: the gate prompts, and Ctrl-C offers the rollback -------
cat >"$T/onpty.py" <<'PY'
# Runs has on a pseudo-terminal; answers each prompt in turn; Ctrl-C after
# the text given with --interrupt-after.
import os, pty, sys, time
argv, answers, interrupt_after = [], [], None
args = sys.argv[1:]
while args[0] != "--":
    flag, value = args[0], args[1]
    if flag == "--answer":
        answers.append(value)
    else:
        interrupt_after = value
    args = args[2:]
argv = args[1:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
seen, deadline = b"", time.time() + 60
while time.time() < deadline:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    seen += chunk
    if interrupt_after and interrupt_after.encode() in seen:
        interrupt_after = None
        time.sleep(0.3)
        os.write(fd, b"\x03")
    if answers and seen.rstrip().endswith(b"]"):
        os.write(fd, answers.pop(0).encode() + b"\n")
        seen += b"\n"
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
PY
: >"$LOG"
python3 "$T/onpty.py" --answer y -- "$HAS" -o table plan run gated >"$T/pty.out" 2>&1
[ $? -eq 0 ] && ok || fail "on a terminal the gate asks and y approves: $(cat "$T/pty.out")"
grep -qF "switch the database? — approve step gate? [y/N/l=later]" "$T/pty.out" && ok || fail "the prompt: $(cat "$T/pty.out")"
grep -qx after "$LOG" && ok || fail "the step after the gate ran"
python3 "$T/onpty.py" --answer n -- "$HAS" -o table plan run gated >"$T/pty.out" 2>&1
[ $? -eq 1 ] && ok || fail "n rejects the gate and the plan fails"
grep -qF "rejected by the operator" "$T/pty.out" && ok || fail "says it was rejected"
: >"$LOG"; rm -f "$LOG.fast"
python3 "$T/onpty.py" --interrupt-after "▶ slow" --answer y -- "$HAS" -o table plan run long >"$T/pty.out" 2>&1
grep -qF "roll back 1 completed step (first)?" "$T/pty.out" && ok || fail "Ctrl-C offers the rollback on a terminal: $(cat "$T/pty.out")"
grep -qx undo-first "$LOG" && ok || fail "y rolls the completed step back"
pgrep -f "sleep $SLEEP" >/dev/null && fail "Ctrl-C on a terminal left the step's process running" || ok

# --- wait: a rule of the workspace, a probe, a condition ------------------
cat >"$W/plans/waiting.yaml" <<'YAML'
kind: Rule
name: ready-file
probe: {exec: {command: [sh, -c, 'test -e "$LOG.ready"']}}
---
kind: Plan
name: waiting
params:
  limit: {default: 10s}
steps:
  - id: rule
    timeout: 10s
    wait: {rule: ready-file, interval: 200ms}
  - id: probe
    needs: [rule]
    timeout: 10s
    wait: {probe: {exec: {command: [echo, '{"ready": true}']}}, expect: [json.ready == true], interval: 200ms}
  - id: condition
    needs: [probe]
    wait: {condition: "steps.probe.polls == 1", interval: 200ms}
---
kind: Plan
name: never
steps:
  - id: hopeless
    timeout: 700ms
    wait: {condition: "false", interval: 200ms}
YAML
rm -f "$LOG.ready"
(sleep 1; touch "$LOG.ready") &
run plan run waiting
expect_rc 0 "wait polls a rule until it passes"
python3 - "$T/stdout" <<'PY' && ok || fail "the wait polled more than once, then passed"
import json, sys
d = json.load(open(sys.argv[1]))
steps = {s["step"]: s for s in d["steps"]}
assert steps["rule"]["state"] == "succeeded" and "passed after" in steps["rule"]["message"], steps["rule"]
assert not steps["rule"]["message"].startswith("passed after 1 poll:"), steps["rule"]
assert steps["probe"]["state"] == "succeeded" and steps["condition"]["state"] == "succeeded", steps
PY
wait
run plan run never
expect_rc 1 "a wait that never passes fails when its step times out"
expect_out "still failing after" "says how long it polled"

# --- protection rules -------------------------------------------------------
cat >"$W/plans/guarded.yaml" <<'YAML'
kind: Plan
name: guarded
params:
  hosts: {type: list, default: [a]}
  fail: {type: bool, default: false}
protection:
  rate: {runs: 2, per: 1h}
  blast_radius: 2
  breaker: {failures: 1}
steps:
  - id: each
    for_each: "${{ params.hosts }}"
    exec: {command: [sh, -c, '[ "$1" = false ]', sh, "${{ params.fail }}"]}
YAML
run plan run guarded -p hosts=a,b,c
expect_rc 75 "blast radius: three targets where two are allowed"
expect_err "blast_radius" "names the rule"
expect_err "--override blast_radius --reason" "says how to override"
run plan run guarded
expect_rc 0 "first run within the rate"
run plan run guarded -p fail=true
expect_rc 1 "second run fails and opens the breaker"
run -o table plan run guarded --explain
expect_rc 75 "--explain exits 75 when the run would be refused"
expect_out "blocked by rate" "--explain names the rate limit"
expect_out "(allowed from 20" "--explain says when it allows the run"
run plan run guarded
expect_rc 75 "third run in the hour is refused"
run plan run guarded --override rate
expect_rc 64 "--override needs --reason"
run plan run guarded --override rat --reason x
expect_rc 64 "unknown rule in --override"
run plan run guarded --override rate --reason "incident 42: the service is down"
expect_rc 0 "a manual run may override the rate with a reason"
ORUN=$(sqlite3 "$W/.has/state.db" "SELECT max(run_id) FROM plan_runs WHERE plan = 'guarded'")
[ "$(sqlite3 "$W/.has/state.db" "SELECT rule FROM plan_overrides WHERE run_id = $ORUN")" = rate ] && ok || fail "the override is journaled"
sqlite3 "$W/.has/state.db" "SELECT reason FROM plan_overrides WHERE run_id = $ORUN" | grep -q "incident 42" && ok || fail "with its reason"
run -o json plan protection
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); s={x["scope"]:x for x in d["scopes"]}; assert s["plan:guarded"]["breaker_open"] is False, s' "$T/stdout" && ok || fail "a success closed the breaker count"
run plan pause --all --reason "change freeze"
expect_rc 0 "the kill switch"
run plan run retrying
expect_rc 75 "every plan is refused while paused"
expect_err "change freeze" "says why"
run plan resume --all
expect_rc 0 "lift the kill switch"
: >"$LOG.n"
run plan run retrying
expect_rc 0 "plans run again"
run plan reset guarded
expect_rc 0 "reset the breaker"
run plan pause retrying --reason "one plan only"
expect_rc 0 "pause one plan"
run plan run retrying
expect_rc 75 "the paused plan is refused"
expect_err "one plan only" "says why"
run plan run gated --yes
expect_rc 0 "other plans still run"
run plan resume --plan retrying
expect_rc 0 "lift the pause of one plan"
: >"$LOG.n"
run plan run retrying
expect_rc 0 "the plan runs again"

# --- validation of plans -------------------------------------------------
mkdir -p "$T/bad" && cd "$T/bad" && echo "" >has.yaml
cat >plans.yaml <<'YAML'
kind: Plan
name: broken
steps:
  - id: a
    needs: [b]
    exec: {shell: "echo ${{ params.x }}"}
  - id: b
    needs: [a]
    ssh: {host: h, command: [true], colour: red}
  - id: c
    plan: {name: missing}
  - id: d
    exec: {command: [x]}
    http: {url: "http://x"}
YAML
run -o table validate
expect_rc 65 "broken plans do not validate"
expect_out "plans.yaml:6:" "file:line of the shell template"
expect_out "may not hold \${{ }}" "no templates in shell scripts"
expect_out "steps form a cycle: a -> b -> a" "cycles"
expect_out "unknown field 'colour' in ssh action" "unknown field in an action"
expect_out "calls plan 'missing', which is not a known plan" "unknown plan"
expect_out "has more than one action (exec, http)" "one action per step"


cd "$W" || exit 1
# The timeout of a step that uses an Action bounds the Action's run.
cat >"$W/plans/bounded.yaml" <<'YAML'
kind: Action
name: slow-note
steps:
  - id: slow
    exec: {command: [sleep, "30"]}
---
kind: Plan
name: bounded
steps:
  - id: call
    use: slow-note
    timeout: 1s
YAML
START=$(date +%s)
run plan run bounded
expect_rc 1 "a called Action past its step's timeout fails"
expect_err "the calling step timed out after 1000 ms" "and says which timeout ended it"
[ $(($(date +%s) - START)) -lt 10 ] && ok || fail "the Action was stopped at the step's timeout"

finish
