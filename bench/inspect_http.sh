#!/usr/bin/env bash
# 5,000 HTTP checks against a local nginx at concurrency 64, timed in the same
# run for has, curl --parallel and xargs -P 64 check_http; each check fetches
# a distinct URL (/?i=N) of a small static file over keepalive.
# Targets: has <= 1.5x curl's wall time, has >= 10x faster than check_http,
# has's peak RSS < 100 MiB. Median of $RUNS runs (default 3); exits 1 if a
# target is missed, 2 if the benchmark cannot run.
# Usage: HAS=build/bin/has bench/inspect_http.sh   (N=5000 C=64 to change)
. "$(dirname "$0")/lib.sh"
trap 'stop_nginx; rm -rf "$T"' EXIT

N=${N:-5000}
C=${C:-64}
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

# One rule per URL, as an operator would write them (status expected 200).
W="$T/ws"
mkdir -p "$W/rules"
printf 'state: .has/state.db\ndefaults: {timeout: 10s}\n' >"$W/has.yaml"
awk -v port="$PORT" '{
  if (NR > 1) print "---"
  printf "kind: Rule\nname: page-%d\nprobe: {http: {url: \"http://127.0.0.1:%s%s\"}}\nexpect: [status == 200]\n", NR - 1, port, $0
}' "$T/paths" >"$W/rules/pages.yaml"

run_has() { # run_has STATE: one timed inspection with a fresh state file
  timed has "$HAS" -q -C "$W" --state "$1" inspect run -o json --concurrency "$C" --per-target "$C"
}

# Warm up nginx, the page cache and the binary; check that every tool
# succeeds on every URL before timing.
"$HAS" -q -C "$W" --state "$T/warm.db" inspect run -o json --concurrency "$C" --per-target "$C" >"$T/warm.json" ||
  { echo "bench: has inspect run failed (exit $?)" >&2; exit 1; }
python3 - "$T/warm.json" "$N" <<'PY' || exit 1
import json, sys
doc = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
ok = sum(1 for r in doc["results"] if r["status"] == "ok")
if ok != n:
    sys.exit(f"bench: has: {ok} of {n} checks ok")
PY
curl --parallel --parallel-max "$C" -s --no-progress-meter -f -K "$T/curl.conf" 2>/dev/null || { echo "bench: curl failed" >&2; exit 1; }

for i in $(seq "$RUNS"); do
  run_has "$T/state-$i.db"
  timed curl curl --parallel --parallel-max "$C" -s --no-progress-meter -f -K "$T/curl.conf"
  timed check_http xargs -P "$C" -I{} -a "$T/paths" "$CHECK_HTTP" -H 127.0.0.1 -p "$PORT" -u {} -e 200
done
# The default --per-target (8): all URLs are on one host, so at most 8 at once.
for i in $(seq "$RUNS"); do
  timed has_per_target_8 "$HAS" -q -C "$W" --state "$T/pt8-$i.db" inspect run -o json --concurrency "$C"
done

echo "inspect_http: $N checks, concurrency $C, nginx on 127.0.0.1:$PORT, median of $RUNS"
echo "  has runs: $(all_times has) s; curl: $(all_times curl) s; check_http: $(all_times check_http) s"
HAS_S=$(median has)
compare has "$HAS_S" curl "$(median curl)" 1.5
CH_S=$(median check_http)
SPEEDUP=$(python3 -c "print(f'{$CH_S / $HAS_S:.1f}')")
VERDICT=$(python3 -c "print('ok' if $CH_S / $HAS_S >= 10 else 'MISSED')")
printf 'has: %.2f s  check_http: %.2f s  speedup: %sx (target >= 10x)  %s\n' "$HAS_S" "$CH_S" "$SPEEDUP" "$VERDICT"
[ "$VERDICT" = ok ] || FAILED=1
RSS=$(median_rss_mib has)
VERDICT=$(python3 -c "print('ok' if $RSS < 100 else 'MISSED')")
printf 'has peak RSS: %s MiB (target < 100 MiB)  %s\n' "$RSS" "$VERDICT"
[ "$VERDICT" = ok ] || FAILED=1
printf 'info: has with the default --per-target 8: %.2f s\n' "$(median has_per_target_8)"
exit "$FAILED"
