# End-to-end: the sql probe and the library rules of plugins/rules/postgres.yaml
# against a real PostgreSQL (a primary and a streaming standby) on 127.0.0.1,
# each in a temporary directory on a free port. Stops both servers on exit.
source "$(dirname "$0")/../cli/lib.sh"

source "$(dirname "$0")/postgres.sh"
trap 'stop_postgres; rm -rf "$T"' EXIT

psql_at() { as_pg "$PG_BIN/psql" -X -h 127.0.0.1 -p "$1" -U postgres -d postgres -Atc "$2"; }

# A primary, and a standby streaming from it.
start_postgres max_connections=20
start_standby
primary_port=$PG_PORT
standby_port=$PG_STANDBY_PORT

# The password is ignored (trust), but it travels like a real one: from the
# environment, and it must show up nowhere.
secret=e2e-s3cret-pw
export HAS_E2E_PG_DSN="host=127.0.0.1 port=$primary_port dbname=postgres user=postgres password=$secret"
export HAS_E2E_PG_STANDBY="postgresql://postgres:$secret@127.0.0.1:$standby_port/postgres"
export HAS_PLUGINS="$HAS_SOURCE/plugins"

WS="$T/ws"
mkdir -p "$WS/rules"
cat >"$WS/has.yaml" <<'EOF'
state: .has/state.db
defaults:
  timeout: 10s
EOF
cat >"$WS/rules/postgres.yaml" <<'EOF'
kind: Rule
name: pg-connections
probe:
  sql:
    dsn: "${env:HAS_E2E_PG_DSN}"
    query: select count(*) as connections from pg_stat_activity
expect: [connections < 100]
---
kind: Rule
name: pg-types
probe:
  sql:
    dsn: "${env:HAS_E2E_PG_DSN}"
    query: >-
      select 42::int as i, 9000000000::bigint as big, 2.5::float8 as f, 3.25::numeric as n,
             true as b, null::int as nothing, 'x'::text as t, '{"a": [1, 2]}'::jsonb as j,
             'NaN'::float8 as nan, now() as ts
      from generate_series(1, 3)
expect: [i == 42, big == 9000000000, f == 2.5, n == 3.25, b == true, nothing == null, t == "x", rows == 3]
---
kind: Rule
name: pg-bad-query
probe:
  sql: {dsn: "${env:HAS_E2E_PG_DSN}", query: select * from no_such_table}
---
kind: Rule
name: pg-no-write
probe:
  sql: {dsn: "${env:HAS_E2E_PG_DSN}", query: create table probe_wrote_this (x int)}
---
kind: Rule
name: pg-slow
probe:
  sql: {dsn: "${env:HAS_E2E_PG_DSN}", query: select pg_sleep(20), timeout: 1s}
---
kind: Rule
name: pg-up
use: postgres-up
with: {dsn: "${env:HAS_E2E_PG_DSN}"}
---
kind: Rule
name: pg-connections-share
use: postgres-connections
with: {dsn: "${env:HAS_E2E_PG_DSN}", warn: 80, crit: 90}
---
kind: Rule
name: pg-connections-tight
use: postgres-connections
with: {dsn: "${env:HAS_E2E_PG_DSN}", warn: 1, crit: 50}
---
kind: Rule
name: pg-replication
use: postgres-replication-lag
with: {dsn: "${env:HAS_E2E_PG_DSN}"}
---
kind: Rule
name: pg-replication-standalone
use: postgres-replication-lag
with: {dsn: "${env:HAS_E2E_PG_STANDBY}", min_replicas: 0}
---
kind: Rule
name: pg-replication-missing
use: postgres-replication-lag
with: {dsn: "${env:HAS_E2E_PG_STANDBY}"}
EOF

# check DESCRIPTION PYTHON-EXPRESSION: evaluates the expression against the
# JSON in $OUT, where r(NAME) is the result of rule NAME.
check() {
  if python3 -c '
import json, sys
doc = json.loads(sys.stdin.read())
results = {x["rule"]: x for x in doc["results"]}
def r(name): return results[name]
def v(name): return results[name]["values"]
sys.exit(0 if eval(sys.argv[1]) else 1)
' "$2" <<<"$OUT"; then ok; else fail "$1: $2"; fi
}

run -C "$WS" validate
expect_rc 0 "the workspace and the postgres library rules validate"

run -C "$WS" -o json inspect run pg-connections pg-types pg-up pg-connections-share pg-replication \
  pg-replication-standalone
expect_rc 0 "queries against a healthy primary and standby pass"
check "sql probe counts sessions" 'r("pg-connections")["status"] == "ok" and v("pg-connections")["connections"] >= 1'
check "typed columns" 'v("pg-types")["i"] == 42 and v("pg-types")["big"] == 9000000000 and v("pg-types")["f"] == 2.5'
check "numeric, bool, null" 'v("pg-types")["n"] == 3.25 and v("pg-types")["b"] is True and v("pg-types")["nothing"] is None'
check "jsonb is parsed, NaN is null, timestamps are text" \
  'v("pg-types")["j"] == {"a": [1, 2]} and v("pg-types")["nan"] is None and isinstance(v("pg-types")["ts"], str)'
check "rows and row" 'v("pg-types")["rows"] == 3 and v("pg-types")["row"]["t"] == "x"'
check "message says where, not the dsn" \
  'r("pg-types")["message"].startswith("3 rows in ") and "postgres@127.0.0.1:" in r("pg-types")["message"]'
check "postgres-up" 'r("pg-up")["status"] == "ok" and v("pg-up")["up"] == 1 and v("pg-up")["version"].startswith("15")'
check "postgres-connections" \
  'r("pg-connections-share")["status"] == "ok" and v("pg-connections-share")["max_connections"] == 20 and 0 < v("pg-connections-share")["used_percent"] < 80'
check "postgres-replication-lag sees the standby" \
  'r("pg-replication")["status"] == "ok" and v("pg-replication")["replicas"] == 1 and v("pg-replication")["lag_seconds"] >= 0'
check "no standby reads as no lag" \
  'v("pg-replication-standalone")["replicas"] == 0 and v("pg-replication-standalone")["lag_seconds"] == 0'
expect_no_out "$secret" "the password is not in the results"

run -C "$WS" -o json inspect run pg-connections-tight
expect_rc 1 "used share above the warning threshold"
check "postgres-connections warns" 'r("pg-connections-tight")["status"] == "warning"'

run -C "$WS" -o json inspect run pg-bad-query pg-no-write pg-slow pg-replication-missing
expect_rc 2 "failing queries are critical"
check "the server's error" \
  'r("pg-bad-query")["status"] == "critical" and r("pg-bad-query")["message"] == "query failed: relation \"no_such_table\" does not exist"'
check "SQLSTATE kept" 'v("pg-bad-query")["error_code"] == "42P01"'
check "the probe cannot write" \
  'r("pg-no-write")["status"] == "critical" and "read-only transaction" in r("pg-no-write")["message"]'
check "a slow query is stopped at the timeout" \
  'r("pg-slow")["status"] == "critical" and r("pg-slow")["elapsed_ms"] < 5000 and ("statement timeout" in r("pg-slow")["message"] or "timed out" in r("pg-slow")["message"])'
check "a primary without its standby is critical" \
  'r("pg-replication-missing")["status"] == "critical" and v("pg-replication-missing")["replicas"] == 0'
[ "$(psql_at "$primary_port" "select count(*) from pg_tables where tablename = 'probe_wrote_this'")" = 0 ] &&
  ok || fail "the probe created a table"

# A stopped server.
as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/standby" -m fast stop >/dev/null
as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/primary" -m fast stop >/dev/null
run -C "$WS" -o json inspect run pg-up pg-connections pg-replication-standalone
expect_rc 2 "a stopped server is critical"
check "cannot connect, with libpq's reason" \
  'all(r(n)["status"] == "critical" and r(n)["message"].startswith("cannot connect: ") and "refused" in r(n)["message"] for n in ("pg-up", "pg-connections", "pg-replication-standalone"))'
check "libpq names the host and port" "'\"127.0.0.1\", port $primary_port' in r('pg-up')['message']"
expect_no_out "$secret" "the password is not in the results"
expect_no_err "$secret" "the password is not in the diagnostics"
if grep -rqaF -- "$secret" "$WS/.has"; then fail "the password reached the state file"; else ok; fi

run -C "$WS" inspect run pg-up
expect_rc 2 "table output of a stopped server"
expect_out "cannot connect" "table output names the failure"
expect_no_out "$secret" "the password is not in the table"

finish
