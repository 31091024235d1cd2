#!/usr/bin/env bash
# End-to-end: a diagnosis tree over a real PostgreSQL (max_connections 20)
# tells "connections exhausted" from "fine" and "down", by the sql probe's
# values, as clients pile up and the server stops.
source "$(dirname "$0")/../cli/lib.sh"
source "$(dirname "$0")/postgres.sh"
trap 'pkill -f "pg_sleep\(120\)" 2>/dev/null; stop_postgres; rm -rf "$T"' EXIT

start_postgres max_connections=20

W="$T/ws"
mkdir -p "$W"
cat >"$W/has.yaml" <<'YAML'
state: .has/state.db
YAML
cat >"$W/tree.yaml" <<'YAML'
kind: Tree
name: db-slow
description: why the database is slow to answer
start: connections
nodes:
  connections:
    probe:
      sql:
        dsn: "host=127.0.0.1 port=${{ vars.port }} user=postgres dbname=postgres connect_timeout=3"
        query: >-
          select count(*)::int as used, current_setting('max_connections')::int as max
          from pg_stat_activity where backend_type = 'client backend'
    branches:
      - {status: critical, next: down}
      - {if: "used > 0.7 * max", next: exhausted}
      - {else: fine}
  exhausted:
    diagnosis:
      cause: connections near the limit
      severity: critical
      confidence: 0.9
      explanation: "${{ nodes.connections.values.used }} of ${{ nodes.connections.values.max }} connections in use"
  down:
    diagnosis: {cause: the database does not answer, severity: critical, confidence: 0.8}
  fine:
    diagnosis: {cause: connections are fine, severity: ok}
YAML
cd "$W" || exit 1

run -o json diagnose run db-slow -v "port=$PG_PORT"
expect_rc 0 "few connections: fine"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["conclusion"]["cause"]) ; assert d["conclusion"]["cause"]=="connections are fine", d' "$T/stdout" >/dev/null && ok || fail "diagnosed fine"

# Fifteen clients that hold their connections.
for _ in $(seq 15); do
  as_pg "$PG_BIN/psql" -X -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -Atc "select pg_sleep(120)" >/dev/null 2>&1 &
done
for _ in $(seq 100); do
  [ "$(pg_sql "select count(*) from pg_stat_activity where query like '%pg_sleep(120)%' and pid <> pg_backend_pid()")" -ge 15 ] && break
  sleep 0.1
done
run -o json diagnose run db-slow -v "port=$PG_PORT"
expect_rc 2 "many connections: critical"
python3 - "$T/stdout" <<'PY' && ok || fail "diagnosed exhausted, with the counts in the explanation"
import json, sys
d = json.load(open(sys.argv[1]))
c = d["conclusion"]
assert c["cause"] == "connections near the limit", d
assert "of 20 connections in use" in c["explanation"], c
PY

pkill -f "pg_sleep\(120\)" 2>/dev/null
stop_postgres
run -o json diagnose run db-slow -v "port=$PG_PORT"
expect_rc 2 "server stopped: the probe fails and the tree says down"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["conclusion"]["cause"]=="the database does not answer", d' "$T/stdout" && ok || fail "diagnosed down"

finish
