# End-to-end: the library Action db.switchover (plugins/actions/db.yaml)
# against a real PostgreSQL primary and a streaming standby on 127.0.0.1,
# each in a temporary directory on a free port. A standby whose replay lags
# more than max_lag is refused (nothing fenced, nothing promoted); within
# max_lag the standby is promoted and takes writes, and the old primary is
# fenced read-only. Stops both servers on exit.
source "$(dirname "$0")/../cli/lib.sh"

if ! command -v psql >/dev/null; then
  skip "psql is not installed (Debian package postgresql-client)"
fi
source "$(dirname "$0")/postgres.sh"
trap 'stop_postgres; rm -rf "$T"' EXIT

psql_at() { psql -X -h 127.0.0.1 -p "$1" -U postgres -d postgres -Atc "$2" 2>&1; }

start_postgres max_connections=20
start_standby
primary_port=$PG_PORT
standby_port=$PG_STANDBY_PORT
psql_at "$primary_port" "create table orders (id int primary key)" >/dev/null

export HAS_PLUGINS="$HAS_SOURCE/plugins"
WS="$T/ws"
mkdir -p "$WS"
cat >"$WS/has.yaml" <<'EOF2'
state: .has/state.db
EOF2
cat >"$WS/plans.yaml" <<EOF2
kind: Plan
name: switch
params:
  max_lag: {default: 1MB}
steps:
  - id: switch
    use: db.switchover
    with:
      primary: "host=127.0.0.1 port=$primary_port dbname=postgres user=postgres"
      standby: "host=127.0.0.1 port=$standby_port dbname=postgres user=postgres"
      max_lag: "\${{ params.max_lag }}"
      password: "\${env:HAS_E2E_PG_PASSWORD}"
EOF2
# The password is ignored (trust), but it travels like a real one.
export HAS_E2E_PG_PASSWORD=e2e-s3cret-pw

run -C "$WS" validate
expect_rc 0 "the workspace with the library validates"

# 1. Replay paused on the standby and 2 MB written on the primary: the lag
#    is above max_lag, the switchover is refused and nothing changes.
psql_at "$standby_port" "select pg_wal_replay_pause()" >/dev/null
psql_at "$primary_port" "insert into orders select generate_series(1, 60000)" >/dev/null
run -C "$WS" -o json plan run switch -p max_lag=1MB
expect_rc 1 "a lagging standby is refused"
expect_out "json.lag_bytes <= json.max_lag_bytes" "the lag expectation is what failed"
[ "$(psql_at "$standby_port" "select pg_is_in_recovery()")" = t ] && ok || fail "the standby is still a standby"
[ "$(psql_at "$primary_port" "show default_transaction_read_only")" = off ] && ok || fail "the primary is not fenced"
psql_at "$primary_port" "insert into orders values (-1)" >/dev/null && ok || fail "the primary still takes writes"
grep -rqF "$HAS_E2E_PG_PASSWORD" "$WS/.has" "$T/stdout" "$T/stderr" && fail "the password shows up" || ok

# 2. Replay resumed: the switchover goes through.
psql_at "$standby_port" "select pg_wal_replay_resume()" >/dev/null
psql_at "$primary_port" "insert into orders values (-2)" >/dev/null
run -C "$WS" -o json plan run switch -p max_lag=16MB
expect_rc 0 "the switchover succeeds"
expect_out '"state": "succeeded"' "the run succeeded"
[ "$(psql_at "$standby_port" "select pg_is_in_recovery()")" = f ] && ok || fail "the standby is promoted"
psql_at "$standby_port" "insert into orders values (-3)" >/dev/null && ok || fail "the new primary takes writes"
[ "$(psql_at "$standby_port" "select count(*) from orders")" = 60003 ] && ok ||
  fail "the new primary has every row the old one had: $(psql_at "$standby_port" "select count(*) from orders")"
out=$(psql_at "$primary_port" "insert into orders values (-4)")
grep -q "read-only transaction" <<<"$out" && ok || fail "the old primary refuses writes: $out"
[ "$(psql_at "$primary_port" "show default_transaction_read_only")" = on ] && ok || fail "the old primary is fenced"
grep -rqF "$HAS_E2E_PG_PASSWORD" "$WS/.has" "$T/stdout" "$T/stderr" && fail "the password shows up" || ok

# 3. Running it again: the old primary is fenced, the new one is no standby.
run -C "$WS" -o json plan run switch
expect_rc 1 "a second switchover is refused"
[ "$(psql_at "$standby_port" "select pg_is_in_recovery()")" = f ] && ok || fail "the new primary is untouched"

finish
