# End to end: page probes against a real nginx on loopback, with the http
# engine and with headless Chromium through ChromeDriver.
# Needs the Debian packages nginx-light, chromium and chromium-driver.
source "$HAS_SOURCE/tests/cli/lib.sh"

for program in nginx chromium chromedriver python3; do
  if ! command -v "$program" >/dev/null && [ ! -x "/usr/sbin/$program" ]; then
    skip "$program is not installed (apt-get install nginx-light chromium chromium-driver python3)"
  fi
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

nginx_pid=""
cleanup() {
  if [ -n "$nginx_pid" ]; then
    kill "$nginx_pid" 2>/dev/null
    wait "$nginx_pid" 2>/dev/null
  fi
  # has stops its ChromeDriver when it exits; one left by a crash is found
  # by the temporary directory this test gave it.
  for pid in $(pgrep -f -- "$T/tmp/has-chromedriver" || true); do
    kill "$pid" 2>/dev/null
  done
  rm -rf "$T"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"

# --- the site: a static part, a list only scripts build, a login by script
site="$T/site"
mkdir -p "$site" "$T/nginx" "$T/tmp" "$T/shots"
# nginx workers run as nobody when started by root: let them read the site.
chmod 0755 "$T" "$site"
cat >"$site/index.html" <<'EOF'
<!DOCTYPE html>
<html><head><title>Shop</title></head>
<body>
  <h1>Static heading</h1>
  <div id="app"><p>Loading...</p></div>
  <script>
    var app = document.getElementById('app');
    var list = document.createElement('ul');
    ['Item 1', 'Item 2', 'Item 3'].forEach(function (name) {
      var item = document.createElement('li');
      item.className = 'item';
      item.textContent = name;
      list.appendChild(item);
    });
    app.replaceChildren(list);
    setTimeout(function () {
      var late = document.createElement('p');
      late.id = 'late';
      late.textContent = 'Arrived late';
      document.body.appendChild(late);
    }, 300);
  </script>
</body></html>
EOF
cat >"$site/login.html" <<'EOF'
<!DOCTYPE html>
<html><head><title>Log in</title></head>
<body>
  <form id="login">
    <input id="user" name="user"> <input id="password" name="password" type="password">
    <button id="submit" type="submit">Log in</button>
  </form>
  <p id="error"></p>
  <script>
    document.getElementById('login').addEventListener('submit', function (event) {
      event.preventDefault();
      var user = document.getElementById('user').value;
      var password = document.getElementById('password').value;
      if (user === 'alice' && password === 's3cret-e2e-pass') {
        document.cookie = 'session=abc123; path=/';
        location.href = '/dashboard';
      } else {
        document.getElementById('error').textContent = 'Wrong user or password';
      }
    });
  </script>
</body></html>
EOF
cat >"$site/dashboard.html" <<'EOF'
<!DOCTYPE html>
<html><head><title>Dashboard</title></head><body><h1>Welcome, alice</h1></body></html>
EOF
chmod 0644 "$site"/*.html

cat >"$T/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $T/nginx/body;
  proxy_temp_path $T/nginx/proxy;
  fastcgi_temp_path $T/nginx/fastcgi;
  uwsgi_temp_path $T/nginx/uwsgi;
  scgi_temp_path $T/nginx/scgi;
  types { text/html html; }
  server {
    listen 127.0.0.1:$port;
    root $site;
    location = /dashboard {
      if (\$cookie_session != "abc123") { return 302 /login.html; }
      try_files /dashboard.html =404;
    }
  }
}
EOF
"$NGINX" -c "$T/nginx/nginx.conf" -p "$T/nginx" -g 'daemon off;' 2>"$T/nginx/stderr" &
nginx_pid=$!
for _ in $(seq 50); do
  curl -fsS -o /dev/null "$base/" 2>/dev/null && break
  sleep 0.1
done
if ! curl -fsS -o /dev/null "$base/"; then
  echo "FAIL: nginx did not start: $(cat "$T/nginx/stderr" "$T/nginx/error.log" 2>/dev/null)" >&2
  exit 1
fi

# --- the workspace
ws="$T/ws"
mkdir -p "$ws"
cat >"$ws/has.yaml" <<'EOF'
state: .has/state.db
defaults: {timeout: 10s}
EOF
cat >"$ws/pages.yaml" <<EOF
kind: Rule
name: static-http
description: The shipped template, http engine, on static content.
use: page-renders
with: {url: "$base/", text: Static heading}
---
kind: Rule
name: js-list-http
description: The http engine does not run scripts, so it cannot see the list.
probe:
  page: {url: "$base/", expect_element: "//div[@id='app']//li"}
---
kind: Rule
name: js-list-browser
probe:
  page:
    url: "$base/"
    engine: browser
    expect_text: [Static heading, Item 3]
    expect_element: ["#app li.item"]
    steps:
      - wait_for: "#late"
        timeout: 5s
      - expect_text: Arrived late
---
kind: Rule
name: missing-element
probe:
  page:
    url: "$base/"
    engine: browser
    expect_element: ["#app li.item", "#app li.sold-out"]
    screenshot: $T/shots/
---
kind: Rule
name: login-browser
probe:
  page:
    url: "$base/dashboard"
    engine: browser
    login:
      - goto: "$base/login.html"
      - fill: {selector: "#user", value: alice}
      - fill: {selector: "#password", value: "\${env:PAGE_PASSWORD}"}
      - click: "#submit"
    expect_text: Welcome, alice
---
kind: Rule
name: cookie-browser
description: A session cookie given in the rule stands in for the login.
probe:
  page: {url: "$base/dashboard", engine: browser, cookies: {session: abc123}, expect_text: "Welcome, alice"}
---
kind: Rule
name: step-fails
probe:
  page:
    url: "$base/login.html"
    engine: browser
    steps:
      - fill: {selector: "#user", value: alice}
      - click: "#no-such-button"
        timeout: 1s
    expect_text: Log in
---
kind: Rule
name: no-login-browser
description: Without the login the dashboard sends the browser to the form.
probe:
  page: {url: "$base/dashboard", engine: browser, expect_text: "Welcome, alice"}
EOF

export HAS_PLUGINS="$HAS_SOURCE/plugins"
export PAGE_PASSWORD=s3cret-e2e-pass
start=$(date +%s.%N)
TMPDIR="$T/tmp" run -C "$ws" -o json inspect run
end=$(date +%s.%N)
echo "inspect run took $(python3 -c "print(f'{$end - $start:.1f}')") s"
expect_rc 2 "a critical check makes inspect exit 2"
printf '%s' "$OUT" >"$T/results.json"

check() {
  if python3 - "$T/results.json" "$@" <<'EOF'; then ok; else fail "$*"; fi
import json, sys
doc = json.load(open(sys.argv[1]))
results = {r["rule"]: r for r in doc["results"]}
rule, status = sys.argv[2], sys.argv[3]
r = results.get(rule)
if r is None:
    sys.exit(f"no result for {rule}; have {sorted(results)}")
if r["status"] != status:
    sys.exit(f"{rule}: status {r['status']}, expected {status}: {r['message']}")
for needle in sys.argv[4:]:
    if needle not in r["message"]:
        sys.exit(f"{rule}: message {r['message']!r} lacks {needle!r}")
EOF
}
check static-http ok "$base/ rendered 'Shop'"
check js-list-http critical "no element matches '//div[@id='app']//li' on $base/"
check js-list-browser ok "4 expectations met"
check missing-element critical "no element matches '#app li.sold-out' on $base/"
check login-browser ok "rendered 'Dashboard'"
check cookie-browser ok "rendered 'Dashboard'"
check step-fails critical "step 2: no element matches '#no-such-button' to click (waited 1s) on $base/login.html"
check no-login-browser critical "text 'Welcome, alice' not found on $base/dashboard (ended at $base/login.html)"

# The failure screenshot is a PNG, and the result says where it is.
if python3 - "$T/results.json" "$T/shots" <<'EOF'; then ok; else fail "screenshot of missing-element"; fi
import json, os, sys
doc = json.load(open(sys.argv[1]))
r = next(r for r in doc["results"] if r["rule"] == "missing-element")
values = r["values"]
shots = os.listdir(sys.argv[2])
if len(shots) != 1:
    sys.exit(f"expected one screenshot, found {shots}")
path = os.path.join(sys.argv[2], shots[0])
data = open(path, "rb").read()
if len(data) < 100 or not data.startswith(b"\x89PNG\r\n\x1a\n"):
    sys.exit(f"{path} is not a PNG ({len(data)} bytes)")
if values.get("screenshot") != path:
    sys.exit(f"values.screenshot is {values['screenshot']}, the file is {path}")
EOF

# The password typed into the form is nowhere in what has wrote.
expect_no_out "s3cret-e2e-pass" "the login password stays out of the results"
if grep -rqa "s3cret-e2e-pass" "$ws/.has"; then fail "the password reached the state file"; else ok; fi

# has stopped ChromeDriver and removed the browser profiles and cookie jars.
if pgrep -f -- "$T/tmp/has-chromedriver" >/dev/null; then fail "chromedriver still runs after has exited"; else ok; fi
leftover=$(ls -A "$T/tmp")
if [ -z "$leftover" ]; then ok; else fail "temporary files left behind: $leftover"; fi

# A selector the browser cannot parse is the rule's fault: unknown.
ws2="$T/ws2"
mkdir -p "$ws2"
cp "$ws/has.yaml" "$ws2/"
cat >"$ws2/broken.yaml" <<EOF
kind: Rule
name: bad-selector
probe:
  page: {url: "$base/", engine: browser, expect_element: "#app >> li["}
EOF
TMPDIR="$T/tmp" run -C "$ws2" -o json inspect run
expect_rc 3 "a bad CSS selector makes the check unknown"
expect_out "page probe: '#app >> li[' is not a valid CSS selector" "the selector is named"

# The browser engine says why it cannot run where ChromeDriver is missing.
HAS_CHROMEDRIVER="$T/none/chromedriver" run -C "$ws2" -o json inspect run
expect_rc 3 "no chromedriver makes the check unknown"
expect_out "browser engine cannot run here: HAS_CHROMEDRIVER names $T/none/chromedriver" "the reason"

finish
