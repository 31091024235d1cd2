# shellcheck shell=bash
# A real PostgreSQL for end-to-end tests: start_postgres starts one server on
# 127.0.0.1 on a free port in a temporary directory (trust authentication,
# user postgres, fsync off) and sets PG_PORT; stop_postgres stops it. Source
# after tests/cli/lib.sh; exits 77 (skip) when the server is not installed.

PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
  echo "SKIP: the PostgreSQL server is not installed (Debian package postgresql)"
  exit 77
fi
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
  echo "SKIP: running as root and there is no postgres user to run the server as"
  exit 77
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
  as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --no-locale --no-sync >"$PG_DIR/initdb.log" 2>&1 ||
    { echo "FAIL: initdb failed:"; cat "$PG_DIR/initdb.log"; exit 1; }
  local options="-k $PG_DIR -p $PG_PORT -c listen_addresses=127.0.0.1 -c fsync=off"
  for setting in "$@"; do
    options="$options -c $setting"
  done
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 start -o "$options" >/dev/null ||
    { echo "FAIL: PostgreSQL did not start:"; cat "$PG_DIR/server.log"; exit 1; }
}

stop_postgres() {
  if [ -n "${PG_DIR:-}" ] && [ -f "$PG_DIR/data/postmaster.pid" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1
  fi
  [ -n "${PG_DIR:-}" ] && rm -rf "$PG_DIR"
}

# pg_sql SQL: runs SQL on the server, unaligned output.
pg_sql() { as_pg "$PG_BIN/psql" -X -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -Atc "$1"; }
