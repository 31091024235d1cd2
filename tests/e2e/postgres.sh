# shellcheck shell=bash
# A real PostgreSQL for end-to-end tests: start_postgres starts a primary on
# 127.0.0.1 on a free port in a temporary directory PG_DIR (trust
# authentication, user postgres, fsync off; data in $PG_DIR/primary) and sets
# PG_PORT; start_standby adds a streaming standby ($PG_DIR/standby,
# PG_STANDBY_PORT); stop_postgres stops both and removes PG_DIR. Source after
# tests/cli/lib.sh; exits 77 (skip) when the server is not installed.

PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
  skip "the PostgreSQL server is not installed (Debian package postgresql)"
fi
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
  skip "running as root and there is no postgres user to run the server as"
fi

# PostgreSQL refuses to run as root: its tools run as postgres then (from /,
# since the test's own directories are the root user's alone).
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

# start_postgres [SETTING=VALUE ...]: extra server settings, e.g. max_connections=20.
start_postgres() {
  PG_DIR=$(mktemp -d /tmp/has-e2e-pg-XXXXXX)
  [ "$(id -u)" -eq 0 ] && chown postgres: "$PG_DIR"
  PG_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_pg "$PG_BIN/initdb" -D "$PG_DIR/primary" -U postgres -A trust -E UTF8 --no-locale --no-sync >"$PG_DIR/initdb.log" 2>&1 ||
    { echo "FAIL: initdb failed:"; cat "$PG_DIR/initdb.log"; exit 1; }
  PG_SETTINGS=("$@")
  pg_start_server "$PG_DIR/primary" "$PG_PORT"
}

# pg_start_server DATA PORT: starts a server on DATA and waits until it
# accepts connections.
pg_start_server() {
  local options="-k $PG_DIR -p $2 -c listen_addresses=127.0.0.1 -c fsync=off"
  for setting in "${PG_SETTINGS[@]}"; do
    options="$options -c $setting"
  done
  as_pg "$PG_BIN/pg_ctl" -D "$1" -l "$1.log" -w -t 60 start -o "$options" >/dev/null ||
    { echo "FAIL: PostgreSQL did not start:"; cat "$1.log"; exit 1; }
}

# start_standby: a standby streaming from the primary, in $PG_DIR/standby.
start_standby() {
  as_pg "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$PG_PORT" -U postgres -D "$PG_DIR/standby" -R -X stream ||
    { echo "FAIL: pg_basebackup failed"; exit 1; }
  PG_STANDBY_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  pg_start_server "$PG_DIR/standby" "$PG_STANDBY_PORT"
  local streaming="select count(*) from pg_stat_replication where state = 'streaming'"
  for _ in $(seq 60); do
    [ "$(pg_sql "$streaming")" = 1 ] && return
    sleep 0.5
  done
  echo "FAIL: the standby did not start streaming"
  cat "$PG_DIR/standby.log"
  exit 1
}

stop_postgres() {
  [ -n "${PG_DIR:-}" ] || return 0
  for data in "$PG_DIR/standby" "$PG_DIR/primary"; do
    if [ -f "$data/postmaster.pid" ]; then
      as_pg "$PG_BIN/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1
    fi
  done
  rm -rf "$PG_DIR"
}

# pg_sql SQL: runs SQL on the server, unaligned output.
pg_sql() { as_pg "$PG_BIN/psql" -X -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -Atc "$1"; }
