#!/usr/bin/env bash
# 5,000 HTTP checks against a local nginx at concurrency 64, timed in the same
# run for has, curl --parallel and xargs -P 64 check_http; each check fetches
# a distinct URL (/?i=N) of a small static file over keepalive.
# Targets: has <= 1.5x curl's wall time, has >= 10x faster than check_http,
# has's peak RSS < 100 MiB. Median of $RUNS runs (default 3); exits 1 if a
# target is missed, 2 if the benchmark cannot run.
#
# Usage: HAS=build/bin/has bench/inspect_http.sh
#   N=5000 C=64        checks and concurrency
#   LAYOUT=rules       one rule per URL (default); LAYOUT=targets: one rule
#                      over N inventory hosts, the URL built from the host
#   NICE=-20           run ahead of other work on a busy machine (root)
#   PHASES=0           skip the breakdown of has's wall time (needs strace)
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
trap 'stop_nginx; rm -rf "$T"' EXIT

N=${N:-5000}
C=${C:-64}
LAYOUT=${LAYOUT:-rules}
CHECK_HTTP=${CHECK_HTTP:-/usr/lib/nagios/plugins/check_http}
need curl curl
need xargs findutils
[ -x "$CHECK_HTTP" ] || { echo "bench: $CHECK_HTTP is missing (apt-get install monitoring-plugins-basic)" >&2; exit 2; }
ulimit -n 65536 2>/dev/null || true

PORT=$(free_port)
start_nginx "$T/nginx" "$PORT"
printf '<html><body><h1>Service is UP</h1></body></html>\n' >"$T/nginx/www/index.html"

# The same N URLs for every tool.
seq 0 $((N - 1)) | sed "s|^|/?i=|" >"$T/paths"
sed "s|^|http://127.0.0.1:$PORT|" "$T/paths" >"$T/urls"
sed 's|.*|url = "&"\noutput = "/dev/null"|' "$T/urls" >"$T/curl.conf"

# The workspace: rules expect status 200, as an operator would write them.
W="$T/ws"
mkdir -p "$W/rules"
case "$LAYOUT" in
rules)
  printf 'state: .has/state.db\ndefaults: {timeout: 10s}\n' >"$W/has.yaml"
  awk -v port="$PORT" '{
    if (NR > 1) print "---"
    printf "kind: Rule\nname: page-%d\nprobe: {http: {url: \"http://127.0.0.1:%s%s\"}}\nexpect: [status == 200]\n", NR - 1, port, $0
  }' "$T/paths" >"$W/rules/pages.yaml"
  ;;
targets)
  {
    printf 'state: .has/state.db\ndefaults: {timeout: 10s}\ninventory:\n  hosts:\n'
    seq 0 $((N - 1)) | awk '{printf "    - {name: \"%d\", address: 127.0.0.1, labels: {role: web}}\n", $1}'
  } >"$W/has.yaml"
  cat >"$W/rules/page.yaml" <<YAML
kind: Rule
name: page
targets: {hosts: {role: web}}
probe: {http: {url: "http://\${{ target.address }}:$PORT/?i=\${{ target.name }}"}}
expect: [status == 200]
YAML
  ;;
*)
  echo "bench: LAYOUT is 'rules' or 'targets', not '$LAYOUT'" >&2
  exit 2
  ;;
esac

# --per-target as high as --concurrency: every URL is on one host, and curl
# keeps C connections open to it too.
HAS_RUN=(-q -C "$W" inspect run -o json --concurrency "$C" --per-target "$C")

# Warm up nginx, the page cache and the binary; check that every tool
# succeeds on every URL before timing.
"$HAS" --state "$T/warm.db" "${HAS_RUN[@]}" >"$T/warm.json" ||
  { echo "bench: has inspect run failed (exit $?)" >&2; exit 1; }
python3 - "$T/warm.json" "$N" <<'PY' || exit 1
import json, sys
doc = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
urls = {r["values"]["url"] for r in doc["results"] if r["status"] == "ok"}
if len(urls) != n:
    sys.exit(f"bench: has: {len(urls)} distinct URLs of {n} checked ok")
PY
curl --parallel --parallel-max "$C" -s --no-progress-meter -f -K "$T/curl.conf" 2>/dev/null ||
  { echo "bench: curl failed" >&2; exit 1; }

# has and curl interleaved, each going first in turn, so a change in the
# machine's load hits both alike; a fresh state file per run of has, since
# the state grows with each run. check_http's runs come after: each keeps
# both cores busy for many seconds, and the machine is slower for a while
# after one (whichever tool ran next was measured on a slower machine).
for i in $(seq "$RUNS"); do
  if [ $((i % 2)) = 1 ]; then
    timed has "$HAS" --state "$T/state-$i.db" "${HAS_RUN[@]}"
    timed curl curl --parallel --parallel-max "$C" -s --no-progress-meter -f -K "$T/curl.conf"
  else
    timed curl curl --parallel --parallel-max "$C" -s --no-progress-meter -f -K "$T/curl.conf"
    timed has "$HAS" --state "$T/state-$i.db" "${HAS_RUN[@]}"
  fi
done
# The command as an operator types it: the default --per-target (8).
for i in $(seq "$RUNS"); do
  timed has_default "$HAS" -q -C "$W" --state "$T/default-$i.db" inspect run -o json --concurrency "$C"
done
for i in $(seq "$RUNS"); do
  timed check_http xargs -P "$C" -I{} -a "$T/paths" "$CHECK_HTTP" -H 127.0.0.1 -p "$PORT" -u {} -e 200
done

# Where has's wall time goes, from the system calls that mark each phase:
# the rules file opened, git started for the run's provenance (the
# definitions are loaded and the checks expanded by then; a state file given
# by --state opens meanwhile), the probe thread started and ended, the first
# byte of output, the exit. strace slows it a little.
phases() {
  local out=$T/phases.txt
  strace --seccomp-bpf -f -ttt -e trace=openat,clone3,execve,write -o "$out" \
    "$HAS" --state "$T/phases.db" "${HAS_RUN[@]}" >/dev/null 2>&1 || return 0
  python3 - "$out" "$T/phases.db" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
t = lambda line: float(line.split()[1])
def first(pattern, after=0.0):
    return next((t(l) for l in lines if t(l) >= after and re.search(pattern, l)), None)
start, end = t(lines[0]), t(lines[-1])
defs = first(r'openat\(.*/(has\.yaml|rules)')
# git for the provenance; without git, the state file's first open.
loaded = first(r'execve\("[^"]*/git"') or first(re.escape(sys.argv[2]) + '"')
if defs is None or loaded is None:
    sys.exit("  has phases: markers not found in the trace")
# The probe thread: the first thread started after that.
clones = [l for l in lines if 'CLONE_THREAD' in l and t(l) > loaded]
tid = re.search(r'= (\d+)$', clones[0]).group(1) if clones else None
if tid is None:
    sys.exit(0)
probe_start = t(clones[0])
probe_end = max(t(l) for l in lines if l.split()[0] == tid)
output = first(r'^\d+\s+[\d.]+\s+write\(1,')
print(f"  has phases: start {defs - start:.2f}  definitions {loaded - defs:.2f}  "
      f"provenance+run start {probe_start - loaded:.2f}  probes {probe_end - probe_start:.2f}  "
      f"record+render {output - probe_end:.2f}  output+close {end - output:.2f}  (s, under strace)")
PY
}

machine
echo "inspect_http: $N checks ($LAYOUT layout), concurrency $C, nginx on 127.0.0.1:$PORT, median of $RUNS"
echo "  has runs: $(all_times has) s; curl: $(all_times curl) s; check_http: $(all_times check_http) s"
echo "  cpu (user+sys, median): has $(median_cpu has) s; curl $(median_cpu curl) s; check_http $(median_cpu check_http) s"
if [ "${PHASES:-1}" != 0 ] && command -v strace >/dev/null; then
  phases || true
fi
HAS_S=$(median has)
compare has "$HAS_S" curl "$(median curl)" 1.5
CH_S=$(median check_http)
SPEEDUP=$(python3 -c "print(f'{$CH_S / $HAS_S:.1f}')")
VERDICT=$(python3 -c "print('ok' if $SPEEDUP >= 10 else 'MISSED')")
printf 'has: %.2f s  check_http: %.2f s  speedup: %sx (target >= 10x)  %s\n' "$HAS_S" "$CH_S" "$SPEEDUP" "$VERDICT"
[ "$VERDICT" = ok ] || FAILED=1
RSS=$(median_rss_mib has)
VERDICT=$(python3 -c "print('ok' if $RSS < 100 else 'MISSED')")
printf 'has peak RSS: %s MiB (target < 100 MiB)  %s\n' "$RSS" "$VERDICT"
[ "$VERDICT" = ok ] || FAILED=1
printf 'info: has with the default --per-target 8: %.2f s\n' "$(median has_default)"
exit "$FAILED"
