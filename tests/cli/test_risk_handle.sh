#!/usr/bin/env bash
# has risk handle and scenarios: a failing inspection raises an event, the
# scenario covering it walks its tree, recommends plans and heals the fault
# on its own (the next inspection resolves the event); self-healing refused
# by a protection rule and by the kill switch, dry-run mode, --no-heal, an
# event no scenario covers, hostile event labels passed to a heal plan, and
# scenarios rejected by validation with file:line.
. "$(dirname "$0")/lib.sh"

W="$T/ws"
mkdir -p "$W"
cd "$W" || exit 1
# A webhook receiver standing in for the team's chat.
start_receiver "$T/received"
trap 'kill $RECEIVER 2>/dev/null; rm -rf "$T"' EXIT
cat >has.yaml <<YAML
state: .has/state.db
notifiers:
  ops: {kind: webhook, url: "http://127.0.0.1:$NPORT/hook"}
YAML
cat >defs.yaml <<'YAML'
kind: Rule
name: flag
probe: {exec: {command: [sh, -c, 'test -f flag && exit 0; test -f warn && exit 1; exit 2']}}
---
kind: Rule
name: other
probe: {exec: {command: [sh, -c, 'test -f other || exit 2']}}
---
kind: Rule
name: lonely
probe: {exec: {command: [sh, -c, 'test -f lonely || exit 2']}}
---
kind: Tree
name: why
start: check
nodes:
  check:
    use: flag
    branches: [{status: ok, next: fine}, {else: missing}]
  fine:
    diagnosis: {cause: all good, severity: ok}
  missing:
    diagnosis: {cause: the flag file is missing, severity: critical, plans: [{name: fix}]}
---
kind: Plan
name: fix
protection: {cooldown: 1h}
steps:
  - id: touch
    exec: {command: [touch, flag]}
---
kind: Plan
name: fix-other
steps:
  - id: touch
    exec: {command: [touch, other]}
---
kind: Plan
name: echo
params: {host: {type: string}}
steps:
  - id: log
    exec: {command: [sh, -c, 'printf "%s\n" "$1" >>echo.log', sh, "${{ params.host }}"]}
---
kind: Scenario
name: flag-gone
description: the flag file is gone
match: {source: inspect, labels: {rule: flag}, severity: [critical]}
tree: why
impact: "nothing works on ${{ event.labels.target }}"
heal: {plan: fix, mode: on}
notify: [ops]
---
kind: Scenario
name: other-gone
match: {labels: {rule: oth*}}
plans: [fix-other]
heal: {plan: fix-other}
grade:
  - {level: P1, when: "open_minutes >= 30 or open_events >= 3"}
  - {level: P2, when: "event.severity == 'critical'"}
  - {level: P3}
---
kind: Scenario
name: needs-env
match: {source: envtest}
plans: [{name: echo, params: {host: "${env:HAS_TEST_TOKEN}"}}]
---
kind: Scenario
name: from-outside
match: {source: json}
plans: [{name: echo, params: {host: "${{ event.labels.host }}"}}]
heal: {plan: echo, mode: on}
YAML
git init -q . && git add -A && git -c user.email=t@t -c user.name=t commit -qm defs

timeline_kinds() { "$HAS" risk show "$1" -o json | python3 -c 'import json,sys; print(" ".join(t["kind"] for t in json.load(sys.stdin)["timeline"]))'; }

run validate -o table
expect_rc 0 "the scenarios validate"
run risk scenarios -o json
python3 -c '
import json, sys
d = {s["name"]: s for s in json.load(open(sys.argv[1]))["scenarios"]}
assert d["flag-gone"]["tree"] == "why" and d["flag-gone"]["heal"] == {"plan": "fix", "mode": "on"}, d
assert d["other-gone"]["heal"]["mode"] == "dry-run" and d["other-gone"]["plans"] == ["fix-other"], d
' "$T/stdout" && ok || fail "scenarios: $OUT"

# Detect, diagnose, heal, resolve.
run inspect run flag -o json
expect_rc 2 "the flag is missing"
run risk handle --new -o json
expect_rc 0 "handled"
python3 -c '
import json, sys
h = json.load(open(sys.argv[1]))["handled"]
assert len(h) == 1, h
h = h[0]
assert h["event_id"] == 1 and h["scenario"] == "flag-gone" and h["impact"] == "nothing works on local", h
assert h["diagnosis"] == "the flag file is missing" and h["diagnosis_run"], h
assert h["recommended_plans"] == [{"plan": "fix", "params": {}, "from": "diagnosis"}], h
assert h["heal"] == "ran" and h["heal_state"] == "succeeded", h
' "$T/stdout" && ok || fail "handle json: $OUT"
[ -f flag ] && ok || fail "the heal plan ran"
python3 -c '
import json, sys
msgs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
assert len(msgs) == 1, msgs
m = msgs[0]
assert m["title"] == "risk event 1: flag failing on local" and m["status"] == "critical", m
assert "scenario: flag-gone" in m["text"] and "impact: nothing works on local" in m["text"], m
assert "self-healing ran plan fix" in m["text"], m
' "$T/received" && ok || fail "the chat was told: $(cat "$T/received" 2>/dev/null)"
run risk handle --new -o json
expect_out '"handled": []' "nothing new to handle"
run inspect run flag -o json
expect_rc 0 "healed"
[ "$(timeline_kinds 1)" = "opened scenario diagnosis plan plan heal resolved" ] && ok ||
  fail "timeline of a healed event: $(timeline_kinds 1)"
run plan history fix -o json
expect_out '"event_id": 1' "the heal run is linked to the event"
run risk review 1 -o json
python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
f = r["figures_ms"]
assert f["to_acknowledge"] is None and f["to_diagnose"] >= 0 and f["to_resolve"] >= f["to_mitigate"] >= f["to_diagnose"], f
assert r["healed"] is True and r["actions"][0]["plan"] == "fix" and r["actions"][0]["automatic"] is True, r
assert r["actions"][0]["state"] == "succeeded" and r["scenario"].startswith("scenario flag-gone"), r
assert r["diagnoses"] == ["tree why: the flag file is missing (critical)"], r
' "$T/stdout" && ok || fail "review json: $OUT"
run risk stats -o json
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["events"] == 1 and d["healed"] == 1 and d["open"] == 0, d
assert d["to_resolve"]["events"] == 1 and d["to_resolve"]["median_ms"] >= d["to_mitigate"]["median_ms"] >= 0, d
assert d["by_source"] == {"inspect": 1}, d
' "$T/stdout" && ok || fail "stats: $OUT"
run risk stats --since 2d -o table
expect_out "1 risk event first seen since" "stats as a table"
run risk stats --since soon
expect_rc 64 "a bad --since"
run risk review 1 -o markdown
expect_out "# Review of risk event 1: flag failing on local" "review heading"
expect_out " | fix | succeeded | self-healing | " "the heal in the actions"
expect_out "| resolved |" "the figures"

# Again within the plan's cooldown: the protection rule refuses.
rm flag
run inspect run flag -o json
run risk handle --new -o table
expect_rc 0 "a refused heal is not an error of handle"
expect_out "self-healing blocked" "says it was blocked"
expect_out "cooldown" "names the rule"
[ -f flag ] && fail "the refused plan ran" || ok
run risk show 2 -o json
expect_out '"kind": "heal"' "the refusal is on the timeline"
run risk review 2 -o json
python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
refused = [a for a in r["actions"] if a["plan"] == "fix"]
assert refused and all(a["automatic"] for a in refused), r["actions"]
' "$T/stdout" && ok || fail "the refused run counts as self-healing in the review: $OUT"

# The kill switch refuses every automatic run.
run plan reset fix
run plan pause --all --reason "change freeze"
run risk handle 2 -o json
expect_out '"heal": "blocked"' "paused: blocked"
expect_out "change freeze" "names why"
run plan resume --all
left=$(sqlite3 .has/state.db "SELECT group_concat(run_id || ':' || state) FROM plan_runs WHERE state IN ('running', 'waiting')")
[ -z "$left" ] && ok || fail "a refused heal left a plan run open: $left"

# --no-heal diagnoses and recommends only.
run risk handle 2 --no-heal -o json
python3 -c '
import json, sys
h = json.load(open(sys.argv[1]))["handled"][0]
assert h["heal"] == "none" and h["diagnosis"] == "the flag file is missing", h
' "$T/stdout" && ok || fail "--no-heal: $OUT"
[ -f flag ] && fail "--no-heal ran the plan" || ok

# Dry-run mode (the default) says what it would run, and runs nothing.
run inspect run other -o json
run risk handle --new -o json
python3 -c '
import json, sys
h = json.load(open(sys.argv[1]))["handled"][0]
assert h["scenario"] == "other-gone" and h["heal"] == "dry_run", h
assert "would run plan fix-other" in h["heal_text"], h
assert h["recommended_plans"] == [{"plan": "fix-other", "params": {}, "from": "scenario"}], h
' "$T/stdout" && ok || fail "dry run: $OUT"
[ -f other ] && fail "dry-run mode ran the plan" || ok
python3 -c 'import json,sys; h=json.load(open(sys.argv[1]))["handled"][0]; assert h["level"] == "P2", h' "$T/stdout" &&
  ok || fail "graded P2: $OUT"
OEV=$(sqlite3 .has/state.db "SELECT id FROM events WHERE status = 'open' AND fingerprint LIKE 'inspect:other:%'")
run risk list -o table
expect_out " P2 " "the list shows the level"
run risk grade -o json
expect_out '"regraded": []' "nothing changed yet"
# Open for more than 30 minutes: P1.
sqlite3 .has/state.db "UPDATE events SET first_seen = '2020-01-01T00:00:00.000Z' WHERE id = $OEV"
run risk grade -o json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["regraded"] == [{"event_id": int(sys.argv[2]), "level": "P1", "title": "other failing on local"}], d' "$T/stdout" "$OEV" &&
  ok || fail "regraded P1: $OUT"
run risk show "$OEV" -o json
expect_out '"text": "graded P1 (was P2)"' "the change is on the timeline"

# An event no scenario covers.
run inspect run lonely -o json
run risk handle --new -o table
expect_out "no scenario covers it" "uncovered"

# Hostile labels from outside reach the heal plan as one verbatim argument.
printf '{"title": "x", "source": "json", "labels": {"host": "$(touch %s/pwn) `touch %s/pwn2` ${env:HOME} ${{ 1 + 1 }}"}}' "$T" "$T" >"$T/evil.json"
run risk ingest "$T/evil.json"
run risk handle --new -o json
expect_out '"heal": "ran"' "the heal ran"
ls "$T" | grep -q pwn && fail "a label was executed" || ok
[ "$(cat echo.log)" = "\$(touch $T/pwn) \`touch $T/pwn2\` \${env:HOME} \${{ 1 + 1 }}" ] && ok || fail "verbatim: $(cat echo.log)"

# The receiver handles the events alerts open, on its own.
"$HAS" risk serve --listen 127.0.0.1:0 --handle 2>"$T/serve.log" &
pid=$!
for _ in $(seq 50); do grep -q "listening on" "$T/serve.log" && break; sleep 0.1; done
PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$T/serve.log")
curl -s -o /dev/null -X POST "http://127.0.0.1:$PORT/events" -d '{"title": "y", "source": "json", "labels": {"host": "served"}}'
for _ in $(seq 100); do grep -q "^served$" echo.log 2>/dev/null && break; sleep 0.1; done
grep -q "^served$" echo.log && ok || fail "serve --handle healed the new event: $(cat "$T/serve.log")"
for _ in $(seq 50); do grep -q "scenario from-outside" "$T/serve.log" && break; sleep 0.1; done
grep -q "event [0-9]*: scenario from-outside; self-healing ran plan echo" "$T/serve.log" && ok || fail "the log: $(cat "$T/serve.log")"
# The same alert again changes nothing; once it is critical it is handled again.
curl -s -o /dev/null -X POST "http://127.0.0.1:$PORT/events" -d '{"title": "y", "source": "json", "labels": {"host": "served"}}'
curl -s -o /dev/null -X POST "http://127.0.0.1:$PORT/events" -d '{"title": "y", "source": "json", "severity": "critical", "labels": {"host": "served"}}'
for _ in $(seq 100); do [ "$(grep -c "^served$" echo.log)" -ge 2 ] && break; sleep 0.1; done
[ "$(grep -c "^served$" echo.log)" = 2 ] && ok || fail "handled once more when it became critical: $(grep -c "^served$" echo.log)"
kill -TERM "$pid"
wait "$pid"
RC=$?
expect_rc 0 "serve --handle stops on SIGTERM"
run risk handle --new -o json
expect_out '"handled": []' "what serve handled is not handled again"

# An event handled as a warning (no scenario covers warnings) is handled
# again when it becomes critical, by the scenario for critical events.
run plan pause fix --reason "not now"
touch flag && run inspect run flag -o json && rm flag
touch warn
run inspect run flag -o json
expect_rc 1 "a warning"
WEV=$(sqlite3 .has/state.db "SELECT id FROM events WHERE status = 'open' AND severity = 'warning' AND fingerprint LIKE 'inspect:flag:%'")
run risk handle --new -o json
expect_out '"scenario": null' "no scenario for a warning"
rm warn
run inspect run flag -o json
expect_rc 2 "now critical"
run risk handle --new -o json
python3 -c '
import json, sys
h = [x for x in json.load(open(sys.argv[1]))["handled"] if x["event_id"] == int(sys.argv[2])]
assert len(h) == 1 and h[0]["scenario"] == "flag-gone", h
' "$T/stdout" "$WEV" && ok || fail "handled again once critical: $OUT"
run plan resume --plan fix
touch flag && run inspect run flag -o json

# Handling that fails says so on the timeline and is tried again.
unset HAS_TEST_TOKEN
run_new_env() { "$HAS" risk handle --new -o json >"$T/stdout" 2>"$T/stderr" </dev/null; RC=$?; OUT=$(cat "$T/stdout"); ERR=$(cat "$T/stderr"); }
printf '{"title": "e", "source": "envtest"}' >"$T/env.json"
run risk ingest "$T/env.json"
EV=$(sqlite3 .has/state.db "SELECT id FROM events WHERE source = 'envtest'")
run_new_env
expect_rc 1 "a failed handling exits 1"
expect_err "cannot handle it" "says so"
run risk show "$EV" -o json
expect_out "handling failed" "on the timeline"
export HAS_TEST_TOKEN=s3cret-token-value
run_new_env
expect_rc 0 "tried again by the next --new"
expect_out '"scenario": "needs-env"' "handled this time"
expect_no_out "s3cret-token-value" "a secret filled into a parameter is not printed"
expect_out '[redacted]' "it is shown redacted"
unset HAS_TEST_TOKEN

run risk handle
expect_rc 64 "handle needs ids or --new"
run risk handle 99
expect_rc 64 "an unknown event"

# Validation of scenarios, with file and line.
mkdir -p "$T/bad" && cd "$T/bad" || exit 1
cp "$W/has.yaml" .
sed -n '1,/^kind: Scenario/p' "$W/defs.yaml" | sed '$d' >defs.yaml
cat >>defs.yaml <<'YAML'
kind: Scenario
name: broken
match: {severity: [fatal], colour: red}
tree: wy
plans: [{name: fix, params: {nope: 1}}, nothing]
heal: {plan: fix-other, mode: maybe}
notify: [nobody]
grade: [{level: P1, when: "open_minutes >="}]
---
kind: Plan
name: gated
steps:
  - {id: ask, confirm: {message: "sure?"}}
---
kind: Scenario
name: gated-heal
match: {}
plans: [gated]
heal: {plan: gated, mode: on}
YAML
run validate -o table
expect_rc 65 "bad scenarios fail validation"
expect_out "severity 'fatal' is not one of" "bad severity"
expect_out "unknown field 'colour'" "unknown match field"
expect_out "scenario 'broken' names tree 'wy', which is not a known tree (did you mean 'why'?)" "unknown tree"
expect_out "scenario 'broken' gives unknown parameter 'nope' to plan 'fix'" "unknown parameter"
expect_out "scenario 'broken' recommends plan 'nothing', which is not a known plan" "unknown plan"
expect_out "field 'mode'" "bad mode"
expect_out "scenario 'broken' notifies 'nobody', which is not a notifier of has.yaml" "unknown notifier"
expect_out "open_minutes >=" "a grading rule's bad expression"
expect_out "scenario 'gated-heal' heals with plan 'gated', whose step gated/ask asks for a confirmation" "no gates in self-healing"
expect_out "defs.yaml:" "file and line"
finish
