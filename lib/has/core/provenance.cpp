#include <has/core/provenance.hpp>

#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <vector>

extern char** environ;

namespace has::core {

namespace {

constexpr auto k_git_timeout = std::chrono::seconds(5);

class Fd {
public:
  explicit Fd(int fd = -1) noexcept : m_fd(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const noexcept { return m_fd; }
  void reset() noexcept {
    if (m_fd >= 0) {
      ::close(m_fd);
      m_fd = -1;
    }
  }

private:
  int m_fd;
};

// posix_spawn's two attribute objects, destroyed on scope exit.
struct SpawnSetup {
  posix_spawn_file_actions_t actions{};
  posix_spawnattr_t attr{};
  bool ok = false;
  SpawnSetup() {
    if (posix_spawn_file_actions_init(&actions) != 0) {
      return;
    }
    if (posix_spawnattr_init(&attr) != 0) {
      posix_spawn_file_actions_destroy(&actions);
      return;
    }
    ok = true;
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
  ~SpawnSetup() {
    if (ok) {
      posix_spawnattr_destroy(&attr);
      posix_spawn_file_actions_destroy(&actions);
    }
  }
};

// Returns what `git -C root args...` printed, less the trailing newline, or
// nullopt when git is missing, fails or takes longer than k_git_timeout.
// Spawned here rather than through util/process: core depends on nothing of
// ours. The child gets its own process group so a timeout kills what git
// started too.
std::optional<std::string> git(const std::filesystem::path& root, std::vector<std::string> args) {
  std::vector<std::string> words = {"git", "-C", root.string()};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& word : words) {
    argv.push_back(word.data());
  }
  argv.push_back(nullptr);

  std::array<int, 2> fds{};
  if (::pipe2(fds.data(), O_CLOEXEC) != 0) {
    return std::nullopt;
  }
  Fd read_end(fds[0]);
  Fd write_end(fds[1]);
  SpawnSetup setup;
  sigset_t empty;
  sigemptyset(&empty);
  if (!setup.ok || posix_spawn_file_actions_addopen(&setup.actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0) != 0 ||
      posix_spawn_file_actions_adddup2(&setup.actions, write_end.get(), STDOUT_FILENO) != 0 ||
      posix_spawn_file_actions_addopen(&setup.actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0) != 0 ||
      // Descriptors other threads opened without O_CLOEXEC must not leak in.
      posix_spawn_file_actions_addclosefrom_np(&setup.actions, STDERR_FILENO + 1) != 0 ||
      posix_spawnattr_setflags(&setup.attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK) != 0 ||
      posix_spawnattr_setpgroup(&setup.attr, 0) != 0 || posix_spawnattr_setsigmask(&setup.attr, &empty) != 0) {
    return std::nullopt;
  }
  pid_t pid = 0;
  if (posix_spawnp(&pid, "git", &setup.actions, &setup.attr, argv.data(), environ) != 0) {
    return std::nullopt; // git not installed: no commit to record
  }
  write_end.reset();

  std::string out;
  bool timed_out = false;
  const auto deadline = std::chrono::steady_clock::now() + k_git_timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd ready{read_end.get(), POLLIN, 0};
    const int polled = ::poll(&ready, 1, static_cast<int>(left.count()));
    if (polled < 0 && errno == EINTR) {
      continue;
    }
    if (polled <= 0) {
      timed_out = polled == 0;
      break;
    }
    std::array<char, 4096> buffer{};
    const auto got = ::read(read_end.get(), buffer.data(), buffer.size());
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got <= 0) {
      break;
    }
    out.append(buffer.data(), static_cast<std::size_t>(got));
  }
  if (timed_out) {
    ::kill(-pid, SIGKILL);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return std::nullopt;
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) {
    out.pop_back();
  }
  return out;
}

} // namespace

std::string current_user() {
  if (const auto* pw = getpwuid(geteuid()); pw != nullptr) {
    return pw->pw_name;
  }
  if (const char* user = std::getenv("USER"); user != nullptr) {
    return user;
  }
  return {};
}

Provenance provenance(const std::filesystem::path& root) {
  Provenance p;
  std::array<char, 256> name{};
  if (gethostname(name.data(), name.size() - 1) == 0) {
    p.host = name.data();
  }
  p.user = current_user();
  p.git_commit = git(root, {"rev-parse", "HEAD"});
  if (p.git_commit) {
    auto status = git(root, {"status", "--porcelain", "--untracked-files=no", "--", "."});
    p.git_dirty = status && !status->empty();
  }
  return p;
}

} // namespace has::core
