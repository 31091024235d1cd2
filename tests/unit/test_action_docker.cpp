// No container engine runs on the machines these tests run on (no Docker
// daemon; podman cannot start containers with their cgroups): fake `docker`
// and `podman` programs first in PATH record their argv, and the recorded
// invocation stands in for what the engine would have been asked.

#include <has/action/action.hpp>

#include <has/core/error.hpp>

#include "test_fake_programs.hpp"

#include <doctest/doctest.h>

using has::action::Context;
using has::action::Spec;
using has::core::Error;
using has::core::ExitCode;
using has::test::FakePrograms;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const has::action::Kind& docker_kind() {
  const auto* kind = has::action::find_kind("docker");
  REQUIRE(kind != nullptr);
  return *kind;
}

Spec docker_spec(json fields) { return Spec{"docker", std::move(fields), 10s}; }

using Argv = std::vector<std::string>;

} // namespace

TEST_CASE("action::docker runs docker with the args and -H for another engine") {
  FakePrograms fakes;
  fakes.add("docker");
  auto spec = docker_spec({{"args", {"restart", "api"}}, {"host", "tcp://10.0.0.5:2376"}});
  CHECK(docker_kind().describe(spec, {}) == "docker -H tcp://10.0.0.5:2376 restart api");
  CHECK(docker_kind().run(spec, {}).ok);
  CHECK(fakes.argv("docker") == Argv{"docker", "-H", "tcp://10.0.0.5:2376", "restart", "api"});
}

TEST_CASE("action::docker runs podman when asked or when docker is not on PATH - with --url for a host") {
  FakePrograms fakes("/usr/bin:/bin"); // /usr/local/bin may hold a real docker client
  fakes.add("podman");
  auto chosen = docker_spec({{"args", {"ps"}}});
  CHECK(docker_kind().describe(chosen, {}) == "podman ps");
  CHECK(docker_kind().run(chosen, {}).ok);
  CHECK(fakes.argv("podman") == Argv{"podman", "ps"});

  fakes.add("docker");
  CHECK(docker_kind().describe(chosen, {}) == "docker ps");
  auto asked = docker_spec({{"engine", "podman"}, {"host", "unix:///run/podman.sock"}, {"args", {"ps", "-a"}}});
  CHECK(docker_kind().describe(asked, {}) == "podman --url unix:///run/podman.sock ps -a");
  CHECK(docker_kind().run(asked, {}).ok);
  CHECK(fakes.argv("podman") == Argv{"podman", "--url", "unix:///run/podman.sock", "ps", "-a"});
}

TEST_CASE("action::docker passes hostile values as single arguments") {
  FakePrograms fakes;
  fakes.add("docker", "echo 'Error: No such container' >&2; exit 1");
  Argv args{"exec", "api; touch pwned", "sh", "-c", "$(id) `id` && rm -rf ~ 'q' \"qq\"\nx"};
  auto outcome = docker_kind().run(docker_spec({{"args", args}, {"host", "ssh://a b"}}), {});
  CHECK_FALSE(outcome.ok);
  CHECK(outcome.exit_code == 1);
  CHECK(outcome.outputs["stderr"] == "Error: No such container\n");
  Argv expected{"docker", "-H", "ssh://a b"};
  expected.insert(expected.end(), args.begin(), args.end());
  CHECK(fakes.argv("docker") == expected);
  CHECK_FALSE(std::filesystem::exists("pwned"));
}

TEST_CASE("action::docker rejects bad fields - naming them and says when no client is installed") {
  auto error_of = [](json fields) {
    try {
      docker_kind().describe(docker_spec(std::move(fields)), {});
    } catch (const Error& e) {
      CHECK(e.code() == ExitCode::bad_definitions);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(error_of({{"args", {"ps"}}, {"engine", "lxc"}}) ==
        "docker action: field 'engine' must be docker or podman, not 'lxc'");
  CHECK(error_of({{"args", json::array()}}) == "docker action: field 'args' is empty");
  CHECK(error_of({{"args", {"ps"}}, {"host", ""}}) == "docker action: field 'host' is empty");

  FakePrograms nothing("/nonexistent");
  try {
    docker_kind().run(docker_spec({{"args", {"ps"}}}), {});
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::unavailable);
    CHECK(std::string(e.what()).find("docker") != std::string::npos);
  }
}
