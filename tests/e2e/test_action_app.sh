# End-to-end: the library Action app.restart (plugins/actions/app.yaml)
# restarting a real nginx and waiting on its health URL: by a command here,
# by a command over ssh (a real sshd on loopback), and by a systemd unit.
# systemd does not run on this machine, so the unit cases use a fake
# `systemctl` on the PATH (of has here, of the ssh sessions there) that
# records its arguments and restarts the same nginx.
source "$(dirname "$0")/../cli/lib.sh"
source "$(dirname "$0")/nginx.sh"
source "$(dirname "$0")/sshd.sh"

if ! command -v nginx >/dev/null || [ ! -x /usr/sbin/sshd ] || ! command -v ssh >/dev/null; then
  skip "nginx or sshd is not installed (Debian packages nginx-light, openssh-server)"
fi
trap 'stop_sshd; stop_nginx; rm -rf "$T"' EXIT

port=$(free_port)
start_nginx "$T/nginx" "
  server {
    listen 127.0.0.1:$port;
    location = /health { return 200 'ok'; }
    location = /broken { return 503 'no'; }
  }"

# restart-app: stops the nginx and starts it again (a new master pid).
mkdir -p "$T/bin"
cat >"$T/bin/restart-app" <<EOF2
#!/bin/sh
echo "restart-app \$*" >>"$T/calls"
nginx -c "$T/nginx/nginx.conf" -p "$T/nginx" -s stop
while [ -e "$T/nginx/nginx.pid" ]; do sleep 0.1; done
sleep 1
nginx -c "$T/nginx/nginx.conf" -p "$T/nginx" -g 'daemon on;'
EOF2
cat >"$T/bin/systemctl" <<EOF2
#!/bin/sh
echo "systemctl \$*" >>"$T/calls"
exec "$T/bin/restart-app"
EOF2
chmod +x "$T/bin/restart-app" "$T/bin/systemctl"
start_sshd "$T/sshd" "SetEnv PATH=$T/bin:/usr/sbin:/usr/bin:/sbin:/bin"

export HAS_PLUGINS="$HAS_SOURCE/plugins"
WS="$T/ws"
mkdir -p "$WS"
cat >"$WS/has.yaml" <<EOF2
state: .has/state.db
ssh:
  port: $SSHD_PORT
  identity: $SSHD_KEY
  known_hosts: $SSHD_KNOWN_HOSTS
  host_key: strict
EOF2
cat >"$WS/plans.yaml" <<EOF2
kind: Plan
name: restart
params:
  unit: {default: ""}
  command: {type: list, default: []}
  host: {default: ""}
  health: {default: "http://127.0.0.1:$port/health"}
steps:
  - id: restart
    use: app.restart
    with:
      unit: "\${{ params.unit }}"
      command: "\${{ params.command }}"
      host: "\${{ params.host }}"
      health: "\${{ params.health }}"
      interval: 200ms
    timeout: 20s
EOF2

pid() { cat "$T/nginx/nginx.pid" 2>/dev/null; }
healthy() { curl -fs "http://127.0.0.1:$port/health" >/dev/null; }

run -C "$WS" validate
expect_rc 0 "the workspace with the library validates"

# 1. A command here.
before=$(pid)
run -C "$WS" -o json plan run restart -p "command=[\"$T/bin/restart-app\", \"here\"]"
expect_rc 0 "restart by a command"
expect_err "healthy succeeded" "the health URL was waited on"
[ "$(pid)" != "$before" ] && healthy && ok || fail "nginx was restarted ($before -> $(pid)) and answers"
[ "$(tail -1 "$T/calls")" = "restart-app here" ] && ok || fail "the command ran with its argument: $(cat "$T/calls")"

# 2. A command over ssh.
before=$(pid)
run -C "$WS" -o json plan run restart -p 'command=["restart-app", "over ssh"]' -p host=127.0.0.1
expect_rc 0 "restart by a command over ssh"
[ "$(pid)" != "$before" ] && healthy && ok || fail "nginx was restarted over ssh ($before -> $(pid))"
[ "$(tail -1 "$T/calls")" = "restart-app over ssh" ] && ok || fail "the argument kept its space: $(cat "$T/calls")"
grep -q "Accepted publickey" "$SSHD_LOG" && ok || fail "the command went through sshd"

# 3. A systemd unit here, then over ssh.
before=$(pid)
PATH="$T/bin:$PATH" run -C "$WS" -o json plan run restart -p unit=app.service
expect_rc 0 "restart a unit"
grep -qx "systemctl restart app.service" "$T/calls" && ok || fail "systemctl restart app.service ran: $(cat "$T/calls")"
[ "$(pid)" != "$before" ] && healthy && ok || fail "the unit restart restarted nginx"
: >"$T/calls"
run -C "$WS" -o json plan run restart -p unit=app.service -p host=127.0.0.1
expect_rc 0 "restart a unit over ssh"
grep -qx "systemctl restart app.service" "$T/calls" && ok || fail "systemctl ran over ssh: $(cat "$T/calls")"

# 4. Neither or both of unit and command: refused before anything runs.
: >"$T/calls"
run -C "$WS" -o json plan run restart
expect_rc 1 "neither unit nor command is refused"
run -C "$WS" -o json plan run restart -p unit=app.service -p "command=[\"$T/bin/restart-app\"]"
expect_rc 1 "both unit and command are refused"
[ ! -s "$T/calls" ] && ok || fail "nothing was restarted: $(cat "$T/calls")"

# 5. A health URL that never answers 200 fails the restart within the
#    calling step's timeout.
start=$(date +%s)
run -C "$WS" -o json plan run restart -p "command=[\"$T/bin/restart-app\"]" -p "health=http://127.0.0.1:$port/broken"
expect_rc 1 "an unhealthy application fails the restart"
expect_out "step 'healthy' failed" "the health wait is what failed"
[ $(($(date +%s) - start)) -lt 40 ] && ok || fail "the step's timeout bounded the wait"

finish
