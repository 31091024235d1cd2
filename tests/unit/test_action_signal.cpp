#include <has/action/action.hpp>

#include <has/core/error.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>

#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

using has::action::Context;
using has::action::Spec;
using has::core::Error;
using has::core::ExitCode;
using has::test::TempDir;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const has::action::Kind& signal_kind() {
  const auto* kind = has::action::find_kind("signal");
  REQUIRE(kind != nullptr);
  return *kind;
}

Spec signal_spec(json fields) { return Spec{"signal", std::move(fields), 10s}; }

// A child running program (a sleep) for a minute unless signalled; reaped,
// and killed if still there, when the object goes away.
class Sleeper {
public:
  explicit Sleeper(const std::string& program = "/bin/sleep") {
    std::vector<char*> argv{const_cast<char*>(program.c_str()), const_cast<char*>("60"), nullptr};
    REQUIRE(posix_spawn(&m_pid, program.c_str(), nullptr, nullptr, argv.data(), environ) == 0);
    // Wait until the program has replaced the spawned copy of us, so that
    // /proc/PID/comm holds its name.
    auto comm = "/proc/" + std::to_string(m_pid) + "/comm";
    auto name = std::filesystem::path(program).filename().string().substr(0, 15);
    for (int attempt = 0; attempt < 200; ++attempt) {
      std::ifstream in(comm);
      std::string line;
      if (std::getline(in, line) && line == name) {
        break;
      }
      std::this_thread::sleep_for(5ms);
    }
  }
  ~Sleeper() {
    if (!m_reaped) {
      ::kill(m_pid, SIGKILL);
      ::waitpid(m_pid, nullptr, 0);
    }
  }
  Sleeper(const Sleeper&) = delete;
  Sleeper& operator=(const Sleeper&) = delete;

  pid_t pid() const { return m_pid; }

  // Returns the signal that ended the child (0 if it did not end by one
  // within 5 seconds).
  int ended_by() {
    for (int attempt = 0; attempt < 500; ++attempt) {
      int status = 0;
      if (::waitpid(m_pid, &status, WNOHANG) == m_pid) {
        m_reaped = true;
        return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
      }
      std::this_thread::sleep_for(10ms);
    }
    return 0;
  }

private:
  pid_t m_pid = 0;
  bool m_reaped = false;
};

} // namespace

TEST_CASE("action::signal sends TERM by default to a pid") {
  Sleeper sleeper;
  auto spec = signal_spec({{"pid", sleeper.pid()}});
  CHECK(signal_kind().describe(spec, {}) == "kill -s TERM " + std::to_string(sleeper.pid()));
  auto outcome = signal_kind().run(spec, {});
  CHECK(outcome.ok);
  CHECK(outcome.message == "sent SIGTERM to pid " + std::to_string(sleeper.pid()));
  CHECK(outcome.outputs["pids"] == json::array({sleeper.pid()}));
  CHECK(sleeper.ended_by() == SIGTERM);
}

TEST_CASE("action::signal takes names with or without SIG and numbers") {
  {
    Sleeper sleeper;
    CHECK(signal_kind().run(signal_spec({{"pid", sleeper.pid()}, {"signal", "kill"}}), {}).ok);
    CHECK(sleeper.ended_by() == SIGKILL);
  }
  {
    Sleeper sleeper;
    CHECK(signal_kind().run(signal_spec({{"pid", std::to_string(sleeper.pid())}, {"signal", "SIGUSR1"}}), {}).ok);
    CHECK(sleeper.ended_by() == SIGUSR1);
  }
  {
    Sleeper sleeper;
    auto outcome = signal_kind().run(signal_spec({{"pid", sleeper.pid()}, {"signal", 1}}), {});
    CHECK(outcome.outputs["signal"] == "HUP");
    CHECK(sleeper.ended_by() == SIGHUP);
  }
}

TEST_CASE("action::signal reads the pid from a pid file") {
  TempDir dir;
  Sleeper sleeper;
  auto pidfile = dir.write("app.pid", std::to_string(sleeper.pid()) + "\n");
  auto spec = signal_spec({{"pidfile", pidfile.string()}, {"signal", "INT"}});
  CHECK(signal_kind().describe(spec, {}) == "kill -s INT <the pid in " + pidfile.string() + ">");
  CHECK(signal_kind().run(spec, {}).ok);
  CHECK(sleeper.ended_by() == SIGINT);

  auto missing = signal_kind().run(signal_spec({{"pidfile", (dir.path() / "none.pid").string()}}), {});
  CHECK_FALSE(missing.ok);
  CHECK(missing.message.rfind("cannot read pid file " + (dir.path() / "none.pid").string(), 0) == 0);
  auto junk = signal_kind().run(signal_spec({{"pidfile", dir.write("junk.pid", "-1\n").string()}}), {});
  CHECK_FALSE(junk.ok);
  CHECK(junk.message.find("holds no process id: '-1'") != std::string::npos);
}

TEST_CASE("action::signal signals every process with the exact name") {
  TempDir dir;
  // A copy of sleep under a name no other process has.
  auto name = "hs" + std::to_string(::getpid());
  auto program = dir.path() / name;
  std::filesystem::copy_file("/bin/sleep", program);
  ::chmod(program.c_str(), 0755);
  Sleeper first(program.string());
  Sleeper second(program.string());
  Sleeper other; // a plain sleep: left alone
  auto outcome = signal_kind().run(signal_spec({{"process", name}}), {});
  CHECK(outcome.ok);
  auto expected = json::array({std::min(first.pid(), second.pid()), std::max(first.pid(), second.pid())});
  CHECK(outcome.outputs["pids"] == expected);
  CHECK(outcome.message == "sent SIGTERM to 2 processes");
  CHECK(first.ended_by() == SIGTERM);
  CHECK(second.ended_by() == SIGTERM);
  CHECK(::kill(other.pid(), 0) == 0);

  // A prefix of a name is no match.
  auto prefix = signal_kind().run(signal_spec({{"process", name.substr(0, name.size() - 1)}}), {});
  CHECK_FALSE(prefix.ok);
  CHECK(prefix.message == "no process named '" + name.substr(0, name.size() - 1) + "' is running");
}

TEST_CASE("action::signal fails clearly when the process is gone") {
  pid_t gone = 0;
  {
    Sleeper sleeper;
    gone = sleeper.pid();
  } // killed and reaped
  auto outcome = signal_kind().run(signal_spec({{"pid", gone}}), {});
  CHECK_FALSE(outcome.ok);
  CHECK(outcome.message == "no process " + std::to_string(gone) + " is running");
}

TEST_CASE("action::signal rejects bad fields - naming them") {
  auto error_of = [](json fields) {
    try {
      signal_kind().describe(signal_spec(std::move(fields)), {});
    } catch (const Error& e) {
      CHECK(e.code() == ExitCode::bad_definitions);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(error_of({{"pid", 1}, {"signal", "NOPE"}}) == "signal action: field 'signal' names no signal: 'NOPE'");
  CHECK(error_of({{"pid", 0}}).find("field 'pid' must be a process id above 0") != std::string::npos);
  CHECK(error_of({{"pid", -1}}).find("field 'pid'") != std::string::npos);
  CHECK(error_of({{"pid", "1; reboot"}}).find("field 'pid'") != std::string::npos);
  CHECK(error_of(json::object()) == "signal action needs exactly one of 'pid', 'pidfile' or 'process' (got none)");
  CHECK(error_of({{"pid", 1}, {"process", "x"}}) ==
        "signal action needs exactly one of 'pid', 'pidfile' or 'process' (got pid, process)");
  CHECK(error_of({{"process", "a-very-long-process-name"}}).find("longer than the 15 characters") !=
        std::string::npos);
}
