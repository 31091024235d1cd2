#!/usr/bin/env bash
# has risk: events raised by real inspections and the timeline of each one:
# opened, severity changes, a diagnosis walked for it, plans run for it
# (failed, resumed, succeeded; a called plan stays inside its caller's line),
# resolved; an operator's ack, assign, comment and resolve (hostile text
# stays text); list and show in every format; unknown events refused.
. "$(dirname "$0")/lib.sh"

W="$T/ws"
mkdir -p "$W"
cd "$W" || exit 1
git init -q .
cat >has.yaml <<'YAML'
state: .has/state.db
YAML
cat >defs.yaml <<'YAML'
kind: Rule
name: flag
description: the flag file is there
probe: {exec: {command: [sh, -c, 'test -f flag && exit 0; test -f warn && exit 1; exit 2']}}
---
kind: Tree
name: why
start: check
nodes:
  check:
    use: flag
    branches:
      - {status: ok, next: fine}
      - {else: missing}
  fine:
    diagnosis: {cause: all good, severity: ok}
  missing:
    diagnosis:
      cause: the flag file is missing
      severity: critical
      confidence: 0.9
      plans: [{name: fix}]
---
kind: Plan
name: fix
on_failure: abort
steps:
  - id: gate
    exec: {command: [test, -f, allowed]}
  - id: touch
    needs: [gate]
    exec: {command: [touch, flag]}
---
kind: Plan
name: outer
steps:
  - id: call
    plan: {name: noop}
---
kind: Plan
name: noop
steps:
  - id: nothing
    exec: {command: ["true"]}
YAML

# json of `has risk show ID`, one timeline line per row: kind|run|text
timeline() {
  "$HAS" risk show "$1" -o json | python3 -c '
import json, sys
d = json.load(sys.stdin)
for t in d["timeline"]:
    print("%s|%s|%s" % (t["kind"], t["run_id"], t["text"]))'
}

run risk list -o json
expect_rc 0 "list on a fresh state file"
expect_out '"events": []' "no events yet"

touch warn
run inspect run -o json
expect_rc 1 "warning"
rm warn
run inspect run -o json
expect_rc 2 "critical"
run inspect run -o json
expect_rc 2 "critical again: the same event"

run risk list -o json
expect_rc 0 "list"
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["events"]) == 1, d
e = d["events"][0]
assert e["id"] == 1 and e["status"] == "open" and e["severity"] == "critical" and e["count"] == 3, e
assert e["labels"] == {"rule": "flag", "target": "local"} and e["last_run_id"] == 3, e
' "$T/stdout" && ok || fail "list json: $OUT"
run risk list -o table
expect_out "flag failing on local" "table has the title"
expect_out "critical" "table has the severity"
run risk list -o ndjson
[ "$(wc -l <"$T/stdout")" = 1 ] && ok || fail "ndjson: one line per event"
run risk list --status resolved -o json
expect_out '"events": []' "nothing resolved yet"
run risk list --status closed
expect_rc 64 "unknown status"
expect_err "expected open, resolved or all" "status message"

# A diagnosis for the event, then a plan that fails, is resumed and succeeds.
run diagnose run why --event 1 -o json
expect_rc 2 "the diagnosis is critical"
DRUN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["run_id"])' "$T/stdout")
run plan run fix --event 1 -o json
expect_rc 1 "the plan fails at its gate"
PRUN=$(sqlite3 .has/state.db "SELECT run_id FROM plan_runs WHERE plan = 'fix'")
touch allowed
run plan resume "$PRUN" -o json
expect_rc 0 "resumed, it succeeds"
run plan run outer --event 1 -o json
expect_rc 0 "a plan calling a plan"
ORUN=$(sqlite3 .has/state.db "SELECT run_id FROM plan_runs WHERE plan = 'outer'")
run plan run fix --event 99
expect_rc 64 "a plan for an unknown event"
expect_err "no risk event 99" "unknown event named"
run inspect run -o json
expect_rc 0 "the flag is back"

got=$(timeline 1)
want="opened|1|opened: flag failing on local (warning)
severity|2|severity warning -> critical (seen 2 times)
diagnosis|$DRUN|tree why: the flag file is missing (critical)
plan|$PRUN|plan fix started
plan|$PRUN|plan fix failed: step 'gate' failed: exit 1
plan|$PRUN|plan fix resumed after it had failed
plan|$PRUN|plan fix succeeded
plan|$ORUN|plan outer started
plan|$ORUN|plan outer succeeded
resolved|$((ORUN + 2))|resolved (seen 3 times)"
[ "$got" = "$want" ] && ok || fail "timeline:
$got
--- wanted:
$want"

run risk show 1 -o json
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["status"] == "resolved" and d["resolved_at"], d
diag = [t for t in d["timeline"] if t["kind"] == "diagnosis"][0]
assert diag["data"]["cause"] == "the flag file is missing" and diag["data"]["plans"][0]["name"] == "fix", diag
assert diag["user"] and diag["source"] == "diagnose", diag
ats = [t["at"] for t in d["timeline"]]
assert ats == sorted(ats), ats
rec = d["recommended_plans"]
assert len(rec) == 1 and rec[0]["plan"] == "fix" and rec[0]["diagnosis_run"] == diag["run_id"], rec
assert rec[0]["command"] == "has plan run fix --event 1", rec
' "$T/stdout" && ok || fail "show json: $OUT"
run risk show 1 -o table
expect_rc 0 "show as a table"
expect_out "event 1: flag failing on local" "heading"
expect_out "severity critical, resolved, seen 3 times" "summary line"
expect_out "tree why: the flag file is missing (critical)" "diagnosis line"
expect_out "recommended by diagnosis run $DRUN: has plan run fix --event 1" "the plan to run, ready to paste"
run risk show 1 -o yaml
expect_out "timeline:" "yaml"
run risk list -o json
expect_out '"events": []' "nothing open any more"
run risk list --status all -o json
expect_out '"status": "resolved"' "all lists the resolved one"

# The same failure after it was resolved is a new event with its own line.
rm flag
run inspect run -o json
expect_rc 2 "failing again"
got=$(timeline 2)
[ "$got" = "opened|$((ORUN + 3))|opened: flag failing on local (critical)" ] && ok || fail "a new event: $got"

# An operator's work on it: acknowledge, assign, comment, resolve by hand.
run risk ack 2 -m "looking; \$(touch $T/pwn1)" -o json
expect_rc 0 "ack"
expect_out '"acknowledged_by": "' "ack recorded"
run risk assign 2 ann --by bob -o json
expect_rc 0 "assign"
expect_out '"assignee": "ann"' "assignee recorded"
run risk comment 2 "\`touch $T/pwn2\` it's the disk" --by ann -o json
expect_rc 0 "comment"
run risk list -o table
expect_out "ann" "the list shows the assignee"
run risk resolve 2 --by ann -m "cleaned up" -o json
expect_rc 0 "resolve by hand"
expect_out '"resolved_by": "ann"' "resolved_by recorded"
run risk ack 2
expect_rc 64 "a resolved event cannot be acknowledged"
expect_err "risk event 2 is already resolved" "says why"
run risk assign 2 bob
expect_rc 64 "nor assigned"
run risk comment 2 "the review is on Friday" --by bob -o json
expect_rc 0 "a resolved event takes comments"
run risk comment 2 ""
expect_rc 64 "an empty comment"
run risk ack 99
expect_rc 64 "ack of an unknown event"
ls "$T" | grep -q pwn && fail "a comment was executed" || ok
got=$("$HAS" risk show 2 -o json | python3 -c '
import json, sys
for t in json.load(sys.stdin)["timeline"][1:]:
    print("%s|%s|%s" % (t["kind"], t["user"] if t["kind"] != "acknowledged" else "-", t["text"]))')
want="acknowledged|-|acknowledged by $(id -un)
comment|$(id -un)|looking; \$(touch $T/pwn1)
assigned|bob|assigned to ann
comment|ann|\`touch $T/pwn2\` it's the disk
resolved|ann|resolved by ann (seen 1 time)
comment|ann|cleaned up
comment|bob|the review is on Friday"
[ "$got" = "$want" ] && ok || fail "an operator's lines:
$got
--- wanted:
$want"
# Resolved by hand while the rule still fails: its next run opens a new event.
run inspect run -o json
expect_rc 2 "still failing"
run risk list -o json
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert [e["id"] for e in d["events"]] == [3], d
' "$T/stdout" && ok || fail "a new event after a resolve by hand: $OUT"

run risk show 99
expect_rc 64 "unknown event"
expect_err "no risk event 99" "unknown event message"
run risk show
expect_rc 64 "show needs an id"
run risk
expect_rc 64 "risk needs a subcommand"

finish
