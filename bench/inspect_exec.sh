#!/usr/bin/env bash
# 2,000 exec checks of /bin/true at concurrency 16, timed in the same run for
# has and for xargs -P 16 starting /bin/true 2,000 times; each run passes a
# distinct argument (/bin/true N) so both start the same processes.
# Target: has <= 1.3x xargs's wall time. Median of $RUNS runs (default 3);
# exits 1 if the target is missed, 2 if the benchmark cannot run.
# Usage: HAS=build/bin/has bench/inspect_exec.sh   (N=2000 C=16 to change)
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
trap 'rm -rf "$T"' EXIT

N=${N:-2000}
C=${C:-16}
need xargs findutils
[ -x /bin/true ] || { echo "bench: /bin/true is missing" >&2; exit 2; }

seq 0 $((N - 1)) >"$T/args"

# One rule per process; the exit code is the status, as for any plugin.
W="$T/ws"
mkdir -p "$W/rules"
printf 'state: .has/state.db\ndefaults: {timeout: 10s}\n' >"$W/has.yaml"
awk '{
  if (NR > 1) print "---"
  printf "kind: Rule\nname: true-%d\nprobe: {exec: {command: [/bin/true, \"%d\"]}}\n", $1, $1
}' "$T/args" >"$W/rules/true.yaml"

# Warm up, and check that every check passes before timing.
"$HAS" -q -C "$W" --state "$T/warm.db" inspect run -o json --concurrency "$C" >"$T/warm.json" ||
  { echo "bench: has inspect run failed (exit $?)" >&2; exit 1; }
python3 - "$T/warm.json" "$N" <<'PY' || exit 1
import json, sys
doc = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
ok = sum(1 for r in doc["results"] if r["status"] == "ok")
if ok != n:
    sys.exit(f"bench: has: {ok} of {n} checks ok")
PY
xargs -P "$C" -n 1 -a "$T/args" /bin/true

for i in $(seq "$RUNS"); do
  timed has "$HAS" -q -C "$W" --state "$T/state-$i.db" inspect run -o json --concurrency "$C"
  timed xargs xargs -P "$C" -n 1 -a "$T/args" /bin/true
done

machine
echo "inspect_exec: $N checks of /bin/true, concurrency $C, median of $RUNS"
echo "  has runs: $(all_times has) s; xargs: $(all_times xargs) s"
echo "  cpu (user+sys, median): has $(median_cpu has) s; xargs $(median_cpu xargs) s; has peak RSS $(median_rss_mib has) MiB"
compare has "$(median has)" xargs "$(median xargs)" 1.3
exit "$FAILED"
