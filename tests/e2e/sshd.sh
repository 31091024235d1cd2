# Starts a real OpenSSH server on loopback for end-to-end tests. Source it,
# then call start_sshd DIR [EXTRA_CONFIG_LINES]: it runs /usr/sbin/sshd -D on
# a free 127.0.0.1 port as the current user, with a generated host key and
# one authorized client key, and sets
#   SSHD_PORT        the port
#   SSHD_USER        the user to log in as (the current user)
#   SSHD_KEY         the client's private key
#   SSHD_KNOWN_HOSTS a known_hosts file that already holds the host key
#   SSHD_LOG         sshd's log (LogLevel INFO: one "Accepted publickey" per login)
# Each caller's trap must call stop_sshd (lib.sh's trap removes $T).

sshd_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start_sshd() {
  local dir=$1 extra=${2:-}
  if [ ! -x /usr/sbin/sshd ] || ! command -v ssh-keygen >/dev/null; then
    echo "sshd is not installed (apt-get install openssh-server)" >&2
    exit 1
  fi
  mkdir -p "$dir"
  ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key" </dev/null
  ssh-keygen -q -t ed25519 -N '' -f "$dir/client_key" </dev/null
  cp "$dir/client_key.pub" "$dir/authorized_keys"
  chmod 600 "$dir/authorized_keys"
  # As root, sshd refuses to start without its privilege separation directory.
  if [ "$(id -u)" -eq 0 ]; then mkdir -p /run/sshd; fi
  SSHD_PORT=$(sshd_free_port)
  SSHD_USER=$(id -un)
  cat > "$dir/sshd_config" <<CONF
Port $SSHD_PORT
ListenAddress 127.0.0.1
HostKey $dir/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
AllowUsers $SSHD_USER
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
LogLevel INFO
$extra
CONF
  SSHD_LOG=$dir/sshd.log
  /usr/sbin/sshd -D -e -f "$dir/sshd_config" </dev/null >"$SSHD_LOG" 2>&1 &
  SSHD_PID=$!
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$SSHD_PORT") 2>/dev/null; then break; fi
    kill -0 "$SSHD_PID" 2>/dev/null || { cat "$SSHD_LOG" >&2; exit 1; }
    sleep 0.05
  done
  SSHD_KEY=$dir/client_key
  SSHD_KNOWN_HOSTS=$dir/known_hosts
  echo "[127.0.0.1]:$SSHD_PORT $(cut -d' ' -f1-2 "$dir/host_key.pub")" > "$SSHD_KNOWN_HOSTS"
}

stop_sshd() {
  if [ -n "${SSHD_PID:-}" ]; then
    # Connection handlers outlive the listener (a ControlPersist master keeps
    # its connection open): end them first.
    pkill -TERM -P "$SSHD_PID" 2>/dev/null || true
    kill "$SSHD_PID" 2>/dev/null || true
    wait "$SSHD_PID" 2>/dev/null || true
    SSHD_PID=
  fi
}
