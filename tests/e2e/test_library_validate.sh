#!/usr/bin/env bash
# Every template of the shipped library (plugins/rules/*.yaml) can be used:
# a workspace with one rule per template, giving only its required
# parameters, validates, and lists each rule with its template's probe.
. "$(dirname "$0")/../cli/lib.sh"

W="$T/ws"
mkdir -p "$W"
echo "{}" > "$W/has.yaml"
# Templates are the library's rules with params; a parameter written without
# a default is required and gets a placeholder that its probe accepts
# (validate builds each probe as a run would, but does not run it).
python3 - "$HAS_SOURCE/plugins/rules" "$W/all.yaml" "$T/expected" <<'PY' || { echo "FAIL: cannot read the library"; exit 1; }
import glob, re, sys
docs, expected = [], []
for path in sorted(glob.glob(sys.argv[1] + "/*.yaml")):
    for doc in re.split(r"^---$", open(path).read(), flags=re.M):
        name = re.search(r"^name: (\S+)$", doc, re.M)
        params = re.search(r"^params:\n((?:  .*\n)+)", doc, re.M)
        probe = re.search(r"^probe:\n  (\w+):", doc, re.M)
        if not (name and params and probe):
            continue
        required = [m.group(1) for m in re.finditer(r"^  (\w+): \{(.*)\}$", params.group(1), re.M)
                    if "default:" not in m.group(2)]
        placeholders = {"url": "https://127.0.0.1/", "port": "80", "name": "localhost",
                        "dsn": "host=127.0.0.1 dbname=postgres"}
        with_ = ", ".join(f'{p}: "{placeholders.get(p, "x")}"' for p in required)
        docs.append(f"kind: Rule\nname: use-{name.group(1)}\nuse: {name.group(1)}\nwith: {{{with_}}}\n")
        expected.append(f"use-{name.group(1)} {probe.group(1)}")
assert len(docs) >= 15, docs
open(sys.argv[2], "w").write("---\n".join(docs))
open(sys.argv[3], "w").write("\n".join(expected) + "\n")
PY

run -C "$W" validate
expect_rc 0 "a workspace using every library template validates"

run -C "$W" -o json inspect list
expect_rc 0 "inspect list"
python3 - "$T/stdout" "$T/expected" <<'PY' && ok || fail "every template's rule is listed with its probe"
import json, sys
listed = {r["rule"]: r["probe"] for r in json.load(open(sys.argv[1]))["rules"]}
for line in open(sys.argv[2]):
    name, probe = line.split()
    assert listed.get(name) == probe, (name, probe, listed)
PY

# A required parameter left out is named.
printf 'kind: Rule\nname: bad\nuse: tls-cert-file\n' > "$W/bad.yaml"
run -C "$W" validate
expect_rc 65 "a missing required parameter fails validation"
expect_out "must give parameter 'path' of 'tls-cert-file'" "the parameter named"

finish
