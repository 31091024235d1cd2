#!/usr/bin/env bash
# has inspect: exit codes, output formats, hysteresis across invocations,
# events, concurrency limits, timeouts, hostile parameters, many processes.
. "$(dirname "$0")/lib.sh"

W="$T/ws"
mkdir -p "$W/rules"
cat > "$W/has.yaml" <<'YAML'
state: .has/state.db
defaults: {timeout: 5s}
YAML
cat > "$W/rules/basic.yaml" <<YAML
kind: Rule
name: always-ok
labels: {group: basic}
probe: {exec: {command: ["true"]}}
---
kind: Rule
name: flag
description: the flag file exists
labels: {group: flag}
probe: {exec: {command: [test, -e, "$T/flag"]}}
fail_after: 2
recover_after: 2
---
kind: Rule
name: crit
labels: {group: crit}
probe: {exec: {command: [sh, -c, "echo 'DOWN|load=7;1;5;0;' ; exit 2"]}}
---
kind: Rule
name: perf
labels: {group: perf}
probe: {exec: {command: [sh, -c, "echo 'OK - fine|time=0.25s;1;2 size=1024B'"]}}
expect: [time < 1, size == 1024]
warning: {time: "~:0.1"}
---
kind: Rule
name: json-out
labels: {group: json}
probe: {exec: {command: [sh, -c, "echo '{\"ready\": true, \"queue\": 3}'"]}}
expect: ["ready == true", "queue < 10"]
---
kind: Rule
name: typo-value
labels: {group: unknown}
probe: {exec: {command: ["true"]}}
expect: [statuz == 0]
YAML

cd "$W"
run inspect run always-ok
expect_rc 0 "one ok rule"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); r=d["results"][0]; assert (r["rule"],r["status"],r["target"])==("always-ok","ok","local"), r; assert d["run"]["id"]>=1' "$T/stdout" && ok || fail "json document of a run"

run -o table inspect run --label group=perf --explain
expect_rc 1 "warning threshold"
expect_out "time 0.25 is outside the warning range ~:0.1" "threshold message with the value"
expect_out "expect   passed  time < 1  with time=0.25" "explain shows the values"

run -o table inspect run crit
expect_rc 2 "critical plugin"
expect_out "DOWN" "plugin message"
run inspect run --label group=unknown
expect_rc 3 "unknown value"
expect_out "unknown value 'statuz'" "names the missing value"
run inspect run --label group=json
expect_rc 0 "JSON on stdout becomes values"

# Retries within a run: fails once, passes on the second attempt.
cat > "$W/rules/retry.yaml" <<YAML
kind: Rule
name: second-time
labels: {group: retry}
probe: {exec: {shell: "test -e $T/tried || { touch $T/tried; exit 2; }"}}
retries: 2
retry_delay: 100ms
YAML
run inspect run second-time
expect_rc 0 "a retry that passes"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; assert r["attempts"]==2 and r["status"]=="ok", r' "$T/stdout" && ok || fail "two attempts recorded"
rm "$W/rules/retry.yaml"

# Hysteresis across separate invocations: fail_after 2, recover_after 2.
rm -f "$T/flag"
run inspect run flag
expect_rc 0 "first failure is held back"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; assert r["pending"] and r["raw_status"]=="warning" and r["status"]=="ok", r' "$T/stdout" && ok || fail "pending first failure"
run inspect run flag
expect_rc 1 "second failure counts"
run inspect run flag
expect_rc 1 "still failing"
touch "$T/flag"
run -o table inspect run flag
expect_rc 1 "first pass is held back"
expect_out "warning (recovering)" "recovering shown"
run inspect run flag
expect_rc 0 "second pass recovers"
events=$(sqlite3 .has/state.db "select status || ':' || count from events where fingerprint='inspect:flag:local'")
[ "$events" = "resolved:3" ] && ok || fail "one event, bumped, then resolved: got '$events'"

# A later failure opens a new event; repeated failures bump the same one.
run inspect run crit
run inspect run crit
open=$(sqlite3 .has/state.db "select count(*) || ':' || max(count) from events where fingerprint='inspect:crit:local' and status='open'")
[ "$open" = "1:3" ] && ok || fail "crit has one open event seen 3 times: got '$open'"

# A silence mutes a failing rule: recorded, no event, exit status untouched.
cat > "$W/rules/silence.yaml" <<'YAML'
kind: Rule
name: muted-crit
labels: {group: muted}
probe: {exec: {command: [sh, -c, "echo BROKEN; exit 2"]}}
---
kind: Silence
name: window
starts: 2000-01-01T00:00:00Z
ends: 2200-01-01T00:00:00Z
rules: [muted-crit]
reason: under maintenance
YAML
run -o table inspect run muted-crit
expect_rc 0 "a muted failure does not fail the run"
expect_out "critical muted (window)" "muted shown with its silence"
n=$(sqlite3 .has/state.db "select count(*) from events where fingerprint='inspect:muted-crit:local'")
[ "$n" = "0" ] && ok || fail "a muted failure raised an event"
m=$(sqlite3 .has/state.db "select muted || raw_status from inspect_results where rule='muted-crit'")
[ "$m" = "1critical" ] && ok || fail "muted result recorded: '$m'"
rm "$W/rules/silence.yaml"

# Stored values: a long string is cut (the state keeps 4096 characters of
# it), short ones are stored whole.
cat > "$W/rules/long.yaml" <<'YAML'
kind: Rule
name: long-output
probe: {exec: {command: [sh, -c, "head -c 6000 /dev/zero | tr '\\0' x; echo; echo short"]}}
YAML
run inspect run long-output
expect_rc 0 "a rule with a long output"
sqlite3 .has/state.db "select values_json from inspect_results where rule='long-output'" >"$T/values.json"
python3 - "$T/values.json" <<'PY' && ok || fail "stored values are bounded"
import json, sys
values = json.load(open(sys.argv[1]))
texts = [v for v in values.values() if isinstance(v, str)]
long = [t for t in texts if t.endswith("x\u2026")]
assert long and all(len(t) == 4097 for t in long), [len(t) for t in texts]
assert all(len(t) <= 4097 for t in texts), [len(t) for t in texts]
PY
rm "$W/rules/long.yaml"

# Formats.
run -o ndjson inspect run --label group=basic --label group=basic
expect_rc 0 "ndjson"
python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$T/stdout" && ok || fail "ndjson lines parse"
run -o junit inspect run
python3 - "$T/stdout" <<'PY' && ok || fail "junit parses with the failures counted"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "testsuites", root.tag
assert int(root.get("tests")) == 6, root.attrib
assert int(root.get("failures")) == 2 and int(root.get("errors")) == 1, root.attrib
names = {s.get("name") for s in root.findall("testsuite")}
assert "crit" in names and "perf" in names, names
PY
run -o table inspect list
expect_rc 0 "list"
expect_out "flag" "list shows rules"
expect_out "local:ok" "list shows the last status"
run -o table inspect history flag
expect_rc 0 "history"
[ "$(grep -c ' flag ' <<<"$OUT")" -ge 5 ] && ok || fail "history has every run of flag"
run -o json inspect show 1
expect_rc 0 "show run 1"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["run"]["id"]==1 and d["results"][0]["rule"]=="always-ok"' "$T/stdout" && ok || fail "show json"
run inspect show 99999
expect_rc 1 "show of a missing run"
run inspect run nosuch
expect_rc 64 "unknown rule"
expect_err "no rule named 'nosuch'" "unknown rule message"

# Hostile parameter values reach programs as argv, never through a shell.
cat > "$W/rules/echo.yaml" <<'YAML'
kind: Rule
name: echo-arg
params:
  text: {description: anything}
probe: {exec: {command: [printf, "%s", "${{ params.text }}"]}}
YAML
cat > "$W/rules/hostile.yaml" <<YAML
kind: Rule
name: hostile
labels: {group: hostile}
use: echo-arg
with: {text: "\$(touch $T/pwned1); touch $T/pwned2 \`touch $T/pwned3\` | touch $T/pwned4"}
expect: ['stdout:find("touch", 1, true) ~= nil']
YAML
run inspect run hostile
expect_rc 0 "hostile text is printed, not run"
ls "$T"/pwned* >/dev/null 2>&1 && fail "a hostile parameter was executed" || ok

# A hung plugin and its children are killed at the timeout.
cat > "$W/rules/hang.yaml" <<'YAML'
kind: Rule
name: hang
labels: {group: hang}
probe: {exec: {command: [sh, -c, "sleep 31337 & sleep 31337"], timeout: 1s}}
YAML
start=$(date +%s%N)
run inspect run hang
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
expect_rc 2 "timeout is critical"
expect_out "timed out" "timeout message"
[ "$elapsed" -lt 4000 ] && ok || fail "hung plugin took ${elapsed} ms"
sleep 0.2
pgrep -f "sleep 31337" >/dev/null && fail "children of the hung plugin survived" || ok

# The concurrency limit holds: 8 checks that each take 0.3 s, 2 at a time.
mkdir -p "$T/marks"
for i in 1 2 3 4 5 6 7 8; do
cat >> "$W/rules/slow.yaml" <<YAML
---
kind: Rule
name: slow-$i
labels: {group: slow}
probe: {exec: {shell: "date +%s%N > $T/marks/$i.start; sleep 0.3; date +%s%N > $T/marks/$i.end"}}
YAML
done
run inspect run --label group=slow --concurrency 2
expect_rc 0 "slow checks"
python3 - "$T/marks" <<'PY' && ok || fail "more than 2 checks overlapped"
import glob, os, sys
spans = []
for start in glob.glob(os.path.join(sys.argv[1], "*.start")):
    end = start[:-6] + ".end"
    spans.append((int(open(start).read()), int(open(end).read())))
assert len(spans) == 8, spans
peak = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
assert peak <= 2, peak
PY

# Eight has processes writing to one state file at once all succeed.
before=$(sqlite3 .has/state.db "select count(*) from runs")
pids=()
for i in 1 2 3 4 5 6 7 8; do
  "$HAS" inspect run --label group=basic >"$T/par$i.out" 2>"$T/par$i.err" &
  pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
[ "$failed" -eq 0 ] && ok || fail "$failed of 8 concurrent runs failed: $(cat "$T"/par*.err)"
after=$(sqlite3 .has/state.db "select count(*) from runs")
[ $((after - before)) -eq 8 ] && ok || fail "expected 8 new runs, got $((after - before))"

# Ctrl-C (SIGINT) ends the run with 130 and takes the plugins with it; the
# next run records the killed one as interrupted.
cat > "$W/rules/long.yaml" <<'YAML'
kind: Rule
name: long
labels: {group: long}
probe: {exec: {command: [sh, -c, "sleep 4242 & sleep 4242"], timeout: 60s}}
YAML
"$HAS" inspect run long >"$T/int.out" 2>"$T/int.err" &
pid=$!
for _ in $(seq 50); do pgrep -f "sleep 4242" >/dev/null && break; sleep 0.1; done
kill -INT "$pid"
wait "$pid"; rc=$?
[ "$rc" -eq 130 ] && ok || fail "interrupted run exits 130, got $rc"
grep -q "has: interrupted" "$T/int.err" && ok || fail "interrupt message"
sleep 0.2
pgrep -f "sleep 4242" >/dev/null && fail "plugins survived the interrupt" || ok
killed=$(sqlite3 .has/state.db "select id from runs where status='running'")
[ -n "$killed" ] && ok || fail "the killed run is recorded as running"
run inspect run always-ok
status=$(sqlite3 .has/state.db "select status from runs where id=$killed")
[ "$status" = "interrupted" ] && ok || fail "the killed run is marked interrupted, got '$status'"

# Broken definitions stop the run with file:line.
printf 'kind: Rule\nname: broken\nprobe: {exec: {comand: [x]}}\n' > "$W/rules/broken.yaml"
run inspect run
expect_rc 65 "broken definitions"
expect_err "rules/broken.yaml:3:" "position of the error"
expect_err "help: run 'has validate'" "points at validate"

finish
