# End-to-end: the library Action host.reboot (plugins/actions/host.yaml)
# against a real sshd on loopback. This machine cannot be rebooted, so a
# fake `systemctl` on the PATH of the ssh sessions (sshd's SetEnv) stands in
# for the reboot: it writes a new boot id, stops sshd with every session, and
# starts it again two seconds later — the Action must see the host go away
# and wait until ssh answers with the new boot id.
source "$(dirname "$0")/../cli/lib.sh"
source "$(dirname "$0")/sshd.sh"

if [ ! -x /usr/sbin/sshd ] || ! command -v ssh >/dev/null; then
  skip "sshd or ssh is not installed (Debian packages openssh-server, openssh-client)"
fi

cleanup() {
  stop_sshd
  # The restarted sshd is no child of this shell: find it by its pid file.
  if [ -s "$T/sshd/sshd.pid" ]; then
    pid=$(cat "$T/sshd/sshd.pid")
    pkill -TERM -P "$pid" 2>/dev/null
    kill "$pid" 2>/dev/null
  fi
  rm -rf "$T"
}
trap cleanup EXIT

mkdir -p "$T/fakebin"
echo "boot-1" >"$T/boot_id"
cat >"$T/fakebin/systemctl" <<EOF2
#!/bin/sh
# A stand-in for systemctl reboot: the "host" (sshd) goes down and comes back.
echo "systemctl \$*" >>"$T/calls"
echo "boot-2" >"$T/boot_id"
pid=\$(cat "$T/sshd/sshd.pid")
pkill -TERM -P "\$pid"
kill "\$pid"
while kill -0 "\$pid" 2>/dev/null; do sleep 0.1; done
sleep 2
/usr/sbin/sshd -D -e -f "$T/sshd/sshd_config" </dev/null >>"$T/sshd/sshd.log" 2>&1 &
EOF2
chmod +x "$T/fakebin/systemctl"
start_sshd "$T/sshd" "SetEnv PATH=$T/fakebin:/usr/bin:/bin"
first_pid=$SSHD_PID

export HAS_PLUGINS="$HAS_SOURCE/plugins"
WS="$T/ws"
mkdir -p "$WS"
cat >"$WS/has.yaml" <<EOF2
state: .has/state.db
ssh:
  identity: $SSHD_KEY
  known_hosts: $SSHD_KNOWN_HOSTS
  host_key: strict
EOF2
cat >"$WS/plans.yaml" <<EOF2
kind: Plan
name: reboot
params:
  command: {type: list, default: [systemctl, reboot]}
steps:
  - id: reboot
    use: host.reboot
    with:
      host: 127.0.0.1
      port: $SSHD_PORT
      command: "\${{ params.command }}"
      boot_id_command: [cat, $T/boot_id]
EOF2

run -C "$WS" validate
expect_rc 0 "the workspace with the library validates"

# A reboot command the host does not have fails at once; nothing happens.
run -C "$WS" -o json plan run reboot -p 'command=["no-such-reboot"]'
expect_rc 1 "a missing reboot command fails"
expect_out "no-such-reboot: not found" "and says so"
[ ! -e "$T/calls" ] && ok || fail "nothing was rebooted"

start=$(date +%s)
run -C "$WS" -o json plan run reboot
elapsed=$(($(date +%s) - start))
expect_rc 0 "the reboot succeeds"
expect_out '"state": "succeeded"' "the run succeeded"
[ "$(cat "$T/calls" 2>/dev/null)" = "systemctl reboot" ] && ok || fail "the reboot command ran once: $(cat "$T/calls" 2>/dev/null)"
new_pid=$(cat "$T/sshd/sshd.pid")
[ "$new_pid" != "$first_pid" ] && kill -0 "$new_pid" 2>/dev/null && ok || fail "sshd was restarted ($first_pid -> $new_pid)"
grep -q "boot_after attempt 2" <<<"$ERR" && ok || fail "the first look still saw the old boot (the host was not back yet)"
expect_err "succeeded in" "the steps report"
grep -q "boot_after succeeded.*boot-2" <<<"$ERR" && ok || fail "the Action ended on the new boot id"
[ "$elapsed" -ge 3 ] && ok || fail "the Action waited for the host to come back (took ${elapsed}s)"
ssh -o BatchMode=yes -o UserKnownHostsFile="$SSHD_KNOWN_HOSTS" -i "$SSHD_KEY" -p "$SSHD_PORT" 127.0.0.1 true &&
  ok || fail "ssh answers after the reboot"

finish
