# Starts a real nginx on loopback for end-to-end tests. Source it, then call
# start_nginx DIR SERVER_BLOCKS; it sets NGINX_PID and stops nginx on exit.
# Each caller's trap must call stop_nginx (lib.sh's trap removes $T).

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start_nginx() {
  local dir=$1 servers=$2
  if ! command -v nginx >/dev/null; then
    echo "nginx is not installed (apt-get install nginx-light)" >&2
    exit 1
  fi
  mkdir -p "$dir/logs" "$dir/tmp"
  local modules=""
  # nginx-light builds the echo module (echo_sleep for slow responses) as a
  # dynamic module.
  if [ -f /usr/lib/nginx/modules/ngx_http_echo_module.so ]; then
    modules="load_module /usr/lib/nginx/modules/ngx_http_echo_module.so;"
  fi
  cat > "$dir/nginx.conf" <<CONF
$modules
$( [ "$(id -u)" -eq 0 ] && echo "user root root;" )
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  default_type text/html;
  keepalive_requests 100000;
$servers
}
CONF
  nginx -c "$dir/nginx.conf" -p "$dir" -g 'daemon on;' || { cat "$dir/logs/error.log" >&2; exit 1; }
  for _ in $(seq 50); do
    [ -s "$dir/nginx.pid" ] && break
    sleep 0.1
  done
  NGINX_PID=$(cat "$dir/nginx.pid")
  NGINX_DIR=$dir
}

stop_nginx() {
  if [ -n "${NGINX_DIR:-}" ] && [ -s "$NGINX_DIR/nginx.pid" ]; then
    nginx -c "$NGINX_DIR/nginx.conf" -p "$NGINX_DIR" -s stop 2>/dev/null || kill "$(cat "$NGINX_DIR/nginx.pid")" 2>/dev/null
  fi
}
