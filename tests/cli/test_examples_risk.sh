#!/usr/bin/env bash
# examples/risk must stay valid and do what its README says: a crash healed
# on its own, a full disk left to a person with the plan recommended.
. "$(dirname "$0")/lib.sh"

EX="$HAS_SOURCE/examples/risk"
DB="$T/state.db"
export EXAMPLE_DIR="$T/server"
mkdir -p "$EXAMPLE_DIR"
has_ex() { run -C "$EX" --state "$DB" "$@"; }

has_ex validate
expect_rc 0 "the example validates"
has_ex -o table diagnose test app-down
expect_rc 0 "the tree's cases pass"
expect_out "2 of 2 cases passed" "both cases"
has_ex -o table risk scenarios
expect_out "restart-app (on)" "the scenario heals"

# A crash, healed on its own.
has_ex -o table inspect run
expect_rc 2 "the app is down"
has_ex -o table risk handle --new
expect_rc 0 "handled"
expect_out "diagnosis (run 2): the app crashed" "diagnosed"
expect_out "self-healing ran plan restart-app (run 3): succeeded" "healed"
[ -f "$EXAMPLE_DIR/app.up" ] && ok || fail "the app was started"
has_ex -o table inspect run
expect_rc 0 "up again"
has_ex -o json risk show 1
expect_out '"status": "resolved"' "the event is resolved"
has_ex -o markdown risk review 1
expect_out "| restart-app | succeeded | self-healing |" "the review names the heal"

# A full disk, for a person.
rm "$EXAMPLE_DIR/app.up"
touch "$EXAMPLE_DIR/disk.full"
has_ex inspect run
expect_rc 2 "down again"
has_ex -o table risk handle --new
expect_out "diagnosis (run 6): the disk is full" "the disk"
expect_out "recommended (diagnosis): has plan run clean-disk --event 2" "the plan for a person"
expect_out "does not recommend plan restart-app" "no self-healing"
[ -f "$EXAMPLE_DIR/app.up" ] && fail "restarted although the disk is full" || ok
has_ex risk ack 2 -m "cleaning up"
expect_rc 0 "ack"
has_ex plan run clean-disk --event 2 --yes
expect_rc 0 "the plan for the disk"
[ ! -f "$EXAMPLE_DIR/disk.full" ] && [ -f "$EXAMPLE_DIR/app.up" ] && ok || fail "cleaned and started"
has_ex inspect run
expect_rc 0 "up"
has_ex -o json risk show 2
python3 -c '
import json, sys
kinds = [t["kind"] for t in json.load(open(sys.argv[1]))["timeline"]]
assert kinds == ["opened", "scenario", "diagnosis", "heal", "acknowledged", "comment", "plan", "plan", "resolved"], kinds
' "$T/stdout" && ok || fail "the timeline of the disk event: $OUT"
finish
