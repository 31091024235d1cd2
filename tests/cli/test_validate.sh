#!/usr/bin/env bash
# has validate on good and broken workspaces; has init then validate.
. "$(dirname "$0")/lib.sh"

# init writes a workspace that validates.
run init "$T/ws"
expect_rc 0 "init"
expect_out "has.yaml" "init lists has.yaml"
[ -f "$T/ws/has.yaml" ] && [ -f "$T/ws/rules/root-disk.yaml" ] && [ -f "$T/ws/.gitignore" ] && ok || fail "init files"
grep -qx '.has/' "$T/ws/.gitignore" && ok || fail ".gitignore ignores the state dir"
run -C "$T/ws" -o table validate
expect_rc 0 "validate after init"
expect_out "ok: " "validate success line"
run init "$T/ws"
expect_rc 1 "init refuses to overwrite"
expect_err "already exists" "init overwrite message"
expect_err "help: pass --force" "init overwrite help"
run init --force "$T/ws"
expect_rc 0 "init --force"

# Discovery walks up from the current directory.
mkdir -p "$T/ws/rules/deep"
(cd "$T/ws/rules/deep" && "$HAS" -o table validate >/dev/null 2>&1) && ok || fail "validate from a subdirectory"
(cd "$T" && "$HAS" validate >/dev/null 2>"$T/err"); rc=$?
[ $rc -eq 64 ] && ok || fail "validate outside a workspace exits 64, got $rc"
grep -q "not inside a has workspace" "$T/err" && ok || fail "outside-workspace message"

# A broken workspace: every error, with file:line:col, exit 65.
mkdir -p "$T/bad/rules"
echo "inventory: {hosts: [{name: web1, address: 127.0.0.1}]}" > "$T/bad/has.yaml"
cat > "$T/bad/rules/a.yaml" <<'YAML'
kind: Rule
name: a
probe:
  http: {url: "http://x", timout: 2s}
expect:
  - status == 200 and
YAML
cat > "$T/bad/rules/b.yaml" <<'YAML'
kind: Rule
name: b
probe: {tcp: {port: 22}}
severity: fatal
---
kind: Rule
name: a
probe: {tcp: {port: 1}}
YAML
printf 'kind: Rule\nname: [x\n' > "$T/bad/rules/c.yaml"
cd "$T/bad"
run -o table validate
expect_rc 65 "broken workspace"
expect_out "rules/a.yaml:4:27: error: unknown field 'timout' in http probe (did you mean 'timeout'?)" "typo with position"
expect_out "rules/a.yaml:6:5: error:" "expression syntax error position"
expect_out "rules/b.yaml:4:11: error: field 'severity' must be one of warning, critical, not 'fatal'" "bad choice"
expect_out "rules/b.yaml:6:1: error: duplicate Rule 'a': also defined at rules/a.yaml:1:1" "duplicate name"
expect_out "rules/c.yaml:3:1: error: YAML syntax error" "YAML syntax error"
expect_err "5 errors" "summary on stderr"

run validate -o json
expect_rc 65 "json output exit code"
python3 - "$T/stdout" <<'PY' && ok || fail "validate json shape"
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["valid"] is False, doc
assert doc["errors"] == 5, doc
d = [x for x in doc["diagnostics"] if "timout" in x["message"]][0]
assert (d["file"], d["line"], d["column"], d["severity"]) == ("rules/a.yaml", 4, 27, "error"), d
PY

run -o ndjson validate
expect_rc 65 "ndjson exit code"
[ "$(wc -l < "$T/stdout")" -eq 5 ] && ok || fail "ndjson has one line per error"

run -o yaml validate
expect_out "valid: false" "yaml output"
run -o markdown validate
expect_out "| location | severity | message |" "markdown header"
run -o junit validate
expect_rc 64 "unsupported format for validate"

# A missing or broken has.yaml.
mkdir -p "$T/nocfg"
run -C "$T/nocfg" validate
expect_rc 64 "-C without has.yaml"
expect_err "no has.yaml in" "-C message"
run -C "$T/does-not-exist" validate
expect_rc 64 "-C to a missing dir"
mkdir -p "$T/badcfg" && printf 'state: [\n' > "$T/badcfg/has.yaml"
run -C "$T/badcfg" -o table validate
expect_rc 65 "broken has.yaml"
expect_out "has.yaml:2:1: error: YAML syntax error" "has.yaml syntax error position"

# The quick start workspace runs, state in a file of the test's own.
run -C "$HAS_SOURCE/examples/quickstart" --state "$T/quickstart.db" inspect run
[ "$RC" -le 1 ] && ok || fail "quickstart inspect run exits $RC"
python3 - "$T/stdout" <<'PY' && ok || fail "quickstart results"
import json, sys
results = {r["rule"]: r["status"] for r in json.load(open(sys.argv[1]))["results"]}
assert results["tmp-writable"] == "ok" and results["shell-works"] == "ok", results
assert results["root-disk"] in ("ok", "warning"), results  # the disk of the machine decides
PY

# The shipped examples validate.
for example in "$HAS_SOURCE"/examples/*/; do
  run -C "$example" -o table validate
  expect_rc 0 "example $example validates"
done

finish
