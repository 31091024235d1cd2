#!/usr/bin/env bash
# Unit test names must not hold ',' or ';': CTest splits a discovered name
# there and doctest splits its --test-case filter at ',', so such a test
# case becomes names that match nothing and "pass" without running.
. "$(dirname "$0")/lib.sh"

# bad_names FILE...: prints file:line: name for every offending test case.
bad_names() {
  python3 - "$@" <<'PY'
import re, sys
pattern = re.compile(r'\b(?:TEST_CASE|TEST_CASE_FIXTURE|TEST_CASE_TEMPLATE|SCENARIO)\s*\(\s*'
                     r'(?:[A-Za-z_][A-Za-z0-9_:<>]*\s*,\s*)?"((?:[^"\\]|\\.)*)"', re.S)
for path in sys.argv[1:]:
    text = open(path, encoding="utf-8").read()
    for match in pattern.finditer(text):
        if "," in match.group(1) or ";" in match.group(1):
            line = text.count("\n", 0, match.start()) + 1
            print(f"{path}:{line}: {match.group(1)}")
PY
}

# The check itself must catch what it is for.
cat >"$T/sample.cpp" <<'CPP'
TEST_CASE("fine name") {}
TEST_CASE("one, two") {}
TEST_CASE_FIXTURE(Fixture, "three; four") {}
TEST_CASE(
  "split \"quoted, name\" over lines") {}
CPP
found=$(bad_names "$T/sample.cpp")
[ "$(wc -l <<<"$found")" -eq 3 ] && ok || fail "the check finds commas and semicolons: $found"
grep -q 'fine name' <<<"$found" && fail "the check flags a good name" || ok

shopt -s nullglob
files=("$HAS_SOURCE"/tests/unit/*.cpp)
[ "${#files[@]}" -gt 0 ] && ok || fail "no unit test sources under $HAS_SOURCE/tests/unit"
found=$(bad_names "${files[@]}")
if [ -z "$found" ]; then
  ok
else
  OUT=$found
  fail "unit test names with ',' or ';' (write ' and ' or ' - ' instead)"
fi

finish
