// ChromeDriver is started once per process and shared: starting it costs
// little, but sessions through one driver keep the checks of a run from
// each paying for it, and one child is simpler to stop at exit than many.
// It stays in our process group, so a Ctrl-C or a supervisor killing the
// group reaches it too, and a guard pipe stops it if we die otherwise.

#include <has/probe/webdriver.hpp>

#include <has/core/log.hpp>
#include <has/util/http.hpp>

#include <fmt/format.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <system_error>
#include <thread>
#include <utility>

extern char** environ;

namespace has::probe::webdriver {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr std::string_view k_element_key = "element-6066-11e4-a52e-4f735466cecf";
// Ordinary commands answer at once; a new session waits for Chromium.
constexpr std::chrono::milliseconds k_command_timeout = 30s;
constexpr std::chrono::milliseconds k_session_timeout = 60s;
constexpr std::chrono::milliseconds k_driver_start_timeout = 20s;

std::string first_line(std::string_view text) {
  while (!text.empty() && (text.front() == '\n' || text.front() == ' ')) {
    text.remove_prefix(1);
  }
  return std::string(text.substr(0, text.find('\n')));
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

bool executable(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec) && ::access(path.c_str(), X_OK) == 0;
}

// Returns $variable, else name from PATH, else fallback; nullopt if none.
std::optional<fs::path> locate(const char* variable, std::string_view name, const fs::path& fallback) {
  if (const char* chosen = std::getenv(variable); chosen != nullptr && *chosen != '\0') {
    return executable(chosen) ? std::optional<fs::path>(chosen) : std::nullopt;
  }
  if (const char* path = std::getenv("PATH")) {
    std::string_view rest = path;
    while (true) {
      auto colon = rest.find(':');
      auto dir = rest.substr(0, colon);
      if (!dir.empty()) {
        auto candidate = fs::path(dir) / name;
        if (executable(candidate)) {
          return candidate;
        }
      }
      if (colon == std::string_view::npos) {
        break;
      }
      rest.remove_prefix(colon + 1);
    }
  }
  if (executable(fallback)) {
    return fallback;
  }
  return std::nullopt;
}

fs::path make_temp_dir(const fs::path& parent, std::string_view prefix) {
  auto pattern = (parent / fmt::format("{}-XXXXXX", prefix)).string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw Unavailable(fmt::format("cannot create a temporary directory in {}: {}", parent.string(),
                                  std::strerror(errno)));
  }
  return pattern;
}

// posix_spawn's file actions and attributes, freed on every path.
class SpawnSetup {
public:
  SpawnSetup() {
    posix_spawn_file_actions_init(&m_actions);
    posix_spawnattr_init(&m_attr);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&m_actions);
    posix_spawnattr_destroy(&m_attr);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
  posix_spawn_file_actions_t* actions() { return &m_actions; }
  posix_spawnattr_t* attr() { return &m_attr; }

private:
  posix_spawn_file_actions_t m_actions{};
  posix_spawnattr_t m_attr{};
};

void check_spawn(int rc, std::string_view what) {
  if (rc != 0) {
    throw Unavailable(fmt::format("cannot start chromedriver: {}: {}", what, std::strerror(rc)));
  }
}

// An owned file descriptor.
class Fd {
public:
  Fd() = default;
  explicit Fd(int fd) : m_fd(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      m_fd = std::exchange(other.m_fd, -1);
    }
    return *this;
  }
  int get() const noexcept { return m_fd; }

private:
  void reset() {
    if (m_fd >= 0) {
      ::close(m_fd);
      m_fd = -1;
    }
  }
  int m_fd = -1;
};

// ChromeDriver runs under this wrapper ($0 is ChromeDriver, "$@" its
// arguments, fd 3 the read end of a pipe whose write end only we hold).
// ChromeDriver leads a process group of its own with the Chromiums it
// starts. When we close the pipe, or die in any way (even SIGKILL), the
// reader (deaf to Ctrl-C and hang-ups, so it outlives us) sees the end of
// the pipe and ends that whole group: no driver or browser outlives us. The
// wrapper itself ends when ChromeDriver does, which is how we tell it is
// gone; it then ends any browser ChromeDriver left behind. Whichever of
// the two is left removes HAS_DRIVER_DIR, which holds everything
// ChromeDriver and its browsers write (their TMPDIR, the profiles). The
// script is fixed text: paths arrive as arguments and environment.
constexpr std::string_view k_guard_script = R"sh(if command -v setsid >/dev/null 2>&1; then
  setsid "$0" "$@" </dev/null 3<&- &
else
  "$0" "$@" </dev/null 3<&- &
fi
driver=$!
{
  trap '' INT HUP TERM
  read -r line <&3
  kill -s TERM -- "-$driver" || kill -s TERM "$driver"
  sleep 1
  rm -rf -- "$HAS_DRIVER_DIR"
} >/dev/null 2>&1 &
reader=$!
wait "$driver"
status=$?
kill -s KILL -- "-$driver" 2>/dev/null
rm -rf -- "$HAS_DRIVER_DIR"
kill -s KILL "$reader" 2>/dev/null
exit "$status"
)sh";

// The process's one ChromeDriver.
class Driver {
public:
  Driver() = default;
  ~Driver() {
    std::lock_guard lock(m_mutex);
    stop();
  }
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

  // Returns the base URL of a running ChromeDriver of program, starting it
  // (again) if it is not running, and a new directory for a browser
  // profile that is removed with the driver at the latest.
  std::pair<std::string, fs::path> endpoint(const fs::path& program) {
    std::lock_guard lock(m_mutex);
    if (m_pid > 0 && (program != m_program || !alive())) {
      stop();
    }
    if (m_pid <= 0) {
      start(program);
    }
    return {m_base, make_temp_dir(m_dir, "profile")};
  }

  // Returns the last line ChromeDriver logged, for error messages.
  std::string last_log_line() {
    std::lock_guard lock(m_mutex);
    if (m_dir.empty()) {
      return {};
    }
    auto log = read_file(m_dir / "chromedriver.log");
    while (!log.empty() && (log.back() == '\n' || log.back() == ' ')) {
      log.pop_back();
    }
    auto start = log.rfind('\n');
    return start == std::string::npos ? log : log.substr(start + 1);
  }

private:
  bool alive() {
    int status = 0;
    return ::waitpid(m_pid, &status, WNOHANG) == 0;
  }

  void start(const fs::path& program) {
    m_dir = make_temp_dir(fs::temp_directory_path(), "has-chromedriver");
    auto output = m_dir / "output.txt";
    std::error_code ec;
    fs::create_directory(m_dir / "tmp", ec);
    // Our environment, with the browsers' temporary files kept in m_dir.
    std::vector<std::string> env{"TMPDIR=" + (m_dir / "tmp").string(), "HAS_DRIVER_DIR=" + m_dir.string()};
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
      std::string_view text(*entry);
      if (!text.starts_with("TMPDIR=") && !text.starts_with("HAS_DRIVER_DIR=")) {
        env.emplace_back(text);
      }
    }
    std::vector<char*> env_pointers;
    for (auto& entry : env) {
      env_pointers.push_back(entry.data());
    }
    env_pointers.push_back(nullptr);
    std::array<int, 2> fds{-1, -1};
    if (::pipe2(fds.data(), O_CLOEXEC) != 0) {
      auto error = errno;
      stop();
      throw Unavailable(fmt::format("cannot start chromedriver: pipe: {}", std::strerror(error)));
    }
    Fd guard_read(fds[0]);
    m_guard = Fd(fds[1]);
    std::vector<std::string> argv{"/bin/sh",
                                  "-c",
                                  std::string(k_guard_script),
                                  program.string(),
                                  "--port=0",
                                  "--log-path=" + (m_dir / "chromedriver.log").string(),
                                  "--log-level=WARNING"};
    std::vector<char*> pointers;
    for (auto& arg : argv) {
      pointers.push_back(arg.data());
    }
    pointers.push_back(nullptr);

    SpawnSetup setup;
    check_spawn(posix_spawn_file_actions_addopen(setup.actions(), STDIN_FILENO, "/dev/null", O_RDONLY, 0), "stdin");
    check_spawn(posix_spawn_file_actions_addopen(setup.actions(), STDOUT_FILENO, output.c_str(),
                                                 O_WRONLY | O_CREAT | O_TRUNC, 0600),
                "stdout");
    check_spawn(posix_spawn_file_actions_adddup2(setup.actions(), STDOUT_FILENO, STDERR_FILENO), "stderr");
    check_spawn(posix_spawn_file_actions_adddup2(setup.actions(), guard_read.get(), 3), "guard");
    check_spawn(posix_spawn_file_actions_addclosefrom_np(setup.actions(), 4), "closefrom");
    sigset_t empty, defaults;
    sigemptyset(&empty);
    sigemptyset(&defaults);
    for (int signal : {SIGPIPE, SIGINT, SIGQUIT, SIGHUP, SIGTERM, SIGCHLD, SIGALRM, SIGUSR1, SIGUSR2}) {
      sigaddset(&defaults, signal);
    }
    check_spawn(posix_spawnattr_setflags(setup.attr(), POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF), "flags");
    check_spawn(posix_spawnattr_setsigmask(setup.attr(), &empty), "signal mask");
    check_spawn(posix_spawnattr_setsigdefault(setup.attr(), &defaults), "signal defaults");
    pid_t pid = 0;
    int rc = posix_spawn(&pid, argv[0].c_str(), setup.actions(), setup.attr(), pointers.data(), env_pointers.data());
    if (rc != 0) {
      stop();
      throw Unavailable(fmt::format("cannot start {}: {}", program.string(), std::strerror(rc)));
    }
    m_pid = pid;
    m_program = program;
    HAS_LOG("started chromedriver (pid {})", pid);

    // ChromeDriver says which port the kernel gave it; until it has, it is
    // not listening yet.
    auto deadline = std::chrono::steady_clock::now() + k_driver_start_timeout;
    while (true) {
      auto text = read_file(output);
      constexpr std::string_view k_marker = "started successfully on port ";
      if (auto at = text.find(k_marker); at != std::string::npos) {
        auto port = std::atoi(text.c_str() + at + k_marker.size());
        if (port > 0) {
          m_base = fmt::format("http://127.0.0.1:{}", port);
          return;
        }
      }
      if (!alive()) {
        m_pid = -1; // reaped by alive()
        stop();
        auto said = first_line(text);
        throw Unavailable(fmt::format("{} exited at start{}", program.string(),
                                      said.empty() ? " without saying why" : ": " + said));
      }
      if (std::chrono::steady_clock::now() > deadline) {
        stop();
        throw Unavailable(fmt::format("{} did not start listening within {} s", program.string(),
                                      k_driver_start_timeout.count() / 1000));
      }
      std::this_thread::sleep_for(20ms);
    }
  }

  // Stops ChromeDriver: closing the guard pipe makes the wrapper end it
  // (ChromeDriver closes its browsers); a wrapper that hangs is killed.
  void stop() {
    m_guard = Fd();
    if (m_pid > 0) {
      auto deadline = std::chrono::steady_clock::now() + 3s;
      int status = 0;
      pid_t rc = 0;
      while ((rc = ::waitpid(m_pid, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(10ms);
      }
      if (rc == 0) {
        ::kill(m_pid, SIGKILL);
        while (::waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
        }
      }
      m_pid = -1;
    }
    if (!m_dir.empty()) {
      std::error_code ec;
      fs::remove_all(m_dir, ec);
      m_dir.clear();
    }
    m_base.clear();
  }

  std::mutex m_mutex;
  pid_t m_pid = -1; // the wrapper's
  Fd m_guard;       // the write end of the wrapper's guard pipe
  fs::path m_program;
  fs::path m_dir;
  std::string m_base;
};

Driver& shared_driver() {
  static Driver driver;
  return driver;
}

// Browsers at once in this process. Each Chromium wants a core or so while
// it starts and renders; more at once only makes every page look slow.
class SessionSlots {
public:
  SessionSlots() : m_free(std::max(2U, std::thread::hardware_concurrency())) {}

  void acquire() {
    std::unique_lock lock(m_mutex);
    m_changed.wait(lock, [&] { return m_free > 0; });
    --m_free;
  }
  void release() {
    {
      std::lock_guard lock(m_mutex);
      ++m_free;
    }
    m_changed.notify_one();
  }

private:
  std::mutex m_mutex;
  std::condition_variable m_changed;
  unsigned m_free;
};

SessionSlots& session_slots() {
  static SessionSlots slots;
  return slots;
}

// Sends one command; returns its "value" or throws CommandError.
nlohmann::json send(const std::string& method, const std::string& url, const nlohmann::json& body,
                    std::chrono::milliseconds timeout) {
  util::HttpRequest request;
  request.method = method;
  request.url = url;
  if (method == "POST") {
    request.headers = {{"Content-Type", "application/json; charset=utf-8"}};
    request.body = body.dump();
  }
  request.timeout = timeout;
  request.max_body = 64 << 20; // screenshots of long pages
  auto response = util::http_request(request);
  if (!response.ok()) {
    throw CommandError("no answer", fmt::format("chromedriver did not answer: {}", response.error));
  }
  auto doc = nlohmann::json::parse(response.body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("value")) {
    throw CommandError("unknown error", fmt::format("chromedriver answered HTTP {} without a WebDriver reply: {}",
                                                    response.status, first_line(response.body)));
  }
  auto& value = doc["value"];
  if (value.is_object() && value.contains("error")) {
    auto code = value["error"].is_string() ? value["error"].get<std::string>() : "unknown error";
    auto message = value.value("message", code);
    throw CommandError(code, first_line(message));
  }
  return std::move(value);
}

int base64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') {
    return c - 'A';
  }
  if (c >= 'a' && c <= 'z') {
    return c - 'a' + 26;
  }
  if (c >= '0' && c <= '9') {
    return c - '0' + 52;
  }
  if (c == '+') {
    return 62;
  }
  if (c == '/') {
    return 63;
  }
  return -1;
}

} // namespace

CommandError::CommandError(std::string code, const std::string& message)
  : std::runtime_error(message), m_code(std::move(code)) {}

fs::path find_chromedriver() {
  if (auto found = locate("HAS_CHROMEDRIVER", "chromedriver", "/usr/bin/chromedriver")) {
    return *found;
  }
  if (const char* chosen = std::getenv("HAS_CHROMEDRIVER"); chosen != nullptr && *chosen != '\0') {
    throw Unavailable(fmt::format("HAS_CHROMEDRIVER names {}, which is not an executable file", chosen));
  }
  throw Unavailable("chromedriver is not installed (not in PATH nor /usr/bin; on Debian: apt-get install "
                    "chromium-driver)");
}

fs::path find_chromium() {
  if (auto found = locate("HAS_CHROMIUM", "chromium", "/usr/bin/chromium")) {
    return *found;
  }
  if (const char* chosen = std::getenv("HAS_CHROMIUM"); chosen != nullptr && *chosen != '\0') {
    throw Unavailable(fmt::format("HAS_CHROMIUM names {}, which is not an executable file", chosen));
  }
  throw Unavailable("chromium is not installed (not in PATH nor /usr/bin; on Debian: apt-get install chromium)");
}

Session::Slot::Slot() {
  session_slots().acquire();
}

Session::Slot::~Slot() {
  session_slots().release();
}

Session::Session(const SessionOptions& options) : m_page_load_timeout(options.page_load_timeout) {
  auto driver = find_chromedriver();
  auto chromium = find_chromium();
  m_slot.emplace();
  auto [base, profile] = shared_driver().endpoint(driver);
  m_profile = std::move(profile);
  auto args = nlohmann::json::array({"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                     "--disable-background-networking", "--disable-component-update",
                                     "--disable-sync", "--disable-quic", "--user-data-dir=" + m_profile.string()});
  nlohmann::json capabilities = {
    {"acceptInsecureCerts", options.accept_insecure_certs},
    {"pageLoadStrategy", "normal"},
    {"timeouts", {{"pageLoad", options.page_load_timeout.count()}, {"script", 30'000}, {"implicit", 0}}},
    {"goog:chromeOptions", {{"binary", chromium.string()}, {"args", std::move(args)}}},
  };
  nlohmann::json reply;
  try {
    reply = send("POST", base + "/session", {{"capabilities", {{"alwaysMatch", std::move(capabilities)}}}},
                 k_session_timeout);
  } catch (const CommandError& e) {
    std::error_code ec;
    fs::remove_all(m_profile, ec);
    auto log = shared_driver().last_log_line();
    throw Unavailable(fmt::format("chromium did not start through chromedriver: {}{}", e.what(),
                                  log.empty() ? "" : " (chromedriver log: " + log + ")"));
  }
  auto id = reply.is_object() ? reply.value("sessionId", "") : "";
  if (id.empty()) {
    std::error_code ec;
    fs::remove_all(m_profile, ec);
    throw Unavailable("chromedriver created a session without an id");
  }
  m_base = base + "/session/" + id;
  HAS_LOG("browser session {} started", id);
}

Session::~Session() {
  try {
    send("DELETE", m_base, nullptr, k_command_timeout);
  } catch (const std::exception& e) {
    HAS_LOG("ending browser session {}: {}", m_base, e.what());
  }
  std::error_code ec;
  fs::remove_all(m_profile, ec);
}

nlohmann::json Session::command(const std::string& method, const std::string& path, const nlohmann::json& body,
                                std::chrono::milliseconds timeout) {
  return send(method, m_base + path, body, timeout);
}

void Session::navigate(const std::string& url) {
  // ChromeDriver times the load out itself; the margin lets it say so.
  command("POST", "/url", {{"url", url}}, m_page_load_timeout + 10s);
}

std::vector<std::string> Session::find(const std::string& css) {
  auto found = command("POST", "/elements", {{"using", "css selector"}, {"value", css}}, k_command_timeout);
  std::vector<std::string> ids;
  for (const auto& element : found) {
    if (element.is_object() && element.contains(k_element_key)) {
      ids.push_back(element[std::string(k_element_key)].get<std::string>());
    }
  }
  return ids;
}

void Session::fill(const std::string& element, const std::string& text) {
  command("POST", "/element/" + element + "/clear", nlohmann::json::object(), k_command_timeout);
  command("POST", "/element/" + element + "/value", {{"text", text}}, k_command_timeout);
}

void Session::click(const std::string& element) {
  // A click that starts a navigation returns when the new page has loaded.
  command("POST", "/element/" + element + "/click", nlohmann::json::object(), m_page_load_timeout + 10s);
}

nlohmann::json Session::execute(const std::string& script, const nlohmann::json& args) {
  return command("POST", "/execute/sync", {{"script", script}, {"args", args}}, k_command_timeout);
}

nlohmann::json Session::devtools(const std::string& name, const nlohmann::json& params) {
  return command("POST", "/goog/cdp/execute", {{"cmd", name}, {"params", params}}, k_command_timeout);
}

std::string Session::url() {
  auto value = command("GET", "/url", nullptr, k_command_timeout);
  return value.is_string() ? value.get<std::string>() : std::string();
}

std::string Session::screenshot_png() {
  auto value = command("GET", "/screenshot", nullptr, k_command_timeout);
  if (!value.is_string()) {
    throw CommandError("unknown error", "chromedriver sent a screenshot that is not base64 text");
  }
  try {
    return base64_decode(value.get_ref<const std::string&>());
  } catch (const std::invalid_argument& e) {
    throw CommandError("unknown error", fmt::format("chromedriver sent a broken screenshot: {}", e.what()));
  }
}

std::string base64_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size() / 4 * 3);
  std::uint32_t bits = 0;
  int count = 0;
  bool padding = false;
  for (unsigned char c : text) {
    if (c == '\n' || c == '\r' || c == ' ' || c == '\t') {
      continue;
    }
    if (c == '=') {
      padding = true;
      continue;
    }
    int value = base64_value(c);
    if (value < 0 || padding) {
      throw std::invalid_argument(fmt::format("'{}' is not base64", static_cast<char>(c)));
    }
    bits = (bits << 6) | static_cast<std::uint32_t>(value);
    if (++count == 4) {
      out += static_cast<char>((bits >> 16) & 0xFF);
      out += static_cast<char>((bits >> 8) & 0xFF);
      out += static_cast<char>(bits & 0xFF);
      bits = 0;
      count = 0;
    }
  }
  if (count == 1) {
    throw std::invalid_argument("base64 text ends in the middle of a byte");
  }
  if (count == 2) {
    out += static_cast<char>((bits >> 4) & 0xFF);
  } else if (count == 3) {
    out += static_cast<char>((bits >> 10) & 0xFF);
    out += static_cast<char>((bits >> 2) & 0xFF);
  }
  return out;
}

} // namespace has::probe::webdriver
