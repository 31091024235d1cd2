#!/usr/bin/env bash
# examples/diagnose must stay valid and runnable: validate it, replay its
# test cases, and walk the tree for real over a scratch directory.
. "$(dirname "$0")/lib.sh"

EX="$HAS_SOURCE/examples/diagnose"
DB="$T/state.db"
D="$T/web"
mkdir -p "$D"
has_ex() { run -C "$EX" --state "$DB" "$@"; }

has_ex validate
expect_rc 0 "the example validates"

has_ex -o table diagnose test web-unhealthy
expect_rc 0 "its test cases pass"
expect_out "4 of 4 cases passed; branches covered: 5 of 5" "full branch coverage"

echo '{"active": 95, "max": 100}' > "$D/health.json"
has_ex -o table diagnose run web-unhealthy -v "dir=$D"
expect_rc 1 "overloaded"
expect_out "too many connections (warning, confidence 80%)" "overloaded diagnosis"
expect_out "95 of 100 connections in use" "explanation"

echo '{"active": 5, "max": 100}' > "$D/health.json"
has_ex diagnose run web-unhealthy -v "dir=$D"
expect_rc 0 "healthy"

rm "$D/health.json"
has_ex diagnose run web-unhealthy -v "dir=$D"
expect_rc 3 "needs an answer"
expect_out "node 'deploy' asks" "names the question"
has_ex -o table diagnose run web-unhealthy -v "dir=$D" --answer deploy=yes
expect_rc 2 "down after a deploy"
expect_out "the last deploy broke the service" "bad deploy diagnosis"

has_ex -o table diagnose history web-unhealthy
expect_rc 0 "history"
expect_out "the last deploy broke the service" "history lists the walk"

has_ex diagnose graph web-unhealthy -o dot
expect_rc 0 "graph"
if command -v dot >/dev/null; then
  dot -Tsvg "$T/stdout" >"$T/tree.svg" && grep -q "<svg" "$T/tree.svg" && ok || fail "dot -Tsvg"
fi
[ -e "$EX/.has" ] && fail "the example's directory got a state file" || ok

finish
