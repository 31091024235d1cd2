#!/usr/bin/env bash
# examples/plans must stay valid and runnable: validate it, dry-run and run
# its plan, roll back a failed check, approve a gate from another process,
# resume a run stopped at its gate, and roll back a finished run.
. "$(dirname "$0")/lib.sh"

EX="$HAS_SOURCE/examples/plans"
DB="$T/state.db"
D="$T/servers"
plan() { run -C "$EX" --state "$DB" "$@"; }
state_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["state"])' "$T/stdout"; }
run_id() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["run_id"])' "$T/stdout"; }
pools() { cat "$D/web1.pool" "$D/web2.pool" 2>/dev/null | tr '\n' ' '; }

plan validate
expect_rc 0 "the example validates"

# --- dry run: every host of role web, nothing written ----------------------
plan -o table plan run restart-web -p "dir=$D" --dry-run
expect_rc 0 "dry run"
expect_out "go-ahead (confirm) after preflight" "shows the gate and its place"
expect_out "for each: 2 items, 2 at a time" "for_each over the web hosts"
expect_out "[web1] HOST=web1 DIR=$D" "resolves each item"
expect_out "undo: [web2]" "shows the rollback of each item"
expect_no_out "db1" "the db host is not touched"
[ -e "$D" ] && fail "the dry run wrote something" || ok
[ -e "$DB" ] && fail "the dry run created the state file" || ok

plan plan list -o json
expect_rc 0 "plan list"
expect_out '"restart-web"' "lists the plan"

plan -o json plan run restart-web -p "dir=$D" --explain
expect_rc 0 "--explain: the run may start"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["allowed"] and d["targets"]==2, d' "$T/stdout" \
  && ok || fail "--explain counts two targets"

# --- a run that succeeds ----------------------------------------------------
plan -o json plan run restart-web -p "dir=$D" --yes
expect_rc 0 "the plan runs with --yes"
[ "$(state_of)" = succeeded ] && ok || fail "state succeeded"
[ "$(pools)" = "serving serving " ] && ok || fail "both hosts serve again: $(pools)"
[ -s "$D/web1.api.started" ] && [ -s "$D/web2.api.started" ] && ok || fail "both hosts restarted"
[ "$(cat "$D/summary.txt" 2>/dev/null)" = "restarted api on 2 hosts" ] && ok || fail "summary: $(cat "$D/summary.txt" 2>/dev/null)"
expect_out "approved by --yes" "the gate is journaled as approved by --yes"
DONE=$(run_id)

# --- a failed check rolls the drained hosts back -----------------------------
rm -rf "$D"
plan -o json plan run restart-web -p "dir=$D" -p service=worker -p break_check=true --yes
expect_rc 1 "a failed check fails the run"
[ "$(state_of)" = rolled_back ] && ok || fail "state rolled_back"
[ "$(pools)" = "serving serving " ] && ok || fail "the rollback put both hosts back: $(pools)"
python3 - "$T/stdout" <<'PY' && ok || fail "undo rows for each drained host"
import json, sys
d = json.load(open(sys.argv[1]))
undone = {s["step"] for s in d["steps"] if s["phase"] == "undo" and s["state"] == "succeeded"}
assert {"drain[web1]", "drain[web2]"} <= undone, undone
PY

# --- without a terminal the gate ends the run; `has plan approve` goes on --
plan plan run restart-web -p "dir=$D"
expect_rc 75 "without input the run stops at the gate, waiting"
GATED=$(sqlite3 "$DB" "SELECT max(run_id) FROM plan_runs WHERE plan = 'restart-web'")
expect_err "has plan approve $GATED go-ahead" "says how to approve"
plan plan approve "$GATED" go-ahead
expect_rc 0 "approve continues the run and it succeeds"
plan -o json plan status "$GATED"
[ "$(state_of)" = succeeded ] && ok || fail "the approved run succeeded"

# --- stopped at the gate, then resumed ---------------------------------------
# At a terminal the gate stays open ("l": later); Ctrl-C stops the run there.
wait_for_gate() { # FILE: waits until the run says it is waiting
  for _ in $(seq 100); do grep -q "approve with" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
at_terminal "$T/bg.out" "\"$HAS\" -C \"$EX\" --state \"$DB\" plan run restart-web -p \"dir=$D\""
answer l
wait_for_gate "$T/bg.out" && ok || fail "the second run waits at the gate: $(cat "$T/bg.out")"
pkill -INT -f "plan run restart-web -p dir=$D"
end_terminal
[ "$RC" -eq 130 ] && ok || fail "Ctrl-C exits 130 (got $RC)"
STOPPED=$(sqlite3 "$DB" "SELECT max(run_id) FROM plan_runs WHERE plan = 'restart-web'")
plan -o json plan status "$STOPPED"
[ "$(state_of)" = interrupted ] && ok || fail "the journal says interrupted"
plan -o json plan resume "$STOPPED" --yes
expect_rc 0 "resume"
[ "$(state_of)" = succeeded ] && ok || fail "the resumed run succeeded"
python3 - "$T/stdout" <<'PY' && ok || fail "preflight ran once, before the stop"
import json, sys
d = json.load(open(sys.argv[1]))
rows = [s for s in d["steps"] if s["step"] == "preflight"]
assert len(rows) == 1 and rows[0]["attempts"] == 1 and rows[0]["state"] == "succeeded", rows
PY

# --- a finished run can be rolled back ---------------------------------------
plan -o json plan rollback "$DONE"
expect_rc 0 "rollback of a finished run"
[ "$(state_of)" = rolled_back ] && ok || fail "state rolled_back"

plan -o json plan history restart-web
expect_rc 0 "history"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["runs"]) == 4, d' "$T/stdout" \
  && ok || fail "four runs in the history (a resumed run is the same run)"

finish
