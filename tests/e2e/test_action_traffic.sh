# End-to-end: the library Actions traffic.drain and traffic.restore
# (plugins/actions/traffic.yaml) against a real nginx proxying to two local
# backends (python3 http.server, each answering its own name): after a
# drain every request goes to the other backend; after a restore both answer
# again; draining the last live server is refused and changes nothing.
source "$(dirname "$0")/../cli/lib.sh"
source "$(dirname "$0")/nginx.sh"

if ! command -v nginx >/dev/null || ! command -v curl >/dev/null; then
  skip "nginx or curl is not installed (Debian packages nginx-light, curl)"
fi

backends=()
cleanup() {
  stop_nginx
  for pid in "${backends[@]}"; do kill "$pid" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT

start_backend() { # NAME PORT
  mkdir -p "$T/$1"
  echo "$1" >"$T/$1/index.html"
  python3 -m http.server "$2" --bind 127.0.0.1 --directory "$T/$1" >"$T/$1.log" 2>&1 &
  backends+=($!)
  for _ in $(seq 50); do
    curl -fs "http://127.0.0.1:$2/" >/dev/null && return
    sleep 0.1
  done
  echo "FAIL: backend $1 did not start"; cat "$T/$1.log"; exit 1
}

port_a=$(free_port); start_backend alpha "$port_a"
port_b=$(free_port); start_backend beta "$port_b"
front=$(free_port)
cat >"$T/upstream.conf" <<EOF2
server 127.0.0.1:$port_a max_fails=0;  # alpha
server 127.0.0.1:$port_b;
EOF2
chmod 640 "$T/upstream.conf"
start_nginx "$T/nginx" "
  upstream app { include $T/upstream.conf; }
  server {
    listen 127.0.0.1:$front;
    location / { proxy_pass http://app; proxy_next_upstream off; }
  }"

# answers N: the backends that answered N fresh requests, sorted and counted.
answers() {
  for _ in $(seq "$1"); do curl -fs "http://127.0.0.1:$front/" || echo error; done | sort | uniq -c | awk '{print $2 "=" $1}' | paste -sd' '
}
# settle WANT: nginx applies a reload asynchronously (new workers start, the
# old ones finish what they hold); wait until 10 answers in a row are WANT.
settle() {
  for _ in $(seq 50); do
    [ "$(answers 10)" = "$1" ] && return
    sleep 0.1
  done
}

[ "$(answers 20)" = "alpha=10 beta=10" ] && ok || fail "round robin before the drain: $(answers 20)"

WS="$T/ws"
mkdir -p "$WS"
export HAS_PLUGINS="$HAS_SOURCE/plugins"
cat >"$WS/has.yaml" <<'EOF2'
state: .has/state.db
EOF2
cat >"$WS/plans.yaml" <<EOF2
kind: Plan
name: drain
params:
  server: {}
  fail_after: {type: bool, default: false}
steps:
  - id: drain
    use: traffic.drain
    with:
      upstream_file: $T/upstream.conf
      server: "\${{ params.server }}"
      nginx_conf: $T/nginx/nginx.conf
      nginx_pid_file: $T/nginx/nginx.pid
  - id: later
    needs: [drain]
    when: params.fail_after
    exec: {command: ["false"]}
---
kind: Plan
name: restore
params:
  server: {}
steps:
  - id: restore
    use: traffic.restore
    with:
      upstream_file: $T/upstream.conf
      server: "\${{ params.server }}"
      nginx_conf: $T/nginx/nginx.conf
EOF2

run -C "$WS" validate
expect_rc 0 "the workspace with the library validates"

# Drain alpha: every request goes to beta.
run -C "$WS" -o json plan run drain -p server=127.0.0.1:$port_a
expect_rc 0 "drain succeeds"
expect_out '"state": "succeeded"' "the drain run succeeded"
grep -q "server 127.0.0.1:$port_a max_fails=0 down;  # alpha" "$T/upstream.conf" && ok ||
  fail "alpha is marked down, its parameters and comment kept: $(cat "$T/upstream.conf")"
[ "$(stat -c %a "$T/upstream.conf")" = 640 ] && ok || fail "the file keeps its mode"
settle "beta=10"
[ "$(answers 30)" = "beta=30" ] && ok || fail "after the drain all requests go to beta: $(answers 30)"

# Draining it again changes nothing and succeeds.
run -C "$WS" -o json plan run drain -p server=127.0.0.1:$port_a
expect_rc 0 "draining a drained server succeeds"
[ "$(grep -c down "$T/upstream.conf")" = 1 ] && ok || fail "still one down mark: $(cat "$T/upstream.conf")"

# beta is now the last live server: draining it is refused, nothing changes.
run -C "$WS" -o json plan run drain -p server=127.0.0.1:$port_b
expect_rc 1 "draining the last live server fails"
expect_out "no other server of the upstream is up" "and says why"
grep -q "server 127.0.0.1:$port_b;" "$T/upstream.conf" && ok || fail "beta is not marked: $(cat "$T/upstream.conf")"
[ "$(answers 10)" = "beta=10" ] && ok || fail "beta still answers"

# An unknown server is an error.
run -C "$WS" -o json plan run drain -p server=127.0.0.1:1
expect_rc 1 "draining an unknown server fails"
expect_out "is not in" "and says the server is not in the file"

# Restore alpha (reloading with nginx -s reload this time): both answer.
run -C "$WS" -o json plan run restore -p server=127.0.0.1:$port_a
expect_rc 0 "restore succeeds"
grep -q "server 127.0.0.1:$port_a max_fails=0;  # alpha" "$T/upstream.conf" && ok ||
  fail "alpha is no longer down: $(cat "$T/upstream.conf")"
for _ in $(seq 50); do
  [ "$(answers 10)" = "alpha=5 beta=5" ] && break
  sleep 0.1
done
[ "$(answers 20)" = "alpha=10 beta=10" ] && ok || fail "after the restore both answer: $(answers 20)"

# A plan that fails after the drain rolls it back: alpha is restored.
run -C "$WS" -o json plan run drain -p server=127.0.0.1:$port_a -p fail_after=true
expect_rc 1 "the failing plan fails"
expect_out '"state": "rolled_back"' "and is rolled back"
grep -q "down" "$T/upstream.conf" && fail "the rollback restored alpha: $(cat "$T/upstream.conf")" || ok
settle "alpha=5 beta=5"
[ "$(answers 20)" = "alpha=10 beta=10" ] && ok || fail "after the rollback both answer: $(answers 20)"

# A configuration nginx -t rejects: the drain fails and the file is restored.
cp "$T/nginx/nginx.conf" "$T/nginx.conf.good"
echo "this is not nginx syntax;" >>"$T/nginx/nginx.conf"
run -C "$WS" -o json plan run drain -p server=127.0.0.1:$port_a
expect_rc 1 "a drain whose nginx -t fails fails"
cp "$T/nginx.conf.good" "$T/nginx/nginx.conf"
grep -q "down" "$T/upstream.conf" && fail "the failed drain left the file as it was: $(cat "$T/upstream.conf")" || ok

finish
