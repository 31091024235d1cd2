#include <has/action/action.hpp>

#include <has/core/error.hpp>
#include <has/util/process.hpp>

#include "test_sshd.hpp"
#include "test_support.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>

#include <chrono>
#include <filesystem>

using has::action::Context;
using has::action::Outcome;
using has::action::Spec;
using has::core::Error;
using has::core::ExitCode;
using has::test::Sshd;
using has::test::TempDir;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const has::action::Kind& ssh_kind() {
  const auto* kind = has::action::find_kind("ssh");
  REQUIRE(kind != nullptr);
  return *kind;
}

// A runtime directory as the engine makes it: private, short enough for a
// control socket path.
std::filesystem::path runtime_dir(const TempDir& dir, const std::string& name = "run") {
  auto path = dir.path() / name;
  std::filesystem::create_directories(path);
  ::chmod(path.c_str(), 0700);
  return path;
}

// The fields that reach the test server as the test user, with its client key.
json server_fields(const Sshd& sshd, const std::filesystem::path& known_hosts) {
  return {{"host", "127.0.0.1"},
          {"port", sshd.port()},
          {"user", sshd.user()},
          {"identity", sshd.client_key().string()},
          {"known_hosts", known_hosts.string()}};
}

Spec ssh_spec(json fields, std::chrono::milliseconds timeout = 30s) { return Spec{"ssh", std::move(fields), timeout}; }

std::vector<std::string> split_nul(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (auto end = text.find('\0'); end != std::string::npos; end = text.find('\0', start)) {
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::size_t sockets_in(const std::filesystem::path& dir) {
  std::size_t count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    count += entry.is_socket();
  }
  return count;
}

std::size_t count_of(const std::string& text, const std::string& word) {
  std::size_t count = 0;
  for (auto at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) {
    ++count;
  }
  return count;
}

} // namespace

TEST_CASE("action::ssh builds the OpenSSH command line and describe() is what run() executes") {
  TempDir dir;
  Context context;
  context.runtime_dir = runtime_dir(dir);
  auto rt = context.runtime_dir.string();
  auto spec = ssh_spec({{"host", "db-1.example"},
                        {"user", "deploy"},
                        {"port", 2222},
                        {"identity", "/keys/id"},
                        {"host_key", "strict"},
                        {"known_hosts", "/keys/known"},
                        {"options", {"ConnectTimeout=5"}},
                        {"command", {"systemctl", "restart", "my app"}}});
  std::vector<std::string> argv{"ssh",
                                "-o", "BatchMode=yes",
                                "-o", "LogLevel=ERROR",
                                "-o", "ControlMaster=auto",
                                "-o", "ControlPath=" + rt + "/%C",
                                "-o", "ControlPersist=60s",
                                "-o", "StrictHostKeyChecking=yes",
                                "-o", "UserKnownHostsFile=/keys/known",
                                "-o", "ConnectTimeout=5",
                                "-i", "/keys/id",
                                "-p", "2222",
                                "-l", "deploy",
                                "--", "db-1.example",
                                "systemctl restart 'my app'"};
  CHECK(ssh_kind().describe(spec, context) == has::util::shell_join(argv));

  // Defaults: accept-new; off neither checks nor records keys.
  auto plain = ssh_kind().describe(ssh_spec({{"host", "h"}, {"command", {"true"}}}), context);
  CHECK(plain.find("StrictHostKeyChecking=accept-new") != std::string::npos);
  CHECK(plain.find("UserKnownHostsFile") == std::string::npos);
  auto off = ssh_kind().describe(ssh_spec({{"host", "h"}, {"host_key", "off"}, {"command", {"true"}}}), context);
  CHECK(off.find("StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null") != std::string::npos);
  // A script goes to `sh -s` on stdin.
  auto script = ssh_kind().describe(ssh_spec({{"host", "h"}, {"script", "echo hi"}}), context);
  CHECK(script.ends_with(" -- h 'sh -s'"));
}

TEST_CASE("action::ssh takes the host's inventory address and has.yaml's ssh defaults") {
  TempDir dir;
  has::defs::Definitions definitions;
  definitions.config.file = dir.path() / "has.yaml";
  definitions.config.hosts.push_back({"web-1", "10.0.0.7", {}, {}});
  definitions.config.ssh.user = "ops";
  definitions.config.ssh.port = 2200;
  definitions.config.ssh.identity = "keys/ops";
  definitions.config.ssh.host_key = "strict";
  definitions.config.ssh.options = {"ConnectTimeout=3"};
  Context context;
  context.definitions = &definitions;
  auto line = ssh_kind().describe(ssh_spec({{"host", "web-1"}, {"command", {"uptime"}}}), context);
  CHECK(line == has::util::shell_join({"ssh", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-o",
                                       "StrictHostKeyChecking=yes", "-o",
                                       "ConnectTimeout=3", "-i", (dir.path() / "keys/ops").string(), "-p", "2200",
                                       "-l", "ops", "--", "10.0.0.7", "uptime"}));
  // What the step says wins.
  line = ssh_kind().describe(ssh_spec({{"host", "web-1"}, {"user", "root"}, {"port", 22}, {"options", json::array()},
                                       {"command", {"uptime"}}}),
                             context);
  CHECK(line.find("-p 22 -l root -- 10.0.0.7") != std::string::npos);
  CHECK(line.find("ConnectTimeout") == std::string::npos);
}

TEST_CASE("action::ssh rejects bad fields - naming them") {
  Context context;
  auto error_of = [&](json fields) {
    try {
      ssh_kind().describe(ssh_spec(std::move(fields)), context);
    } catch (const Error& e) {
      CHECK(e.code() == ExitCode::bad_definitions);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(error_of({{"host", "h"}, {"host_key", "maybe"}, {"command", {"true"}}}).find("'host_key'") !=
        std::string::npos);
  CHECK(error_of({{"host", "-oProxyCommand=touch /tmp/x"}, {"command", {"true"}}}).find("'host'") !=
        std::string::npos);
  CHECK(error_of({{"host", "h"}, {"port", "22; true"}, {"command", {"true"}}}).find("'port'") != std::string::npos);
  CHECK(error_of({{"host", "h"}, {"user", "-x"}, {"command", {"true"}}}).find("'user'") != std::string::npos);
  CHECK(error_of({{"host", "h"}, {"known_hosts", "a b"}, {"command", {"true"}}}).find("'known_hosts'") !=
        std::string::npos);
  CHECK(error_of({{"host", "h"}, {"command", json::array()}}).find("'command'") != std::string::npos);
  CHECK(error_of({{"host", "h"}, {"script", "true"}, {"stdin", "x"}}).find("'stdin'") != std::string::npos);
  CHECK(error_of({{"command", {"true"}}}).find("'host'") != std::string::npos);
}

TEST_CASE("action::ssh passes hostile arguments to the remote program verbatim - running none of them") {
  if (!has::test::sshd_available()) {
    HAS_SKIP("/usr/sbin/sshd is not installed (Debian package openssh-server)");
  }
  Sshd sshd;
  TempDir dir;
  auto marker = dir.path() / "pwned";
  auto canary = dir.path() / "canary";
  std::filesystem::create_directories(canary);
  auto printer = dir.write("print-args", "#!/bin/sh\nprintf '%s\\0' \"$@\"\n");
  ::chmod(printer.c_str(), 0755);
  Context context;
  context.runtime_dir = runtime_dir(dir);

  // Each would run code if the remote shell saw it unquoted. The rm targets a
  // canary directory rather than ~, so that a regression destroys nothing.
  std::vector<std::string> hostile{"$(touch " + marker.string() + ")",
                                   "; rm -rf " + canary.string(),
                                   "`touch " + marker.string() + "`",
                                   "it's \"quoted\" 'twice'",
                                   "line one\nline two; touch " + marker.string(),
                                   "&& touch " + marker.string(),
                                   "| touch " + marker.string(),
                                   "> " + marker.string(),
                                   "$HOME ~ * ?",
                                   "",
                                   "-n",
                                   "\\$(touch " + marker.string() + ")"};
  auto fields = server_fields(sshd, dir.path() / "known_hosts");
  auto command = json::array({printer.string()});
  for (const auto& word : hostile) {
    command.push_back(word);
  }
  fields["command"] = command;
  auto outcome = ssh_kind().run(ssh_spec(fields), context);
  INFO(outcome.message, " ", outcome.outputs.dump(), " sshd: ", sshd.log());
  REQUIRE(outcome.ok);
  CHECK(outcome.exit_code == 0);
  CHECK(split_nul(outcome.outputs["stdout"].get<std::string>()) == hostile);
  CHECK_FALSE(std::filesystem::exists(marker));
  CHECK(std::filesystem::is_directory(canary));
}

TEST_CASE("action::ssh reuses one connection through a control socket in the runtime directory") {
  if (!has::test::sshd_available()) {
    HAS_SKIP("/usr/sbin/sshd is not installed (Debian package openssh-server)");
  }
  Sshd sshd;
  TempDir dir;
  Context context;
  context.runtime_dir = runtime_dir(dir);
  auto fields = server_fields(sshd, dir.path() / "known_hosts");
  fields["command"] = {"echo", "first"};
  auto first = ssh_kind().run(ssh_spec(fields), context);
  INFO(first.message, " sshd: ", sshd.log());
  REQUIRE(first.ok);
  CHECK(first.outputs["stdout"] == "first\n");
  CHECK(sockets_in(context.runtime_dir) == 1);

  fields["command"] = {"echo", "second"};
  auto second = ssh_kind().run(ssh_spec(fields), context);
  REQUIRE(second.ok);
  CHECK(second.outputs["stdout"] == "second\n");
  CHECK(sockets_in(context.runtime_dir) == 1);
  // Two commands, one login: the second went through the master connection.
  CHECK(count_of(sshd.log(), "Accepted publickey") == 1);
}

TEST_CASE("action::ssh checks host keys: strict refuses an unknown host - accept-new records its key") {
  if (!has::test::sshd_available()) {
    HAS_SKIP("/usr/sbin/sshd is not installed (Debian package openssh-server)");
  }
  Sshd sshd;
  TempDir dir;
  auto known_hosts = dir.write("known_hosts", "");
  Context context;
  // Separate runtime directories: a reused master connection is past its
  // host key check.
  context.runtime_dir = runtime_dir(dir, "strict");
  auto fields = server_fields(sshd, known_hosts);
  fields["command"] = {"true"};
  fields["host_key"] = "strict";
  auto refused = ssh_kind().run(ssh_spec(fields), context);
  CHECK_FALSE(refused.ok);
  CHECK(refused.exit_code == 255);
  CHECK(refused.message == "ssh: host key verification failed for 127.0.0.1: its key is not in known_hosts "
                           "(host_key: strict)");
  CHECK(count_of(sshd.log(), "Accepted publickey") == 0);

  context.runtime_dir = runtime_dir(dir, "accept");
  fields["host_key"] = "accept-new";
  auto accepted = ssh_kind().run(ssh_spec(fields), context);
  INFO(accepted.message, " ", accepted.outputs.dump());
  CHECK(accepted.ok);
  CHECK(accepted.outputs["stderr"] == "");
  // Debian's ssh_config hashes known_hosts entries: ask ssh-keygen.
  CHECK(has::test::run_quiet({"/usr/bin/ssh-keygen", "-F", "[127.0.0.1]:" + std::to_string(sshd.port()), "-f",
                              known_hosts.string()},
                             dir.path() / "keygen.log") == 0);

  context.runtime_dir = runtime_dir(dir, "strict-again");
  fields["host_key"] = "strict";
  CHECK(ssh_kind().run(ssh_spec(fields), context).ok);
}

TEST_CASE("action::ssh returns the remote exit code / stderr and stdin - runs scripts - a timeout kills") {
  if (!has::test::sshd_available()) {
    HAS_SKIP("/usr/sbin/sshd is not installed (Debian package openssh-server)");
  }
  Sshd sshd;
  TempDir dir;
  Context context;
  context.runtime_dir = runtime_dir(dir);
  auto fields = server_fields(sshd, dir.path() / "known_hosts");

  fields["command"] = {"sh", "-c", "echo oops >&2; exit 3"};
  auto failed = ssh_kind().run(ssh_spec(fields), context);
  CHECK_FALSE(failed.ok);
  CHECK(failed.exit_code == 3);
  CHECK(failed.outputs["stderr"] == "oops\n");
  CHECK(failed.message == "exit 3: oops");

  fields["command"] = {"cat"};
  fields["stdin"] = "from stdin";
  auto fed = ssh_kind().run(ssh_spec(fields), context);
  CHECK(fed.ok);
  CHECK(fed.outputs["stdout"] == "from stdin");
  fields.erase("stdin");

  fields.erase("command");
  fields["script"] = "set -e\nx=\"$(echo scripted)\"\necho \"$x\"\nexit 4\n";
  auto script = ssh_kind().run(ssh_spec(fields), context);
  CHECK(script.exit_code == 4);
  CHECK(script.outputs["stdout"] == "scripted\n");
  fields.erase("script");

  fields["command"] = {"sleep", "8"};
  auto start = std::chrono::steady_clock::now();
  auto slow = ssh_kind().run(ssh_spec(fields, 1500ms), context);
  CHECK_FALSE(slow.ok);
  CHECK(slow.outputs["timed_out"] == true);
  CHECK(std::chrono::steady_clock::now() - start < 6s);
}

TEST_CASE("action::ssh says when it cannot reach the host") {
  if (!has::test::sshd_available()) {
    HAS_SKIP("/usr/sbin/sshd is not installed (Debian package openssh-server)");
  }
  TempDir dir;
  Context context;
  context.runtime_dir = runtime_dir(dir);
  json fields{{"host", "127.0.0.1"},
              {"port", has::test::free_port()},
              {"known_hosts", (dir.path() / "known_hosts").string()},
              {"command", {"true"}}};
  auto outcome = ssh_kind().run(ssh_spec(fields), context);
  CHECK_FALSE(outcome.ok);
  CHECK(outcome.exit_code == 255);
  CHECK(outcome.message.rfind("ssh: cannot run the command on 127.0.0.1: ", 0) == 0);
  CHECK(outcome.message.find("Connection refused") != std::string::npos);
}
