#!/usr/bin/env bash
# Plan runs under the signals and the missing input that cron, systemd, ssh
# and CI give them: SIGTERM, SIGHUP and SIGINT mid-step (a step that traps
# SIGTERM, one that ignores it), the grace before SIGKILL and a second
# signal, no process left behind, resume with --retry/--skip; gates without
# input; approve after the process died; a refused run and the breaker.
. "$(dirname "$0")/lib.sh"

command -v script >/dev/null || skip "script is not installed (Debian package util-linux)"

W="$T/ws"
mkdir -p "$W/plans"
echo "{}" >"$W/has.yaml"
export LOG="$T/log"
cd "$W" || exit 1
# Each plan's program carries its own number, so pgrep finds exactly it.
cat >"$W/plans/signals.yaml" <<'YAML'
kind: Plan
name: trapper
steps:
  - id: first
    exec: {command: [sh, -c, 'echo first >>"$LOG"']}
  - id: work
    needs: [first]
    exec:
      command: [sh, -c, 'trap "echo got-term >>\"$LOG\"; exit 143" TERM; echo started >>"$LOG"; [ -e "$LOG.fast" ] || { sleep 61 & wait; }']
  - id: last
    needs: [work]
    exec: {command: [sh, -c, 'echo last >>"$LOG"']}
---
kind: Plan
name: stubborn
steps:
  - id: work
    kill_grace: 1s
    exec: {command: [sh, -c, 'trap "" TERM; echo started >>"$LOG"; [ -e "$LOG.fast" ] || sleep 62']}
  - id: last
    needs: [work]
    exec: {command: [sh, -c, 'echo last >>"$LOG"']}
---
kind: Plan
name: patient
steps:
  - id: work
    kill_grace: 60s
    idempotent: true
    exec: {command: [sh, -c, 'trap "" TERM; echo started >>"$LOG"; [ -e "$LOG.fast" ] || sleep 63']}
---
kind: Plan
name: gated
steps:
  - id: gate
    confirm: {message: "go on?"}
  - id: after
    needs: [gate]
    exec: {command: [sh, -c, 'echo after >>"$LOG"']}
---
kind: Plan
name: guarded
protection: {rate: {runs: 1, per: 1h}, breaker: {failures: 1}}
steps:
  - id: work
    exec: {command: [sh, -c, 'echo guarded >>"$LOG"; [ -e "$LOG.fast" ] || sleep 64']}
YAML

# start PLAN: runs it in the background (no terminal) until its step started.
start() {
  : >"$LOG"; rm -f "$LOG.fast"
  "$HAS" plan run "$1" >"$T/bg.out" 2>"$T/bg.err" </dev/null &
  BG=$!
  for _ in $(seq 100); do grep -q started "$LOG" 2>/dev/null && break; sleep 0.1; done
  RUN=$(sqlite3 "$W/.has/state.db" "SELECT max(run_id) FROM plan_runs WHERE plan = '$1'")
}
# stop_with SIGNAL: sends it to has, waits; sets RC and SECONDS_TAKEN.
stop_with() {
  local begin=$(date +%s%N)
  kill "-$1" "$BG"
  wait "$BG"; RC=$?
  SECONDS_TAKEN=$(( ($(date +%s%N) - begin) / 1000000000 ))
}
journal() { # RUN: the state of the run and of each step, as "state step=state ..."
  "$HAS" -o json plan status "$1" | python3 -c '
import json, sys
d = json.load(sys.stdin)
steps = " ".join(s["step"] + "=" + s["state"] for s in d["steps"] if s["phase"] == "do")
print(d["state"], steps, "|", d["reason"])'
}
survivor() { pgrep -f "sleep $1" >/dev/null; }

# --- SIGTERM: a step that traps it ends at once, its outcome unknown -----
start trapper
stop_with TERM
[ "$RC" -eq 130 ] && ok || fail "SIGTERM: has exits 130 (got $RC)"
[ "$SECONDS_TAKEN" -lt 8 ] && ok || fail "SIGTERM: the trapping step ended at once, not after ${SECONDS_TAKEN}s"
grep -qx got-term "$LOG" && ok || fail "the step got SIGTERM first: $(cat "$LOG")"
survivor 61 && fail "SIGTERM left the step's sleep running" || ok
J=$(journal "$RUN")
case "$J" in "interrupted first=succeeded work=unknown | interrupted by SIGTERM"*) ok ;; *) fail "journal after SIGTERM: $J" ;; esac
run -o table plan status "$RUN"
expect_err "--retry work" "status says how to decide a step cut short"
run plan resume "$RUN"
expect_rc 1 "resume refuses a step whose outcome is unknown"
expect_err "--retry work" "and says how to decide"
touch "$LOG.fast"
run plan resume "$RUN" --skip work
expect_rc 0 "resume --skip counts the step as done"
[ "$(tail -1 "$LOG")" = last ] && ! grep -q "started" <(sed 1,3d "$LOG") && ok || fail "--skip: only what was left ran: $(cat "$LOG")"
J=$(journal "$RUN")
case "$J" in "succeeded first=succeeded work=skipped last=succeeded"*) ok ;; *) fail "journal after --skip: $J" ;; esac

# --- SIGHUP: a step that ignores SIGTERM is killed after its grace --------
start stubborn
stop_with HUP
[ "$RC" -eq 130 ] && ok || fail "SIGHUP: has exits 130 (got $RC), not 129 with the step orphaned"
[ "$SECONDS_TAKEN" -ge 1 ] && [ "$SECONDS_TAKEN" -lt 10 ] && ok || fail "SIGHUP: the grace of 1 s, then SIGKILL (took ${SECONDS_TAKEN}s)"
survivor 62 && fail "SIGHUP left the step that ignores SIGTERM running" || ok
J=$(journal "$RUN")
case "$J" in "interrupted work=unknown | interrupted by SIGHUP"*) ok ;; *) fail "journal after SIGHUP: $J" ;; esac
touch "$LOG.fast"
run plan resume "$RUN" --retry work
expect_rc 0 "resume --retry runs the step again"
[ "$(grep -c started "$LOG")" = 2 ] && grep -qx last "$LOG" && ok || fail "--retry ran the step again: $(cat "$LOG")"

# --- SIGINT twice: the second kills at once, within the grace -----------
start patient
kill -INT "$BG"; sleep 0.5
stop_with INT
[ "$RC" -eq 130 ] && ok || fail "two SIGINTs: has exits 130 (got $RC)"
[ "$SECONDS_TAKEN" -lt 8 ] && ok || fail "the second signal killed at once, not after the 60 s grace (${SECONDS_TAKEN}s)"
survivor 63 && fail "SIGINT left the step running" || ok
J=$(journal "$RUN")
case "$J" in "interrupted work=interrupted | interrupted by SIGINT"*) ok ;; *) fail "journal after SIGINT: $J" ;; esac
touch "$LOG.fast"
run plan resume "$RUN"
expect_rc 0 "an idempotent step cut short runs again by itself"

# --- gates without input --------------------------------------------------
: >"$LOG"
begin=$(date +%s)
echo y | "$HAS" --no-input plan run gated >"$T/out" 2>"$T/err"; RC=$?
[ "$RC" -eq 75 ] && ok || fail "--no-input: a gate ends the run as waiting, exit 75 (got $RC)"
[ $(( $(date +%s) - begin )) -lt 5 ] && ok || fail "--no-input: at once"
GRUN=$(sqlite3 "$W/.has/state.db" "SELECT max(run_id) FROM plan_runs WHERE plan = 'gated'")
grep -qF "has plan approve $GRUN gate" "$T/err" && ok || fail "--no-input: prints the approve command: $(cat "$T/err")"
[ "$(sqlite3 "$W/.has/state.db" "SELECT count(*) FROM locks")" = 0 ] && ok || fail "--no-input: the lock is free"
run plan run gated --explain -o json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["allowed"], d' "$T/stdout" && ok || fail "another run could start"

# --- approve after the waiting process died -------------------------------
: >"$LOG"
at_terminal "$T/gated.out" "\"$HAS\" -C \"$W\" plan run gated"
answer l
for _ in $(seq 100); do grep -q "approve with" "$T/gated.out" 2>/dev/null && break; sleep 0.1; done
GRUN=$(sqlite3 "$W/.has/state.db" "SELECT max(run_id) FROM plan_runs WHERE plan = 'gated'")
pkill -9 -f "plan run gated"
end_terminal
run plan approve "$GRUN" gate
expect_rc 0 "approve a run whose process died"
grep -qx after "$LOG" && ok || fail "approve continued the run here: $(cat "$LOG")"
J=$(journal "$GRUN")
case "$J" in "succeeded gate=succeeded after=succeeded"*) ok ;; *) fail "journal after approve: $J" ;; esac

# --- refused runs are not failures ------------------------------------------
touch "$LOG.fast"
run plan run guarded
expect_rc 0 "the first guarded run"
run plan run guarded
expect_rc 75 "the rate rule refuses the second"
REF=$(sqlite3 "$W/.has/state.db" "SELECT max(run_id) FROM plan_runs WHERE plan = 'guarded'")
J=$(journal "$REF")
case "$J" in "refused "*"blocked: rate"*) ok ;; *) fail "a refused run is recorded as refused: $J" ;; esac
run plan run guarded
expect_rc 75 "and the third"
run -o json plan protection
python3 -c '
import json, sys
d = {s["scope"]: s for s in json.load(open(sys.argv[1]))["scopes"]}
s = d["plan:guarded"]
assert s["consecutive_failures"] == 0 and not s["breaker_open"], s' "$T/stdout" && ok || fail "refused runs do not count for the breaker: $OUT"
# A run refused by the lock another run holds is refused too.
start stubborn
run plan run stubborn
expect_rc 75 "the lock refuses a second run"
REF=$(sqlite3 "$W/.has/state.db" "SELECT max(run_id) FROM plan_runs WHERE plan = 'stubborn'")
J=$(journal "$REF")
case "$J" in "refused "*"is held by run $RUN"*) ok ;; *) fail "a run refused by a lock is recorded as refused: $J" ;; esac
stop_with TERM
survivor 62 && fail "left the step running" || ok
finish
