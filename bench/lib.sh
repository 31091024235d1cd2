# shellcheck shell=bash
# Shared helpers of the benchmarks: the has binary, a temporary directory,
# a clock, medians, peak RSS and a local nginx. Source it; it sets $HAS and $T.
set -euo pipefail

# On a shared machine, NICE=-10 (as root) runs the whole benchmark, nginx
# included, ahead of other work; every tool gets the same priority. With
# autogroup scheduling a nice value only counts inside its session, so the
# benchmark runs in a session of its own and sets that session's nice.
if [ -n "${NICE:-}" ] && [ -z "${BENCH_NICED:-}" ]; then
  export BENCH_NICED=1
  # shellcheck disable=SC2016 # expanded by the inner shell
  exec setsid -w bash -c 'if [ -w /proc/self/autogroup ]; then echo "$NICE" >/proc/self/autogroup; fi
    exec nice -n "$NICE" bash "$@"' bench "$0" "$@"
fi

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
HAS=${HAS:-$REPO_ROOT/build/bin/has}
RUNS=${RUNS:-3}

if [ ! -x "$HAS" ]; then
  echo "bench: no has binary at $HAS (build it, or set HAS=/path/to/has)" >&2
  exit 2
fi
HAS=$(cd "$(dirname "$HAS")" && pwd)/$(basename "$HAS")

need() { # need COMMAND PACKAGE
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "bench: $1 is not installed (apt-get install $2)" >&2
    exit 2
  fi
}
need python3 python3
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time is not installed (apt-get install time)" >&2; exit 2; }

LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
T=$(mktemp -d "${TMPDIR:-/tmp}/has-bench.XXXXXX")

# The benchmark workspaces use no rule of the shipped library; an empty
# library keeps the figures (and the run) independent of edits to plugins/.
# Set HAS_PLUGINS to measure with a library.
if [ -z "${HAS_PLUGINS:-}" ]; then
  mkdir -p "$T/no-plugins"
  export HAS_PLUGINS=$T/no-plugins
fi
FAILED=0 # set to 1 by compare; the scripts exit with it
export FAILED

now_ns() { date +%s%N; }

# timed NAME COMMAND...: runs the command with stdout to /dev/null, appends
# its wall time in seconds to $T/NAME.times, its peak RSS in KiB to
# $T/NAME.rss and its CPU time (user+sys, children included) to $T/NAME.cpu;
# fails the benchmark if the command fails.
timed() {
  local name=$1
  shift
  local start end rc=0
  start=$(now_ns)
  /usr/bin/time -f '%M %U %S' -o "$T/$name.res" "$@" >/dev/null 2>"$T/$name.err" || rc=$?
  end=$(now_ns)
  if [ "$rc" -ne 0 ]; then
    echo "bench: $name failed (exit $rc): $*" >&2
    tail -5 "$T/$name.err" >&2
    exit 1
  fi
  python3 -c "print(f'{($end - $start) / 1e9:.3f}')" >>"$T/$name.times"
  tail -1 "$T/$name.res" | awk '{print $1}' >>"$T/$name.rss"
  tail -1 "$T/$name.res" | awk '{printf "%.2f\n", $2 + $3}' >>"$T/$name.cpu"
}

median() { # median NAME: the median wall time of NAME's runs, in seconds
  sort -n "$T/$1.times" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

median_cpu() { # median_cpu NAME: the median CPU time of NAME's runs, in seconds
  sort -n "$T/$1.cpu" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

median_rss_mib() { # the median peak RSS of NAME's runs, in MiB
  sort -n "$T/$1.rss" | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1024}'
}

# The load average when the benchmark starts: figures taken on a busy
# machine are not comparable with figures taken on an idle one.
machine() {
  echo "machine: $(nproc) cores, load average at start $LOAD_AT_START, nice $(nice)$([ -r /proc/self/autogroup ] && echo " ($(cut -d' ' -f1-3 /proc/self/autogroup))"), $(date -u '+%Y-%m-%d %H:%M UTC')"
}

all_times() { paste -sd' ' "$T/$1.times"; }

# compare LABEL_A A LABEL_B B TARGET: prints A vs B and their ratio A/B;
# fails the benchmark when the ratio is above TARGET.
compare() {
  local la=$1 a=$2 lb=$3 b=$4 target=$5
  local ratio verdict
  # Judged as printed, so "1.30 (target <= 1.3)" never reads as missed.
  ratio=$(python3 -c "print(f'{$a / $b:.2f}')")
  verdict=$(python3 -c "print('ok' if $ratio <= $target else 'MISSED')")
  printf '%s: %.2f s  %s: %.2f s  ratio: %s (target <= %s)  %s\n' "$la" "$a" "$lb" "$b" "$ratio" "$target" "$verdict"
  [ "$verdict" = ok ] || FAILED=1
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start_nginx DIR PORT: nginx on 127.0.0.1:PORT serving DIR/www, keepalive
# on, one worker, access log off; sets NGINX_DIR for stop_nginx.
start_nginx() {
  local dir=$1 port=$2
  need nginx nginx-light
  mkdir -p "$dir/logs" "$dir/tmp" "$dir/www"
  cat >"$dir/nginx.conf" <<CONF
$([ "$(id -u)" -eq 0 ] && echo "user root root;")
worker_processes 1;
worker_rlimit_nofile 65536;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  default_type text/html;
  keepalive_timeout 65s;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$port backlog=4096;
    root $dir/www;
  }
}
CONF
  NGINX_DIR=$dir
  nginx -c "$dir/nginx.conf" -p "$dir" -g 'daemon on;' 2>"$dir/logs/start.log" ||
    { cat "$dir/logs/start.log" "$dir/logs/error.log" >&2; exit 2; }
  for _ in $(seq 50); do
    [ -s "$dir/nginx.pid" ] && break
    sleep 0.1
  done
  [ -s "$dir/nginx.pid" ] || { echo "bench: nginx did not start" >&2; exit 2; }
}

stop_nginx() {
  if [ -n "${NGINX_DIR:-}" ] && [ -s "$NGINX_DIR/nginx.pid" ]; then
    nginx -c "$NGINX_DIR/nginx.conf" -p "$NGINX_DIR" -s stop 2>/dev/null ||
      kill "$(cat "$NGINX_DIR/nginx.pid")" 2>/dev/null || true
  fi
}
