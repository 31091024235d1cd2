// No systemd runs on the machines these tests run on: a fake `systemctl`
// first in PATH records its argv, and the recorded invocation stands in for
// what systemd would have been asked to do.

#include <has/action/action.hpp>

#include <has/core/error.hpp>
#include <has/util/process.hpp>

#include "test_fake_programs.hpp"
#include "test_sshd.hpp"
#include "test_support.hpp"

#include <doctest/doctest.h>

using has::action::Context;
using has::action::Spec;
using has::core::Error;
using has::core::ExitCode;
using has::test::FakePrograms;
using has::test::TempDir;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const has::action::Kind& systemd_kind() {
  const auto* kind = has::action::find_kind("systemd");
  REQUIRE(kind != nullptr);
  return *kind;
}

Spec systemd_spec(json fields) { return Spec{"systemd", std::move(fields), 10s}; }

using Argv = std::vector<std::string>;

} // namespace

TEST_CASE("action::systemd runs systemctl with the action and the unit") {
  FakePrograms fakes;
  fakes.add("systemctl");
  Context context;
  for (auto verb : {"start", "stop", "restart", "reload"}) {
    auto spec = systemd_spec({{"unit", "nginx.service"}, {"action", verb}});
    CHECK(systemd_kind().describe(spec, context) == std::string("systemctl ") + verb + " nginx.service");
    auto outcome = systemd_kind().run(spec, context);
    CHECK(outcome.ok);
    CHECK(fakes.argv("systemctl") == Argv{"systemctl", verb, "nginx.service"});
    CHECK(outcome.message == std::string("systemctl ") + verb + " nginx.service: exit 0");
  }
  auto user = systemd_spec({{"unit", "sync.timer"}, {"action", "restart"}, {"user_unit", true}});
  CHECK(systemd_kind().describe(user, context) == "systemctl --user restart sync.timer");
  CHECK(systemd_kind().run(user, context).ok);
  CHECK(fakes.argv("systemctl") == Argv{"systemctl", "--user", "restart", "sync.timer"});
}

TEST_CASE("action::systemd is-active is ok only when systemctl says so") {
  FakePrograms fakes;
  Context context;
  auto spec = systemd_spec({{"unit", "nginx.service"}, {"action", "is-active"}});
  CHECK(systemd_kind().describe(spec, context) == "systemctl is-active --quiet nginx.service");

  fakes.add("systemctl");
  auto active = systemd_kind().run(spec, context);
  CHECK(active.ok);
  CHECK(active.message == "nginx.service is active");
  CHECK(active.outputs["active"] == true);
  CHECK(fakes.argv("systemctl") == Argv{"systemctl", "is-active", "--quiet", "nginx.service"});

  fakes.add("systemctl", "exit 3");
  auto inactive = systemd_kind().run(spec, context);
  CHECK_FALSE(inactive.ok);
  CHECK(inactive.exit_code == 3);
  CHECK(inactive.message == "nginx.service is not active (exit 3)");
  CHECK(inactive.outputs["active"] == false);
}

TEST_CASE("action::systemd reports a failed systemctl and passes a hostile unit as one argument") {
  FakePrograms fakes;
  fakes.add("systemctl", "echo 'Job for x failed.' >&2; exit 1");
  Context context;
  auto unit = "x.service; touch pwned $(id)";
  auto outcome = systemd_kind().run(systemd_spec({{"unit", unit}, {"action", "restart"}}), context);
  CHECK_FALSE(outcome.ok);
  CHECK(outcome.exit_code == 1);
  CHECK(outcome.message == std::string("systemctl restart ") + unit + ": exit 1: Job for x failed.");
  CHECK(fakes.argv("systemctl") == Argv{"systemctl", "restart", unit});
}

TEST_CASE("action::systemd rejects a bad action or unit - naming the field") {
  Context context;
  auto error_of = [&](json fields) {
    try {
      systemd_kind().describe(systemd_spec(std::move(fields)), context);
    } catch (const Error& e) {
      CHECK(e.code() == ExitCode::bad_definitions);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(error_of({{"unit", "a"}, {"action", "enable"}}) ==
        "systemd action: field 'action' must be start, stop, restart, reload or is-active, not 'enable'");
  CHECK(error_of({{"unit", "--all"}, {"action", "stop"}}).find("field 'unit'") != std::string::npos);
  CHECK(error_of({{"action", "stop"}}) == "systemd action: field 'unit' is missing");
  CHECK(error_of({{"unit", "a"}, {"action", "stop"}, {"user_unit", "perhaps"}}).find("field 'user_unit'") !=
        std::string::npos);
}

TEST_CASE("action::systemd with a host runs systemctl over ssh") {
  TempDir dir;
  has::defs::Definitions definitions;
  definitions.config.hosts.push_back({"web-1", "127.0.0.1", {}, {}});
  Context context;
  context.definitions = &definitions;
  context.runtime_dir = dir.path();
  auto spec = systemd_spec({{"unit", "nginx.service"}, {"action", "is-active"}, {"host", "web-1"}});
  CHECK(systemd_kind().describe(spec, context) ==
        has::util::shell_join({"ssh", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-o", "ControlMaster=auto", "-o",
                               "ControlPath=" + dir.path().string() + "/%C", "-o", "ControlPersist=60s", "-o",
                               "StrictHostKeyChecking=accept-new", "--", "127.0.0.1",
                               "systemctl is-active --quiet nginx.service"}));

  if (!has::test::sshd_available()) {
    HAS_SKIP("the remote run: /usr/sbin/sshd is not installed (Debian package openssh-server)");
  }
  // The remote side finds the fake systemctl through the session's PATH.
  FakePrograms fakes;
  fakes.add("systemctl");
  has::test::Sshd sshd({"SetEnv PATH=" + fakes.bin().string() + ":/usr/bin:/bin"});
  definitions.config.ssh.port = sshd.port();
  definitions.config.ssh.user = sshd.user();
  definitions.config.ssh.identity = sshd.client_key().string();
  definitions.config.ssh.known_hosts = (dir.path() / "known_hosts").string();
  auto remote = systemd_spec({{"unit", "my app.service"}, {"action", "restart"}, {"host", "web-1"}});
  auto outcome = systemd_kind().run(remote, context);
  INFO(outcome.message, " ", outcome.outputs.dump(), " sshd: ", sshd.log());
  CHECK(outcome.ok);
  CHECK(fakes.argv("systemctl") == Argv{"systemctl", "restart", "my app.service"});
}
