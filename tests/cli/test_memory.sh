#!/usr/bin/env bash
# has's heap is marked for transparent huge pages (a large run would
# otherwise spend a quarter of its time in page faults), and a small command
# still stays small.
. "$(dirname "$0")/lib.sh"

W="$T/ws"
mkdir -p "$W"
printf 'state: .has/state.db\n' >"$W/has.yaml"

# A running has: the risk hub's server, until it is stopped.
"$HAS" -C "$W" risk serve --listen 127.0.0.1:0 2>"$T/serve.log" &
SERVER=$!
for _ in $(seq 100); do grep -q "listening on" "$T/serve.log" && break; sleep 0.1; done
if ! grep -q "listening on" "$T/serve.log"; then
  RC=1 ERR=$(cat "$T/serve.log") fail "has risk serve did not start"
elif [ ! -r /sys/kernel/mm/transparent_hugepage/enabled ]; then
  echo "skip: this kernel has no transparent huge pages; the heap's advice is not checked"
  ok
else
  # The heap mapping(s) of the process: at least one marked 'hg' (MADV_HUGEPAGE).
  flags=$(awk '/\[heap\]/ {heap = 1; next} /^[0-9a-f]+-[0-9a-f]+ / {heap = 0} heap && /^VmFlags:/' "/proc/$SERVER/smaps")
  if grep -qw hg <<<"$flags"; then ok; else RC=0 ERR="$flags" fail "the heap is not marked for huge pages"; fi
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$SERVER/status")
  if [ "$rss" -lt 65536 ]; then ok; else RC=0 ERR="VmRSS $rss KiB" fail "an idle server holds 64 MiB or more"; fi
fi
kill "$SERVER" 2>/dev/null
wait "$SERVER" 2>/dev/null

# A small command: its peak RSS stays far below the heap grown ahead.
if [ -x /usr/bin/time ]; then
  /usr/bin/time -f "%M" -o "$T/rss" "$HAS" --version >/dev/null 2>&1
  peak=$(tail -1 "$T/rss")
  if [ "$peak" -lt 40960 ]; then ok; else RC=0 ERR="peak $peak KiB" fail "has --version peaks at 40 MiB or more"; fi
fi

finish
