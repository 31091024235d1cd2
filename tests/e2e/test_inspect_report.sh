#!/usr/bin/env bash
# Inspection reports: HTML rendered by a real headless Chromium (non-empty
# screenshot, no console errors, no network fetches), Markdown, JSON and
# JUnit parsed with real parsers, and the diff against the previous run.
. "$(dirname "$0")/../cli/lib.sh"

CHROMIUM=$(command -v chromium || true)
if [ -z "$CHROMIUM" ]; then
  echo "chromium is not installed (apt-get install chromium)" >&2
  exit 1
fi

W="$T/ws"
mkdir -p "$W"
echo "state: .has/state.db" > "$W/has.yaml"
cat > "$W/rules.yaml" <<YAML
kind: Rule
name: flag
probe: {exec: {command: [test, -e, "$T/flag"]}}
---
kind: Rule
name: steady
probe: {exec: {command: [sh, -c, "echo 'OK <b>&amp;</b> fine|time=0.01s'"]}}
---
kind: Rule
name: shot
probe: {exec: {command: [sh, -c, "echo '{\\"screenshot\\": \\"$T/shot.png\\", \\"status\\": \\"critical\\", \\"message\\": \\"page broke\\"}'"]}}
---
kind: Rule
name: always-down
probe: {exec: {command: [sh, -c, "echo 'DOWN <script>alert(1)</script>'; exit 2"]}}
YAML
cd "$W"
# A screenshot as the page probe leaves one on failure: a real PNG, made by
# Chromium itself.
echo '<html><body style="background:#c62828">broken page</body></html>' > "$T/broken.html"
"$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --disable-quic --user-data-dir="$T/chromium0" \
  --window-size=320,200 --screenshot="$T/shot.png" "file://$T/broken.html" >/dev/null 2>&1
touch "$T/flag"
run inspect run
expect_rc 2 "first run"
rm "$T/flag"
run inspect run --report "$T/report.html"
expect_rc 2 "second run"
expect_err "report written to $T/report.html" "run --report"

# HTML: self-contained, escaped, with the diff and the trend.
grep -q '<script' "$T/report.html" && fail "the report contains a script element" || ok
grep -qE '(src|href)="https?:' "$T/report.html" && fail "the report fetches from the network" || ok
grep -q 'DOWN &lt;script&gt;alert(1)&lt;/script&gt;' "$T/report.html" && ok || fail "plugin output is escaped"
grep -q '<b>newly failing</b>: flag on local' "$T/report.html" && ok || fail "diff shows the new failure"
grep -q '<b>still failing</b>: always-down on local' "$T/report.html" && ok || fail "diff shows the failure that stays"
grep -q 'Recent runs per rule' "$T/report.html" && ok || fail "trend section"
grep -q 'workspace commit' "$T/report.html" && ok || fail "provenance"
grep -q '<img class="shot" alt="screenshot of the failed page" src="data:image/png;base64,iVBORw0KGgo' "$T/report.html" \
  && ok || fail "the page screenshot is embedded"

# Render it in Chromium: a non-empty screenshot and no console errors.
"$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --disable-quic --user-data-dir="$T/chromium" \
  --enable-logging=stderr --v=0 --window-size=1200,1600 \
  --screenshot="$T/report.png" "file://$T/report.html" >"$T/chromium.out" 2>"$T/chromium.err"
python3 - "$T/report.png" <<'PY' && ok || fail "screenshot of the report"
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
width, height = struct.unpack(">II", data[16:24])
assert width >= 800 and height >= 800, (width, height)
# Decode the image enough to see that it is not blank: count distinct bytes.
chunks, pos = b"", 8
while pos < len(data):
    length = struct.unpack(">I", data[pos:pos + 4])[0]
    kind = data[pos + 4:pos + 8]
    if kind == b"IDAT":
        chunks += data[pos + 8:pos + 8 + length]
    pos += 12 + length
pixels = zlib.decompress(chunks)
assert len(set(pixels[: 4 * width * 200])) > 8, "the top of the page is blank"
PY
grep -E 'CONSOLE|Uncaught|ERR_FILE_NOT_FOUND' "$T/chromium.err" && fail "console errors while rendering" || ok

# Markdown, JSON and JUnit of the same run.
run inspect report --out "$T/report.md"
expect_rc 0 "markdown report"
grep -q '| always-down | local | critical |' "$T/report.md" && ok || fail "markdown table row"
run -o json inspect report
expect_rc 0 "json report"
python3 - "$T/stdout" <<'PY' && ok || fail "json report content"
import json, sys
doc = json.load(open(sys.argv[1]))
run = doc["run"]
assert run["has_version"] and run["host"] and run["user"], run
assert doc["extras"]["diff"]["new"] == ["flag on local"], doc["extras"]
assert doc["extras"]["trend"]["flag"] == ["ok", "warning"], doc["extras"]["trend"]
PY
run -o junit inspect report
python3 - "$T/stdout" <<'PY' && ok || fail "junit report parses"
import sys, xml.etree.ElementTree as ET
root = ET.fromstring(open(sys.argv[1]).read())
assert root.get("tests") == "4" and root.get("failures") == "3", root.attrib
PY
run inspect report 424242
expect_rc 1 "report of a missing run"

finish
