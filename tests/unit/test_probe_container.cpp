// The container probe cannot run a real container on this machine: the
// Docker client is installed but there is no Docker engine, and podman/crun
// cannot start containers with cgroups in hybrid mode. So these tests check
// the command line the probe builds, the no-engine path, and how it reads
// an engine's results through a stand-in `docker` script that records what
// it was given.

#include <has/probe/kinds.hpp>
#include <has/probe/runner.hpp>

#include <has/inspect/evaluate.hpp>

#include <has/core/error.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>

using has::probe::Result;
using has::probe::Spec;
using has::probe::Status;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// Sets PATH for the life of the object.
class ScopedPath {
public:
  explicit ScopedPath(const std::string& value) {
    if (const char* old = std::getenv("PATH")) {
      m_old = old;
    }
    ::setenv("PATH", value.c_str(), 1);
  }
  ~ScopedPath() { ::setenv("PATH", m_old.c_str(), 1); }
  ScopedPath(const ScopedPath&) = delete;
  ScopedPath& operator=(const ScopedPath&) = delete;

private:
  std::string m_old;
};

Result run_container(json fields) {
  std::vector<has::probe::Task> tasks;
  tasks.push_back(has::probe::make_task(Spec{"container", std::move(fields), 10s}));
  Result out;
  has::probe::run_tasks(std::move(tasks), {}, [&](std::size_t, Result result) { out = std::move(result); });
  return out;
}

// Writes an executable stand-in for an engine: it prints its arguments one
// a line and the value of TOKEN it received, then the stderr and exit code
// the test asks for through FAKE_STDERR / FAKE_EXIT (passed as args).
void write_fake_engine(const std::filesystem::path& file) {
  std::ofstream(file) << "#!/bin/sh\n"
                         "for arg in \"$@\"; do printf 'arg:%s\\n' \"$arg\"; done\n"
                         "printf 'TOKEN=%s\\n' \"$TOKEN\"\n"
                         "eval \"last=\\${$#}\"\n"
                         "case \"$last\" in\n"
                         "  daemon-down) echo 'docker: Cannot connect to the Docker daemon at "
                         "unix:///var/run/docker.sock. Is the docker daemon running?' >&2; exit 125 ;;\n"
                         "  exit-*) exit \"${last#exit-}\" ;;\n"
                         "esac\n";
  ::chmod(file.c_str(), 0755);
}

} // namespace

TEST_CASE("probe container: the argv runs the image with args - keeping env values out") {
  auto argv = has::probe::container_argv(
    "docker",
    {{"image", "registry.example.com/smoke:1.2"},
     {"args", json::array({"--target", "https://shop.example.com", "--retries", 3})},
     {"env", {{"API_TOKEN", "s3cret-value"}, {"REGION", "eu"}}},
     {"pull", true}},
    "has-probe-1");
  std::vector<std::string> expected{"docker", "run", "--rm", "--name", "has-probe-1", "--pull=always",
                                    "-e", "API_TOKEN", "-e", "REGION", "registry.example.com/smoke:1.2",
                                    "--target", "https://shop.example.com", "--retries", "3"};
  CHECK(argv == expected);
  for (const auto& arg : argv) {
    CHECK(arg.find("s3cret-value") == std::string::npos);
  }
}

TEST_CASE("probe container: without pull the image is pulled only when missing") {
  auto argv = has::probe::container_argv("podman", {{"image", "alpine:3.19"}}, "n");
  std::vector<std::string> expected{"podman", "run", "--rm", "--name", "n", "--pull=missing", "alpine:3.19"};
  CHECK(argv == expected);
  CHECK(has::probe::container_argv("podman", {{"image", "alpine"}, {"pull", false}}, "n")[5] == "--pull=missing");
}

TEST_CASE("probe container: bad fields are definition errors") {
  auto error = [](json fields) -> std::string {
    try {
      has::probe::make_container(Spec{"container", std::move(fields), 5s});
    } catch (const has::core::Error& e) {
      CHECK(e.code() == has::core::ExitCode::bad_definitions);
      return e.what();
    }
    FAIL("accepted");
    return {};
  };
  CHECK(error(json::object()) == "container probe: field 'image' must be given");
  // An image starting with '-' would be read as an option of `run`.
  CHECK(error({{"image", "--privileged"}}).find("must be an image reference") != std::string::npos);
  CHECK(error({{"image", "alpine"}, {"engine", "lxc"}}) ==
        "container probe: field 'engine' must be docker or podman, not 'lxc'");
  CHECK(error({{"image", "alpine"}, {"env", {{"BAD-NAME", "x"}}}}).find("not an environment variable name") !=
        std::string::npos);
  CHECK(error({{"image", "alpine"}, {"timeout", "0s"}}) == "container probe: field 'timeout' must be longer than zero");
}

TEST_CASE("probe container: no engine installed is unknown and says so") {
  has::test::TempDir empty;
  ScopedPath path(empty.path().string());
  auto result = run_container({{"image", "alpine:3.19"}});
  CHECK(result.status == Status::unknown);
  CHECK(result.message == "no container engine (docker or podman) is installed");
  auto chosen = run_container({{"image", "alpine:3.19"}, {"engine", "podman"}});
  CHECK(chosen.status == Status::unknown);
  CHECK(chosen.message == "container engine 'podman' is not installed (not found in PATH)");
}

TEST_CASE("probe container: the exit code is the status and env values travel by environment") {
  has::test::TempDir bin;
  write_fake_engine(bin.path() / "docker");
  ScopedPath path(bin.path().string());
  auto ok = run_container({{"image", "smoke:1"}, {"env", {{"TOKEN", "s3cret-value"}}}, {"args", json::array({"exit-0"})}});
  CHECK(ok.status == Status::ok);
  CHECK(ok.values["exit_code"] == 0);
  CHECK(ok.values["engine"] == "docker");
  auto out = ok.values["stdout"].get<std::string>();
  CHECK(out.starts_with("arg:run\narg:--rm\narg:--name\narg:has-probe-"));
  CHECK(out.find("arg:-e\narg:TOKEN\narg:smoke:1\narg:exit-0\n") != std::string::npos);
  CHECK(out.find("TOKEN=s3cret-value") != std::string::npos); // reached the engine's environment
  CHECK(out.find("arg:s3cret-value") == std::string::npos);
  CHECK(ok.message == "arg:run");

  CHECK(run_container({{"image", "smoke:1"}, {"args", json::array({"exit-1"})}}).status == Status::warning);
  CHECK(run_container({{"image", "smoke:1"}, {"args", json::array({"exit-2"})}}).status == Status::critical);
  auto odd = run_container({{"image", "smoke:1"}, {"args", json::array({"exit-7"})}});
  CHECK(odd.status == Status::unknown);
  CHECK(odd.message.find("exit code 7 (not a plugin status (0-3))") != std::string::npos);
}

TEST_CASE("probe container: an engine that cannot run containers is unknown with its error") {
  has::test::TempDir bin;
  write_fake_engine(bin.path() / "docker");
  ScopedPath path(bin.path().string());
  auto result = run_container({{"image", "smoke:1"}, {"args", json::array({"daemon-down"})}});
  CHECK(result.status == Status::unknown);
  CHECK(result.message ==
        "docker run smoke:1: exit code 125 (the container engine failed): docker: Cannot connect to the Docker "
        "daemon at unix:///var/run/docker.sock. Is the docker daemon running?");
  CHECK(result.values["exit_code"] == 125);
  CHECK(result.evidence.find("stderr:\ndocker: Cannot connect") != std::string::npos);
}

// No container runs here (see the top of this file): the stand-in `docker`
// script exits with the code the test asks for, as a test image would.
TEST_CASE("probe container: without expect the exit code is the verdict") {
  has::test::TempDir bin;
  write_fake_engine(bin.path() / "docker");
  ScopedPath path(bin.path().string());
  has::expr::Engine engine;
  has::inspect::Check check;
  check.rule = "smoke";
  check.target = "local";
  check.spec.kind = "container";
  for (const auto& want : {std::pair{0, Status::ok}, std::pair{1, Status::warning},
                           std::pair{2, Status::critical}, std::pair{3, Status::unknown}}) {
    int code = want.first;
    auto status = want.second;
    CAPTURE(code);
    auto result = run_container({{"image", "smoke:1"}, {"args", json::array({fmt::format("exit-{}", code)})}});
    auto verdict = has::inspect::evaluate(engine, check, result, true);
    CHECK(verdict.status == status);
    REQUIRE(verdict.findings.size() == 1);
    CHECK(verdict.findings[0].kind == (code == 0 ? "default" : "probe"));
    if (code == 0) {
      CHECK(verdict.findings[0].text == "default: container probe's own status -> ok");
    }
  }
}
