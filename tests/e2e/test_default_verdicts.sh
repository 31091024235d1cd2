#!/usr/bin/env bash
# Default verdicts (has-definitions(5)): a probe without `expect` judges what
# it saw as the peers do, the same in `inspect run`, in a tree node's status
# branches and in a `wait` step; with `expect` the expectations decide.
# Real servers on loopback: nginx (2xx/3xx/4xx/5xx, a page), a closed port,
# dnsmasq (an answer and an NXDOMAIN), plugins per exit code, a SQLite file,
# certificates, and as root two small tmpfs filesystems filled past 90% and
# 95%. Prometheus's case is in test_probe_prometheus.sh.
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/nginx.sh"

for program in nginx dnsmasq openssl python3 sqlite3; do
  command -v "$program" >/dev/null || skip "$program is not installed (apt-get install nginx-light dnsmasq-base openssl python3 sqlite3)"
done

DNS_PID=
MOUNTS=()
stop_all() {
  stop_nginx
  [ -n "$DNS_PID" ] && kill "$DNS_PID" 2>/dev/null && wait "$DNS_PID" 2>/dev/null
  for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null; done
  rm -rf "$T"
}
trap stop_all EXIT

N="$T/nginx"
mkdir -p "$N/www"
echo '<html><body><h1>Welcome</h1></body></html>' > "$N/www/index.html"
HTTP_PORT=$(free_port)
CLOSED_PORT=$(free_port)
start_nginx "$N" "
  server {
    listen 127.0.0.1:$HTTP_PORT;
    root $N/www;
    location = /moved { return 301 /; }
    location = /missing { return 404 'no such page'; }
    location = /down { return 503 'maintenance'; }
  }"
URL="http://127.0.0.1:$HTTP_PORT"

DNS_PORT=$(free_port)
dnsmasq --keep-in-foreground --conf-file=/dev/null --port="$DNS_PORT" --listen-address=127.0.0.1 \
  --bind-interfaces --no-resolv --no-hosts --local=/test/ --address=/up.test/127.0.0.1 \
  --pid-file="$T/dnsmasq.pid" $( [ "$(id -u)" -eq 0 ] && echo --user=root ) 2>"$T/dnsmasq.log" &
DNS_PID=$!
sleep 0.3
kill -0 "$DNS_PID" 2>/dev/null || { cat "$T/dnsmasq.log" >&2; echo "FAIL: dnsmasq did not start"; exit 1; }

C="$T/certs"
mkdir -p "$C"
for days in 5 20 60; do
  openssl req -x509 -newkey rsa:2048 -nodes -days "$days" -subj "/CN=d$days" \
    -keyout "$C/$days.key" -out "$C/$days.pem" 2>/dev/null
done
sqlite3 "$T/app.db" 'create table jobs(id integer); insert into jobs values (1);'
touch "$T/present"

# name | probe | verdict without expect | expect | verdict with it
CASES=(
  "http-200|{http: {url: \"$URL/\"}}|ok|[status == 200]|ok"
  "http-301|{http: {url: \"$URL/moved\"}}|ok|[status == 200]|critical"
  "http-404|{http: {url: \"$URL/missing\"}}|warning|[status == 404]|ok"
  "http-503|{http: {url: \"$URL/down\"}}|critical|[status == 503]|ok"
  "http-refused|{http: {url: \"http://127.0.0.1:$CLOSED_PORT/\", timeout: 2s}}|critical|[status == 200]|critical"
  "http-listed|{http: {url: \"$URL/down\", expect_status: [200, 503]}}|ok|['body:find(\"maint\") ~= nil']|ok"
  "http-class|{http: {url: \"$URL/\", expect_status: [\"2xx\"]}}|ok|[status == 200]|ok"
  "http-unlisted-5xx|{http: {url: \"$URL/down\", expect_status: \"200-299\"}}|critical|[status == 503]|critical"
  "tcp-open|{tcp: {port: $HTTP_PORT}}|ok|[elapsed_ms >= 0]|ok"
  "tcp-closed|{tcp: {port: $CLOSED_PORT, timeout: 2s}}|critical|[elapsed_ms >= 0]|critical"
  "dns-answer|{dns: {name: up.test, server: \"127.0.0.1:$DNS_PORT\"}}|ok|[count == 2]|critical"
  "dns-nxdomain|{dns: {name: nx.test, server: \"127.0.0.1:$DNS_PORT\", timeout: 2s}}|critical|[count == 0]|critical"
  "exec-0|{exec: {command: [sh, -c, 'echo fine; exit 0']}}|ok|['stdout:find(\"fine\") ~= nil']|ok"
  "exec-1|{exec: {command: [sh, -c, 'echo slow; exit 1']}}|warning|[exit_code == 1]|warning"
  "exec-2|{exec: {command: [sh, -c, 'echo down; exit 2']}}|critical|[exit_code == 2]|critical"
  "exec-3|{exec: {command: [sh, -c, 'echo cannot tell; exit 3']}}|unknown|[exit_code == 3]|unknown"
  "process-running|{system: {process: nginx}}|ok|[count > 0]|ok"
  "process-absent|{system: {process: has-no-such-process}}|critical|[count == 0]|ok"
  "file-present|{system: {file: \"$T/present\"}}|ok|[exists]|ok"
  "file-absent|{system: {file: \"$T/absent\"}}|critical|[not exists]|ok"
  "cert-60-days|{system: {cert: \"$C/60.pem\"}}|ok|[days_left > 50]|ok"
  "cert-20-days|{system: {cert: \"$C/20.pem\"}}|warning|[days_left > 10]|ok"
  "cert-5-days|{system: {cert: \"$C/5.pem\"}}|critical|[days_left > 1]|ok"
  "sql-ran|{sql: {driver: sqlite, database: \"$T/app.db\", query: 'select count(*) as n from jobs'}}|ok|[n == 2]|critical"
  "sql-failed|{sql: {driver: sqlite, database: \"$T/app.db\", query: 'select * from no_such_table'}}|critical|[rows == 0]|critical"
  "page-found|{page: {url: \"$URL/\", expect_text: Welcome}}|ok|['title == \"\"']|ok"
  "page-missing-text|{page: {url: \"$URL/\", expect_text: Goodbye}}|critical|['title == \"\"']|critical"
  "page-5xx|{page: {url: \"$URL/down\"}}|critical|['title == \"\"']|critical"
)

# Two small filesystems, one past 90% and one past 95%, need root to mount.
if [ "$(id -u)" -eq 0 ]; then
  for fill in 92 97; do
    mkdir -p "$T/fs$fill"
    if mount -t tmpfs -o size=1024k tmpfs "$T/fs$fill"; then
      MOUNTS+=("$T/fs$fill")
      dd if=/dev/zero of="$T/fs$fill/fill" bs=1k count=$((fill * 1024 / 100)) 2>/dev/null
    fi
  done
fi
if [ "${#MOUNTS[@]}" -eq 2 ]; then
  CASES+=(
    "disk-92|{system: {disk: \"$T/fs92\"}}|warning|[used_percent < 99]|ok"
    "disk-97|{system: {disk: \"$T/fs97\"}}|critical|[used_percent < 99]|ok"
  )
else
  echo "note: not root (or no tmpfs): the disk use defaults are not driven here, only in unit tests"
  [ "${CI:-}" = true ] && [ "$(id -u)" -eq 0 ] && { echo "FAIL: could not mount tmpfs as root"; exit 1; }
fi

W="$T/ws"
mkdir -p "$W/rules" "$W/trees" "$W/plans"
echo "{}" > "$W/has.yaml"
for case in "${CASES[@]}"; do
  IFS='|' read -r name probe _ expect _ <<<"$case"
  cat >>"$W/rules/cases.yaml" <<YAML
kind: Rule
name: $name
probe: $probe
---
kind: Rule
name: $name-x
probe: $probe
expect: $expect
---
YAML
  cat >"$W/trees/$name.yaml" <<YAML
kind: Tree
name: t-$name
start: look
nodes:
  look:
    probe: $probe
    branches:
      - {status: ok, next: is-ok}
      - {status: warning, next: is-warning}
      - {status: critical, next: is-critical}
      - {else: is-unknown}
  is-ok: {diagnosis: {cause: ok, severity: ok}}
  is-warning: {diagnosis: {cause: warning, severity: warning}}
  is-critical: {diagnosis: {cause: critical, severity: critical}}
  is-unknown: {diagnosis: {cause: unknown, severity: unknown}}
YAML
  cat >>"$W/plans/waits.yaml" <<YAML
kind: Plan
name: w-$name
steps:
  - {id: wait, timeout: 1s, wait: {probe: $probe, interval: 300ms}}
---
kind: Plan
name: w-$name-x
steps:
  - {id: wait, timeout: 1s, wait: {probe: $probe, expect: $expect, interval: 300ms}}
---
YAML
done
# The tree a new user writes: the API node's ok branch must not be taken on
# a 503.
cat >"$W/trees/api.yaml" <<YAML
kind: Tree
name: api
start: api
nodes:
  api:
    probe: {http: {url: "$URL/down"}}
    branches:
      - {status: ok, next: api-healthy}
      - {else: api-down}
  api-healthy: {diagnosis: {cause: api healthy, severity: ok}}
  api-down: {diagnosis: {cause: api down, severity: critical}}
YAML
# The branch order has-diagnose(1) shows: a 503 told from no answer.
for target in "$URL/down" "http://127.0.0.1:$CLOSED_PORT/"; do
  cat >>"$W/trees/order.yaml" <<YAML
kind: Tree
name: order-$([ "$target" = "$URL/down" ] && echo 503 || echo refused)
start: api
nodes:
  api:
    probe: {http: {url: "$target", timeout: 2s}}
    branches:
      - {if: "status == 503", next: maintenance}
      - {status: critical, next: down}
      - {else: healthy}
  maintenance: {diagnosis: {cause: maintenance, severity: warning}}
  down: {diagnosis: {cause: down, severity: critical}}
  healthy: {diagnosis: {cause: healthy, severity: ok}}
---
YAML
done
cd "$W" || exit 1

run validate -o table
expect_rc 0 "the cases are valid definitions"
expect_out "note: rule 'http-503' has no expect or expect_status: the http probe's default verdict decides" \
  "validate notes a rule that relies on the default"
expect_out "node 'api' of tree 'api' branches on the verdict of its http probe" "validate notes a tree node"
expect_no_out "rule 'http-503-x'" "a rule with expect is not noted"
expect_no_out "rule 'http-listed'" "a rule with expect_status is not noted"
expect_no_out "rule 'tcp-open'" "a kind whose status is the verdict is not noted"
run validate --strict -o table
expect_rc 65 "--strict makes the notes errors"
expect_out "error: rule 'http-503' has no expect or expect_status" "--strict: the note is an error"

# inspect run: every case without and with its expectations.
run inspect run -o json
python3 - "$T/stdout" >"$T/statuses" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(r["rule"], r["status"])
PY
for case in "${CASES[@]}"; do
  IFS='|' read -r name _ bare _ with <<<"$case"
  grep -qx "$name $bare" "$T/statuses" && ok || fail "inspect: $name is $(grep "^$name " "$T/statuses"), not $bare"
  grep -qx "$name-x $with" "$T/statuses" && ok || fail "inspect: $name-x is $(grep "^$name-x " "$T/statuses"), not $with"
done

# --explain says which applied.
run inspect run http-503 http-503-x --explain -o json
expect_out "default: http status 503 is 5xx -> critical" "--explain names the default that applied"
expect_out "not applied: the expectations decide, not the http probe's default verdict" \
  "--explain says the expectations decided"
run inspect run tcp-open tcp-open-x http-listed http-listed-x tcp-closed-x --explain -o table
expect_out "default: tcp probe's own status -> ok" "--explain: a tcp check without expect"
expect_out "the tcp probe's own status stands (ok); the expectations add conditions" "--explain: a tcp check with expect"
expect_out "http status 503 is in expect_status 200, 503" "--explain: expect_status judged"
expect_out "its expectations were not evaluated" "--explain: a probe that failed"
run inspect run http-503
expect_rc 2 "a bare check of a 503 exits critical"
expect_out "default: http status 503 is 5xx -> critical" "the table says why"

# A tree node's status branches, and a wait step, give the same verdict.
for case in "${CASES[@]}"; do
  IFS='|' read -r name _ bare _ with <<<"$case"
  run diagnose run "t-$name" -o json
  node=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["conclusion"]["node"])' "$T/stdout" 2>/dev/null)
  # An unknown verdict is a check that could not tell: the walk stops there.
  want_node=$([ "$bare" = unknown ] && echo look || echo "is-$bare")
  [ "$node" = "$want_node" ] && ok || fail "tree t-$name ended at '$node', not $want_node"
  run plan run "w-$name"
  want=$([ "$bare" = ok ] && echo 0 || echo 1)
  [ "$RC" -eq "$want" ] && ok || fail "wait w-$name exited $RC, want $want (verdict $bare)"
  run plan run "w-$name-x"
  want=$([ "$with" = ok ] && echo 0 || echo 1)
  [ "$RC" -eq "$want" ] && ok || fail "wait w-$name-x exited $RC, want $want (verdict $with)"
done

run diagnose run order-503 -o json
expect_out '"node": "maintenance"' "status == 503 before status: critical tells a 503"
run diagnose run order-refused -o json
expect_out '"node": "down"' "with no answer the status is null and the verdict critical"

run diagnose run api -o json
expect_out '"node": "api-down"' "the tree concludes the API is down on a 503"
expect_no_out '"node": "api-healthy"' "the ok branch is not taken on a 503"

finish
