// Children are started with posix_spawn (glibc's clone(CLONE_VM|CLONE_VFORK):
// no page-table copy, exec errors come back as the return value) and watched
// through a pidfd each, all from one poll() loop on the calling thread. This
// keeps the cost per child at a handful of syscalls, which is what lets
// thousands of short plugin runs keep pace with xargs -P.

#include <has/util/process.hpp>

#include <has/core/error.hpp>
#include <has/core/log.hpp>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <memory>
#include <span>
#include <system_error>
#include <unordered_map>

extern char** environ;

namespace has::util {
namespace {

using Clock = std::chrono::steady_clock;
using core::Error;
using core::ExitCode;

std::string errno_text(int error) {
  return std::error_code(error, std::generic_category()).message();
}

class UniqueFd {
public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : m_fd(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      m_fd = std::exchange(other.m_fd, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const noexcept { return m_fd; }
  explicit operator bool() const noexcept { return m_fd >= 0; }
  void reset() noexcept {
    if (m_fd >= 0) {
      ::close(m_fd);
      m_fd = -1;
    }
  }

private:
  int m_fd = -1;
};

struct Pipe {
  UniqueFd read, write;
};

// Both ends close on exec; posix_spawn's dup2 gives the child its copy.
Pipe make_pipe(const std::string& program) {
  std::array<int, 2> fds{};
  if (::pipe2(fds.data(), O_CLOEXEC) != 0) {
    throw Error(ExitCode::unavailable, "cannot run '" + program + "'",
                "cannot create a pipe: " + errno_text(errno));
  }
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

void set_nonblocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    throw Error(ExitCode::unavailable, "cannot set up a child's pipe", errno_text(errno));
  }
}

// Turns a posix_spawn* return code into an Error naming the program.
void check_spawn(int rc, const std::string& program, const char* step) {
  if (rc != 0) {
    throw Error(ExitCode::unavailable, "cannot run '" + program + "'",
                std::string(step) + ": " + errno_text(rc));
  }
}

class SpawnActions {
public:
  explicit SpawnActions(const std::string& program) {
    check_spawn(posix_spawn_file_actions_init(&m_actions), program, "posix_spawn_file_actions_init");
  }
  ~SpawnActions() { posix_spawn_file_actions_destroy(&m_actions); }
  SpawnActions(const SpawnActions&) = delete;
  SpawnActions& operator=(const SpawnActions&) = delete;
  posix_spawn_file_actions_t* get() noexcept { return &m_actions; }

private:
  posix_spawn_file_actions_t m_actions{};
};

class SpawnAttr {
public:
  explicit SpawnAttr(const std::string& program) {
    check_spawn(posix_spawnattr_init(&m_attr), program, "posix_spawnattr_init");
  }
  ~SpawnAttr() { posix_spawnattr_destroy(&m_attr); }
  SpawnAttr(const SpawnAttr&) = delete;
  SpawnAttr& operator=(const SpawnAttr&) = delete;
  posix_spawnattr_t* get() noexcept { return &m_attr; }

private:
  posix_spawnattr_t m_attr{};
};

// Blocks SIGPIPE in this thread while children run, so a child that closes
// stdin early gives us EPIPE instead of killing us, without touching the
// process-wide disposition. A SIGPIPE raised meanwhile is consumed on exit.
class SigpipeBlock {
public:
  SigpipeBlock() {
    sigemptyset(&m_pipe);
    sigaddset(&m_pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &m_pipe, &m_old);
  }
  ~SigpipeBlock() {
    if (sigismember(&m_old, SIGPIPE) == 1) {
      return;
    }
    sigset_t pending;
    sigemptyset(&pending);
    if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
      timespec zero{};
      sigtimedwait(&m_pipe, nullptr, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &m_old, nullptr);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

private:
  sigset_t m_pipe{};
  sigset_t m_old{};
};

std::string_view env_key(std::string_view entry) {
  return entry.substr(0, entry.find('='));
}

// The child's environment; `pointers` is what execve takes.
struct EnvBlock {
  std::vector<std::string> storage;
  std::vector<char*> pointers;
  std::optional<std::string> path; // the child's PATH, if it has one
};

EnvBlock build_env(const ProcessSpec& spec) {
  EnvBlock block;
  // A later entry for the same key wins.
  auto overridden_later = [&](std::size_t from, std::string_view key) {
    for (std::size_t i = from; i < spec.env.size(); ++i) {
      if (spec.env[i].first == key) {
        return true;
      }
    }
    return false;
  };
  if (spec.env_mode == EnvMode::inherit) {
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
      std::string_view text(*entry);
      if (!overridden_later(0, env_key(text))) {
        block.storage.emplace_back(text);
      }
    }
  }
  for (std::size_t i = 0; i < spec.env.size(); ++i) {
    const auto& [key, value] = spec.env[i];
    if (!overridden_later(i + 1, key)) {
      block.storage.push_back(key + "=" + value);
    }
  }
  for (auto& entry : block.storage) {
    if (env_key(entry) == "PATH") {
      block.path = entry.substr(5);
    }
    block.pointers.push_back(entry.data());
  }
  block.pointers.push_back(nullptr);
  return block;
}

bool is_executable_file(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// Resolves argv[0] as execvp would, caching results for the run.
class PathResolver {
public:
  std::optional<std::string> resolve(const std::string& name, const std::optional<std::string>& child_path) {
    if (name.find('/') != std::string::npos) {
      return name;
    }
    std::string search;
    if (child_path) {
      search = *child_path;
    } else if (const char* ours = std::getenv("PATH")) {
      search = ours;
    } else {
      search = "/usr/local/bin:/usr/bin:/bin";
    }
    std::string key = search + '\0' + name;
    if (auto found = m_cache.find(key); found != m_cache.end()) {
      return found->second;
    }
    std::optional<std::string> result;
    std::string_view rest = search;
    while (true) {
      auto colon = rest.find(':');
      std::string_view dir = rest.substr(0, colon);
      std::string candidate = (dir.empty() ? std::string(".") : std::string(dir)) + "/" + name;
      if (is_executable_file(candidate)) {
        result = std::move(candidate);
        break;
      }
      if (colon == std::string_view::npos) {
        break;
      }
      rest.remove_prefix(colon + 1);
    }
    m_cache.emplace(std::move(key), result);
    return result;
  }

private:
  std::unordered_map<std::string, std::optional<std::string>> m_cache;
};

// The process groups of the children in flight, in fixed slots so that a
// signal handler can read them without locks or allocation.
constexpr std::size_t k_group_slots = 4096;
std::array<std::atomic<pid_t>, k_group_slots> g_groups{};

void remember_group(pid_t pgid) {
  for (auto& slot : g_groups) {
    pid_t empty = 0;
    if (slot.compare_exchange_strong(empty, pgid)) {
      return;
    }
  }
}

void forget_group(pid_t pgid) {
  for (auto& slot : g_groups) {
    pid_t expected = pgid;
    if (slot.compare_exchange_strong(expected, 0)) {
      return;
    }
  }
}

// Bumped by stop_running_children(); a child started before the bump is
// asked to stop.
std::atomic<unsigned> g_stop_generation{0};
static_assert(std::atomic<unsigned>::is_always_lock_free, "a signal handler bumps it");

// How often a loop with children looks for a stop request.
constexpr std::chrono::milliseconds k_stop_poll{100};

// One child in flight. Destroying it before it was reaped kills its group and
// reaps it, so no path out of the loop leaves children behind.
struct Running {
  std::size_t index = 0;
  const ProcessSpec* spec = nullptr;
  pid_t pid = -1;
  bool reaped = false;
  UniqueFd pidfd, in, out, err;
  std::size_t in_written = 0;
  Clock::time_point start;
  Clock::time_point deadline = Clock::time_point::max();
  unsigned generation = 0;                               // g_stop_generation at its start
  Clock::time_point kill_at = Clock::time_point::max(); // SIGKILL after a stop's grace
  ProcessResult result;

  Running() = default;
  Running(const Running&) = delete;
  Running& operator=(const Running&) = delete;
  ~Running() {
    if (pid > 0 && !reaped) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
    if (pid > 0) {
      forget_group(pid);
    }
  }

  // A stop request: SIGTERM to the group now, SIGKILL after the grace.
  void stop_group(Clock::time_point now) {
    result.stopped = true;
    if (spec->kill_grace.count() <= 0) {
      result.killed = true;
      kill_group();
      return;
    }
    ::kill(-pid, SIGTERM);
    if (!reaped) {
      ::kill(pid, SIGTERM);
    }
    kill_at = now + spec->kill_grace;
  }

  void kill_group() const {
    // The child leads its group (pgid == pid). While the child is unreaped
    // its pid cannot be reused, so signal it too in case it left the group;
    // once reaped, the group id stays reserved only while members remain.
    ::kill(-pid, SIGKILL);
    if (!reaped) {
      ::kill(pid, SIGKILL);
    }
  }

  // Reaps the child if it has exited; returns whether it is reaped.
  bool try_reap() {
    if (reaped) {
      return true;
    }
    int status = 0;
    pid_t rc = ::waitpid(pid, &status, WNOHANG);
    if (rc == 0 || (rc < 0 && errno == EINTR)) {
      return false;
    }
    reaped = true;
    pidfd.reset();
    in.reset();
    if (rc < 0) {
      // Someone else reaped it (a SIGCHLD handler elsewhere): status unknown.
      result.exit_code = -1;
    } else if (WIFEXITED(status)) {
      result.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      result.exit_code = -1;
      result.term_signal = WTERMSIG(status);
    }
    return true;
  }
};

const std::array k_default_signals = {SIGPIPE, SIGINT,  SIGQUIT, SIGHUP,  SIGTERM, SIGCHLD, SIGALRM,
                                      SIGUSR1, SIGUSR2, SIGTSTP, SIGTTIN, SIGTTOU, SIGXFSZ, SIGXCPU};

// Starts one child; throws Error(unavailable) naming argv[0] when it cannot.
std::unique_ptr<Running> start_child(std::size_t index, const ProcessSpec& spec, PathResolver& resolver) {
  if (spec.argv.empty() || spec.argv[0].empty()) {
    throw Error(ExitCode::unavailable, "cannot run an empty command", "argv is empty");
  }
  const std::string& program = spec.argv[0];

  bool own_env = spec.env_mode == EnvMode::clean || !spec.env.empty();
  EnvBlock env;
  if (own_env) {
    env = build_env(spec);
  }
  auto path = resolver.resolve(program, own_env ? env.path : std::nullopt);
  if (!path) {
    throw Error(ExitCode::unavailable, "cannot run '" + program + "'", "not found in PATH",
                "install it, or give its full path");
  }
  if (!spec.cwd.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_directory(spec.cwd, ec)) {
      throw Error(ExitCode::unavailable, "cannot run '" + program + "'",
                  "working directory '" + spec.cwd.string() + "' is not a directory");
    }
  }

  auto run = std::make_unique<Running>();
  run->index = index;
  run->spec = &spec;

  SpawnActions actions(program);
  Pipe in;
  if (spec.stdin_data) {
    in = make_pipe(program);
    check_spawn(posix_spawn_file_actions_adddup2(actions.get(), in.read.get(), STDIN_FILENO), program,
                "stdin");
  } else {
    check_spawn(posix_spawn_file_actions_addopen(actions.get(), STDIN_FILENO, "/dev/null", O_RDONLY, 0),
                program, "stdin");
  }
  Pipe out = make_pipe(program);
  Pipe err = make_pipe(program);
  check_spawn(posix_spawn_file_actions_adddup2(actions.get(), out.write.get(), STDOUT_FILENO), program,
              "stdout");
  check_spawn(posix_spawn_file_actions_adddup2(actions.get(), err.write.get(), STDERR_FILENO), program,
              "stderr");
  // Descriptors other threads opened without O_CLOEXEC must not leak in.
  check_spawn(posix_spawn_file_actions_addclosefrom_np(actions.get(), STDERR_FILENO + 1), program,
              "closefrom");
  if (!spec.cwd.empty()) {
    check_spawn(posix_spawn_file_actions_addchdir_np(actions.get(), spec.cwd.c_str()), program, "chdir");
  }

  SpawnAttr attr(program);
  sigset_t empty;
  sigemptyset(&empty);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : k_default_signals) {
    sigaddset(&defaults, sig);
  }
  // Own process group (pgid 0 = its pid), so a timeout can kill its whole
  // tree; an empty mask and default dispositions, so our blocked SIGPIPE or an
  // ignored signal does not leak into the program.
  check_spawn(posix_spawnattr_setflags(attr.get(), POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                                       POSIX_SPAWN_SETSIGDEF),
              program, "posix_spawnattr_setflags");
  check_spawn(posix_spawnattr_setpgroup(attr.get(), 0), program, "setpgroup");
  check_spawn(posix_spawnattr_setsigmask(attr.get(), &empty), program, "setsigmask");
  check_spawn(posix_spawnattr_setsigdefault(attr.get(), &defaults), program, "setsigdefault");

  std::vector<char*> argv;
  argv.reserve(spec.argv.size() + 1);
  for (const auto& word : spec.argv) {
    argv.push_back(const_cast<char*>(word.c_str()));
  }
  argv.push_back(nullptr);

  run->start = Clock::now();
  pid_t pid = -1;
  int rc = posix_spawn(&pid, path->c_str(), actions.get(), attr.get(), argv.data(),
                       own_env ? env.pointers.data() : environ);
  if (rc != 0) {
    throw Error(ExitCode::unavailable, "cannot run '" + program + "'", "exec " + *path + ": " + errno_text(rc),
                "check that it exists and is executable");
  }
  run->pid = pid;
  run->generation = g_stop_generation.load();
  remember_group(pid);
  HAS_DEBUG("process: started pid {}: {}", pid, shell_join(spec.argv));

  // A pidfd says when the child exits without SIGCHLD handling; without one
  // (kernels before 5.3) the loop falls back to polling waitpid.
  // (glibc 2.36's <sys/pidfd.h> lacks extern "C", hence the raw syscall.)
  run->pidfd = UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  run->out = std::move(out.read);
  run->err = std::move(err.read);
  set_nonblocking(run->out.get());
  set_nonblocking(run->err.get());
  if (spec.stdin_data && !spec.stdin_data->empty()) {
    run->in = std::move(in.write);
    set_nonblocking(run->in.get());
  }
  if (spec.timeout.count() > 0) {
    run->deadline = run->start + spec.timeout;
  }
  return run;
}

// Reads what is there from one stream; returns false at EOF or error.
bool read_stream(int fd, std::string& into, bool& truncated, std::size_t limit) {
  std::array<char, 65536> buffer{};
  // A few reads per wake-up: enough to drain a burst, not enough to let one
  // chatty child starve the others.
  for (int round = 0; round < 4; ++round) {
    ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n > 0) {
      std::size_t room = into.size() < limit ? limit - into.size() : 0;
      std::size_t keep = std::min(room, static_cast<std::size_t>(n));
      into.append(buffer.data(), keep);
      if (keep < static_cast<std::size_t>(n)) {
        truncated = true;
      }
      continue;
    }
    if (n == 0) {
      return false;
    }
    if (errno == EINTR) {
      continue;
    }
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
  return true;
}

void pump_out(Running& run) {
  if (run.out && !read_stream(run.out.get(), run.result.out, run.result.out_truncated, run.spec->max_output)) {
    run.out.reset();
  }
}

void pump_err(Running& run) {
  if (run.err && !read_stream(run.err.get(), run.result.err, run.result.err_truncated, run.spec->max_output)) {
    run.err.reset();
  }
}

void pump_in(Running& run) {
  const std::string& data = *run.spec->stdin_data;
  while (run.in && run.in_written < data.size()) {
    ssize_t n = ::write(run.in.get(), data.data() + run.in_written, data.size() - run.in_written);
    if (n > 0) {
      run.in_written += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return;
    } else {
      // EPIPE: the child does not want the rest.
      run.in.reset();
    }
  }
  run.in.reset();
}

enum class SpawnFailure { report, raise };

enum class Slot { pidfd, in, out, err };

// The loop behind run_process and run_processes.
void drive(std::span<const ProcessSpec> specs, std::size_t concurrency,
           const std::function<void(std::size_t, ProcessResult)>& on_done, SpawnFailure on_failure) {
  const std::size_t limit = std::max<std::size_t>(concurrency, 1);
  SigpipeBlock sigpipe_block;
  PathResolver resolver;
  std::vector<std::unique_ptr<Running>> active;
  std::vector<pollfd> fds;
  std::vector<std::pair<Running*, Slot>> owners;
  std::size_t next = 0;

  while (next < specs.size() || !active.empty()) {
    while (active.size() < limit && next < specs.size()) {
      std::size_t index = next++;
      try {
        active.push_back(start_child(index, specs[index], resolver));
      } catch (const Error& error) {
        if (on_failure == SpawnFailure::raise) {
          throw;
        }
        ProcessResult failed;
        failed.exit_code = 127;
        failed.err = error.render();
        on_done(index, std::move(failed));
      }
    }
    if (active.empty()) {
      continue;
    }

    fds.clear();
    owners.clear();
    auto watch = [&](Running& run, int fd, short events, Slot slot) {
      fds.push_back(pollfd{fd, events, 0});
      owners.emplace_back(&run, slot);
    };
    bool tick = false;
    auto wake = Clock::time_point::max();
    for (auto& run : active) {
      if (!run->reaped) {
        if (run->pidfd) {
          watch(*run, run->pidfd.get(), POLLIN, Slot::pidfd);
        } else {
          tick = true;
        }
      }
      if (run->in) {
        watch(*run, run->in.get(), POLLOUT, Slot::in);
      }
      if (run->out) {
        watch(*run, run->out.get(), POLLIN, Slot::out);
      }
      if (run->err) {
        watch(*run, run->err.get(), POLLIN, Slot::err);
      }
      wake = std::min({wake, run->deadline, run->kill_at});
    }
    // A stop request comes from a signal handler or another thread: look
    // for one now and then.
    int timeout_ms = tick ? 10 : static_cast<int>(k_stop_poll.count());
    if (wake != Clock::time_point::max()) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(wake - Clock::now()).count();
      left = std::clamp<decltype(left)>(left, 0, INT_MAX);
      timeout_ms = timeout_ms < 0 ? static_cast<int>(left) : std::min(timeout_ms, static_cast<int>(left));
    }

    int ready = ::poll(fds.data(), fds.size(), timeout_ms);
    if (ready < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw Error(ExitCode::failure, "cannot wait for child processes", "poll: " + errno_text(errno));
    }
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents == 0) {
        continue;
      }
      auto [run, slot] = owners[i];
      switch (slot) {
      case Slot::pidfd:
        run->try_reap();
        break;
      case Slot::in:
        pump_in(*run);
        break;
      case Slot::out:
        pump_out(*run);
        break;
      case Slot::err:
        pump_err(*run);
        break;
      }
    }

    auto now = Clock::now();
    for (std::size_t i = 0; i < active.size();) {
      Running& run = *active[i];
      if (!run.pidfd && !run.reaped) {
        run.try_reap();
      }
      if (now >= run.deadline) {
        HAS_DEBUG("process: pid {} timed out, killing its group", run.pid);
        run.kill_group();
        run.result.timed_out = true;
        run.deadline = Clock::time_point::max();
      }
      if (!run.result.stopped && run.generation != g_stop_generation.load()) {
        HAS_DEBUG("process: asking pid {} to stop", run.pid);
        run.stop_group(now);
      }
      if (now >= run.kill_at) {
        HAS_DEBUG("process: pid {} outlived its grace, killing its group", run.pid);
        run.result.killed = true;
        run.kill_group();
        run.kill_at = Clock::time_point::max();
      }
      if (run.reaped && (run.result.timed_out || run.result.killed)) {
        // Once timed out, take what is buffered and stop: a grandchild outside
        // the group may still hold the pipes open.
        pump_out(run);
        pump_err(run);
        run.out.reset();
        run.err.reset();
      }
      if (!run.reaped || run.out || run.err) {
        ++i;
        continue;
      }
      std::unique_ptr<Running> finished = std::move(active[i]);
      active[i] = std::move(active.back());
      active.pop_back();
      finished->result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(now - finished->start);
      on_done(finished->index, std::move(finished->result));
    }
  }
}

bool is_shell_safe(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("_@%+=:,./-").find(c) != std::string_view::npos;
}

} // namespace

void kill_running_children(int signal_number) noexcept {
  for (auto& slot : g_groups) {
    pid_t pgid = slot.load();
    if (pgid > 0) {
      ::kill(-pgid, signal_number);
    }
  }
}

void stop_running_children() noexcept { g_stop_generation.fetch_add(1); }

ProcessResult run_process(const ProcessSpec& spec) {
  std::optional<ProcessResult> result;
  drive(std::span(&spec, 1), 1, [&](std::size_t, ProcessResult done) { result = std::move(done); },
        SpawnFailure::raise);
  return std::move(*result);
}

void run_processes(const std::vector<ProcessSpec>& specs, std::size_t concurrency,
                   const std::function<void(std::size_t, ProcessResult)>& on_done) {
  drive(specs, concurrency, on_done, SpawnFailure::report);
}

std::string shell_quote(std::string_view word) {
  if (!word.empty() && std::all_of(word.begin(), word.end(), is_shell_safe)) {
    return std::string(word);
  }
  std::string quoted = "'";
  for (char c : word) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  quoted += '\'';
  return quoted;
}

std::string shell_join(const std::vector<std::string>& argv) {
  std::string line;
  for (const auto& word : argv) {
    if (!line.empty()) {
      line += ' ';
    }
    line += shell_quote(word);
  }
  return line;
}

} // namespace has::util
