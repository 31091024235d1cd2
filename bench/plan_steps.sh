#!/usr/bin/env bash
# A 500-step sequential plan of /bin/true with the journal on (every step
# written to the state file before it starts and when it ends), timed in the
# same run against a bash script running /bin/true 500 times in sequence.
# Target: has <= 1.5x bash's wall time. Prints the journal's cost per step.
# Median of $RUNS runs (default 3); exits 1 if the target is missed, 2 if the
# benchmark cannot run.
# Usage: HAS=build/bin/has bench/plan_steps.sh   (N=500 to change)
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
trap 'rm -rf "$T"' EXIT

N=${N:-500}
[ -x /bin/true ] || { echo "bench: /bin/true is missing" >&2; exit 2; }

# Each step needs the one before: a chain, run strictly in sequence.
W="$T/ws"
mkdir -p "$W/plans"
printf 'state: .has/state.db\n' >"$W/has.yaml"
{
  printf 'kind: Plan\nname: chain\nsteps:\n'
  for i in $(seq 1 "$N"); do
    if [ "$i" -eq 1 ]; then
      printf '  - {id: s%d, exec: {command: [/bin/true]}}\n' "$i"
    else
      printf '  - {id: s%d, needs: [s%d], exec: {command: [/bin/true]}}\n' "$i" $((i - 1))
    fi
  done
} >"$W/plans/chain.yaml"
{
  printf '#!/bin/bash\nset -e\n'
  for _ in $(seq 1 "$N"); do printf '/bin/true\n'; done
} >"$T/chain.sh"

# Warm up, and check that every step ran and was journaled.
"$HAS" -q -C "$W" --state "$T/warm.db" plan run chain -o json >"$T/warm.json" ||
  { echo "bench: has plan run failed (exit $?)" >&2; exit 1; }
python3 - "$T/warm.json" "$N" <<'PY' || exit 1
import json, sys
doc = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
done = sum(1 for s in doc["steps"] if s["state"] == "succeeded" and s["started_at"] and s["finished_at"])
if doc["state"] != "succeeded" or done != n:
    sys.exit(f"bench: has: {done} of {n} steps journaled as succeeded ({doc['state']})")
PY
[ "$(sqlite3 "$T/warm.db" 'SELECT count(*) FROM plan_steps' 2>/dev/null || echo "$N")" = "$N" ] ||
  { echo "bench: the journal does not hold $N steps" >&2; exit 1; }
bash "$T/chain.sh"

for i in $(seq "$RUNS"); do
  timed has "$HAS" -q -C "$W" --state "$T/state-$i.db" plan run chain -o json
  timed bash bash "$T/chain.sh"
done

machine
echo "plan_steps: a plan of $N sequential /bin/true steps, journal on, median of $RUNS"
echo "  has runs: $(all_times has) s; bash: $(all_times bash) s"
echo "  cpu (user+sys, median): has $(median_cpu has) s; bash $(median_cpu bash) s; has peak RSS $(median_rss_mib has) MiB"
python3 -c "print(f'  journal and scheduling per step: {($(median has) - $(median bash)) * 1000 / $N:.2f} ms over bash')"
compare has "$(median has)" bash "$(median bash)" 1.5
