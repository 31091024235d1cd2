#!/usr/bin/env bash
# has state: where the state file is, what it holds, and the overrides.
. "$(dirname "$0")/lib.sh"

W="$T/ws"
mkdir -p "$W"
echo "kind: Rule
name: ok
probe: {exec: {command: [\"true\"]}}" > "$W/rules.yaml"
echo "" > "$W/has.yaml"
cd "$W"

run state path
expect_rc 0 "state path"
[ "$OUT" = "$W/.has/state.db" ] && ok || fail "default path is .has/state.db in the workspace: '$OUT'"
[ -e "$W/.has/state.db" ] && fail "state path created the file" || ok

run state info
expect_rc 0 "state info on a new workspace"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["runs"]==0 and d["schema_version"]>=3 and "last_run" not in d, d' "$T/stdout" && ok || fail "empty state"
[ "$(stat -c %a "$W/.has/state.db")" = "600" ] && ok || fail "state file mode 0600"

run inspect run
run inspect run
run -o table state info
expect_rc 0 "state info table"
expect_out "runs            2" "counts the runs"
expect_out "last run        #2 inspect" "names the last run"

# --state, HAS_STATE and has.yaml's state, in that order.
echo "state: custom/s.db" > "$W/has.yaml"
run state path
[ "$OUT" = "$W/custom/s.db" ] && ok || fail "has.yaml state: '$OUT'"
HAS_STATE="$T/env.db" run state path
[ "$OUT" = "$T/env.db" ] && ok || fail "HAS_STATE: '$OUT'"
HAS_STATE="$T/env.db" run --state "$T/flag.db" state path
[ "$OUT" = "$T/flag.db" ] && ok || fail "--state wins: '$OUT'"

# A file from a newer has, or not a database at all, is refused with 74.
sqlite3 "$T/newer.db" "PRAGMA user_version = 999"
run --state "$T/newer.db" state info
expect_rc 74 "newer schema refused"
expect_err "has schema version 999, newer than this has knows" "names both versions"
echo "not sqlite" > "$T/junk.db"
run --state "$T/junk.db" state info
expect_rc 74 "not a database"
run state
expect_rc 64 "a verb is required"

finish
