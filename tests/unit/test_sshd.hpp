#pragma once

// A real OpenSSH server for tests: /usr/sbin/sshd -D on a free 127.0.0.1
// port, running as the current user, with a generated host key and one
// authorized client key. Tests that need it skip (with a MESSAGE) only when
// sshd is not installed.

#include "test_support.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace has::test {

inline constexpr const char* k_sshd = "/usr/sbin/sshd";

inline bool sshd_available() { return ::access(k_sshd, X_OK) == 0 && ::access("/usr/bin/ssh-keygen", X_OK) == 0; }

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Returns the pid of a program started with argv, stdout and stderr to log.
inline pid_t spawn(const std::vector<std::string>& argv, const std::filesystem::path& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> args;
  for (const auto& arg : argv) {
    args.push_back(const_cast<char*>(arg.c_str()));
  }
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  REQUIRE_MESSAGE(rc == 0, "cannot start " << argv[0]);
  return pid;
}

// Runs a program to completion and returns its exit status.
inline int run_quiet(const std::vector<std::string>& argv, const std::filesystem::path& log) {
  pid_t pid = spawn(argv, log);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Returns a loopback port that nothing listens on (bound, then closed).
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  ::close(fd);
  return ntohs(address.sin_port);
}

inline bool port_open(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool open = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return open;
}

class Sshd {
public:
  // extra: lines added to sshd_config (e.g. "SetEnv PATH=...").
  explicit Sshd(const std::vector<std::string>& extra = {}) {
    const auto& dir = m_dir.path();
    auto keygen_log = dir / "keygen.log";
    REQUIRE(run_quiet({"/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", (dir / "host_key").string()},
                      keygen_log) == 0);
    REQUIRE(run_quiet({"/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", (dir / "client_key").string()},
                      keygen_log) == 0);
    m_dir.write("authorized_keys", read_text(dir / "client_key.pub"));
    ::chmod((dir / "authorized_keys").c_str(), 0600);
    m_user = ::getpwuid(::getuid())->pw_name;
    if (::getuid() == 0) {
      // sshd refuses to start as root without its privilege separation directory.
      std::filesystem::create_directories("/run/sshd");
    }
    m_port = free_port();
    std::string config = "Port " + std::to_string(m_port) +
                         "\n"
                         "ListenAddress 127.0.0.1\n"
                         "HostKey " + (dir / "host_key").string() + "\n" +
                         "PidFile " + (dir / "sshd.pid").string() + "\n" +
                         "AuthorizedKeysFile " + (dir / "authorized_keys").string() + "\n" +
                         "AllowUsers " + m_user + "\n" +
                         "PermitRootLogin prohibit-password\n"
                         "PasswordAuthentication no\n"
                         "KbdInteractiveAuthentication no\n"
                         "UsePAM no\n"
                         "StrictModes no\n"
                         "LogLevel INFO\n";
    for (const auto& line : extra) {
      config += line + "\n";
    }
    m_dir.write("sshd_config", config);
    m_pid = spawn({k_sshd, "-D", "-e", "-f", (dir / "sshd_config").string()}, log_path());
    for (int attempt = 0; attempt < 250 && !port_open(m_port); ++attempt) {
      int status = 0;
      REQUIRE_MESSAGE(::waitpid(m_pid, &status, WNOHANG) == 0, "sshd exited: " << log());
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    REQUIRE_MESSAGE(port_open(m_port), "sshd does not listen: " << log());
  }
  ~Sshd() {
    // The listener's per-connection children outlive it (a ControlPersist
    // master keeps its connection for a minute): end them first.
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
      std::string stat = read_text(entry.path() / "stat");
      auto close_paren = stat.rfind(')');
      if (close_paren == std::string::npos) {
        continue;
      }
      std::istringstream fields(stat.substr(close_paren + 2));
      char state = 0;
      pid_t parent = 0;
      fields >> state >> parent;
      if (parent == m_pid) {
        ::kill(std::stoi(entry.path().filename().string()), SIGTERM);
      }
    }
    ::kill(m_pid, SIGTERM);
    int status = 0;
    ::waitpid(m_pid, &status, 0);
  }
  Sshd(const Sshd&) = delete;
  Sshd& operator=(const Sshd&) = delete;

  int port() const { return m_port; }
  const std::string& user() const { return m_user; }
  std::filesystem::path client_key() const { return m_dir.path() / "client_key"; }
  std::filesystem::path log_path() const { return m_dir.path() / "sshd.log"; }
  std::string log() const { return read_text(log_path()); }

private:
  TempDir m_dir;
  int m_port = 0;
  pid_t m_pid = 0;
  std::string m_user;
};

} // namespace has::test
