#include <has/probe/probe.hpp>
#include <has/probe/runner.hpp>

#include <has/core/error.hpp>
#include <has/util/process.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>

using has::core::Error;
using has::core::ExitCode;
using has::probe::Result;
using has::probe::Spec;
using has::probe::Status;
using has::test::TempDir;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// Runs one system probe through the runner, as `has inspect` does.
Result run_system(const json& fields) {
  std::vector<has::probe::Task> tasks;
  tasks.push_back(has::probe::make_task(Spec{"system", fields}));
  Result out;
  int calls = 0;
  has::probe::run_tasks(std::move(tasks), {}, [&](std::size_t, Result result) {
    out = std::move(result);
    ++calls;
  });
  REQUIRE(calls == 1);
  CHECK_NOTHROW((void)out.values.dump());
  return out;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string own_comm() {
  auto comm = read_file("/proc/self/comm");
  while (!comm.empty() && comm.back() == '\n') {
    comm.pop_back();
  }
  return comm;
}

bool contains_pid(const json& pids, pid_t pid) {
  return std::ranges::any_of(pids, [&](const json& item) { return item == pid; });
}

// Returns whether pid is in state Z, waiting a little for it to get there.
bool becomes_zombie(pid_t pid) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    auto close_paren = stat.rfind(')');
    if (close_paren != std::string::npos && close_paren + 2 < stat.size() && stat[close_paren + 2] == 'Z') {
      return true;
    }
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

std::string definition_error(const json& fields) {
  try {
    (void)has::probe::make_task(Spec{"system", fields});
  } catch (const Error& error) {
    CHECK(error.code() == ExitCode::bad_definitions);
    return error.what();
  }
  FAIL("no error for ", fields.dump());
  return {};
}

} // namespace

TEST_CASE("probe system: disk measures the filesystem holding a path") {
  TempDir dir;
  auto result = run_system({{"disk", dir.path().string()}});
  INFO(result.message);
  REQUIRE(result.status == Status::ok);
  const auto& v = result.values;
  CHECK(v["total_bytes"].get<std::uint64_t>() > 0);
  CHECK(v["used_bytes"].get<std::uint64_t>() <= v["total_bytes"].get<std::uint64_t>());
  CHECK(v["free_bytes"].get<std::uint64_t>() <= v["total_bytes"].get<std::uint64_t>());
  CHECK(v["used_percent"].get<double>() >= 0);
  CHECK(v["used_percent"].get<double>() <= 100);
  CHECK(v["inodes_used"].get<std::uint64_t>() <= v["inodes_total"].get<std::uint64_t>());
  CHECK(v["inodes_used_percent"].get<double>() >= 0);
  CHECK(v["inodes_used_percent"].get<double>() <= 100);
  CHECK(result.message.starts_with(dir.path().string() + " "));
  CHECK(result.message.find("% used (") != std::string::npos);
  CHECK(result.message.find(" free)") != std::string::npos);
}

TEST_CASE("probe system: disk of a missing path is unknown") {
  TempDir dir;
  auto missing = (dir.path() / "nowhere").string();
  auto result = run_system({{"disk", missing}});
  CHECK(result.status == Status::unknown);
  CHECK(result.message == "disk: '" + missing + "' does not exist");
}

TEST_CASE("probe system: memory values are sane") {
  auto result = run_system({{"memory", true}});
  INFO(result.message);
  REQUIRE(result.status == Status::ok);
  const auto& v = result.values;
  auto total = v["total_bytes"].get<std::uint64_t>();
  CHECK(total > 16u << 20);
  CHECK(v["available_bytes"].get<std::uint64_t>() <= total);
  CHECK(v["used_bytes"].get<std::uint64_t>() + v["available_bytes"].get<std::uint64_t>() == total);
  CHECK(v["used_percent"].get<double>() > 0);
  CHECK(v["used_percent"].get<double>() < 100);
  CHECK(v["swap_used_bytes"].get<std::uint64_t>() <= v["swap_total_bytes"].get<std::uint64_t>());
  CHECK(v["swap_used_percent"].get<double>() >= 0);
  CHECK(v["swap_used_percent"].get<double>() <= 100);
  CHECK(result.message.starts_with("memory "));
}

TEST_CASE("probe system: load reads the load averages and CPUs") {
  auto result = run_system({{"load", "true"}});
  INFO(result.message);
  REQUIRE(result.status == Status::ok);
  const auto& v = result.values;
  auto cpus = v["cpus"].get<std::int64_t>();
  CHECK(cpus == ::sysconf(_SC_NPROCESSORS_ONLN));
  for (auto name : {"load1", "load5", "load15"}) {
    CHECK(v[name].get<double>() >= 0);
    CHECK(v[std::string(name) + "_per_cpu"].get<double>() ==
          doctest::Approx(v[name].get<double>() / static_cast<double>(cpus)));
  }
  CHECK(result.message.starts_with("load average "));
}

TEST_CASE("probe system: process finds this test binary by its name") {
  auto comm = own_comm();
  REQUIRE_FALSE(comm.empty());
  auto result = run_system({{"process", comm}});
  INFO(result.message);
  REQUIRE(result.status == Status::ok);
  CHECK(result.values["present"] == true);
  CHECK(result.values["count"].get<int>() >= 1);
  if (result.values["count"].get<int>() <= 20) {
    CHECK(contains_pid(result.values["pids"], ::getpid()));
  }

  // With the user it runs as, by number; another user's processes do not count.
  auto mine = run_system({{"process", {{"name", comm}, {"user", std::to_string(::geteuid())}}}});
  CHECK(mine.values["count"].get<int>() >= 1);
  auto other = run_system({{"process", {{"name", comm}, {"user", std::to_string(::geteuid() + 4242)}}}});
  CHECK(other.status == Status::ok);
  CHECK(other.values["present"] == false);
}

TEST_CASE("probe system: an absent process is present=false and still ok") {
  auto result = run_system({{"process", "has-no-such-process-x"}});
  CHECK(result.status == Status::ok);
  CHECK(result.values["present"] == false);
  CHECK(result.values["count"] == 0);
  CHECK(result.values["pids"].empty());
  CHECK(result.message == "no process 'has-no-such-process-x' is running");
}

TEST_CASE("probe system: process with an unknown user is unknown") {
  auto result = run_system({{"process", {{"name", "init"}, {"user", "has-no-such-user"}}}});
  CHECK(result.status == Status::unknown);
  CHECK(result.message == "process: there is no user 'has-no-such-user' on this host");
}

TEST_CASE("probe system: zombies counts processes in state Z") {
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::_exit(0);
  }
  REQUIRE(becomes_zombie(child));
  auto result = run_system({{"zombies", true}});
  int status = 0;
  ::waitpid(child, &status, 0);
  CHECK(result.status == Status::ok);
  CHECK(result.values["count"].get<int>() >= 1);
  if (result.values["count"].get<int>() <= 20) {
    CHECK(contains_pid(result.values["pids"], child));
  }
  CHECK(result.message.find("zombie process") != std::string::npos);
}

TEST_CASE("probe system: file reports existence / size / age and mode") {
  TempDir dir;
  auto path = dir.write("app.log", std::string(1500, 'x'));
  using std::filesystem::perms;
  std::filesystem::permissions(path, perms::owner_read | perms::owner_write | perms::group_read);
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  std::array<timespec, 2> times{now, now};
  times[1].tv_sec -= 3600;
  REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times.data(), 0) == 0);

  auto result = run_system({{"file", path.string()}});
  INFO(result.message);
  REQUIRE(result.status == Status::ok);
  const auto& v = result.values;
  CHECK(v["exists"] == true);
  CHECK(v["size_bytes"] == 1500);
  CHECK(v["age_seconds"].get<double>() >= 3600);
  CHECK(v["age_seconds"].get<double>() < 3660);
  CHECK(v["is_dir"] == false);
  CHECK(v["mode"] == "0640");
  CHECK(result.message == "'" + path.string() + "' exists (1.5 KiB, modified 1h ago)");

  auto directory = run_system({{"file", dir.path().string()}});
  CHECK(directory.values["exists"] == true);
  CHECK(directory.values["is_dir"] == true);
}

TEST_CASE("probe system: a missing file is exists=false and ok") {
  TempDir dir;
  auto missing = (dir.path() / "gone.lock").string();
  auto result = run_system({{"file", missing}});
  CHECK(result.status == Status::ok);
  CHECK(result.values["exists"] == false);
  CHECK(result.message == "'" + missing + "' does not exist");
}

TEST_CASE("probe system: cert reads the expiry of a PEM certificate") {
  TempDir dir;
  INFO("install the openssl package: the test generates its certificate with it");
  REQUIRE(std::filesystem::exists("/usr/bin/openssl"));
  auto cert = dir.path() / "cert.pem";
  has::util::ProcessSpec openssl;
  openssl.argv = {"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                  "-nodes", "-keyout", (dir.path() / "key.pem").string(), "-out", cert.string(),
                  "-days", "10", "-subj", "/O=has tests/CN=has-test"};
  openssl.timeout = 60s;
  auto made = has::util::run_process(openssl);
  INFO(made.err);
  REQUIRE(made.exit_code == 0);

  auto result = run_system({{"cert", cert.string()}});
  INFO(result.message);
  REQUIRE(result.status == Status::ok);
  const auto& v = result.values;
  auto days = v["days_left"].get<int>();
  CHECK((days == 9 || days == 10));
  CHECK(v["subject"] == "CN=has-test,O=has tests");
  CHECK(v["issuer"] == "CN=has-test,O=has tests");
  auto not_after = v["not_after"].get<std::string>();
  CHECK(not_after.size() == 20);
  CHECK(not_after[4] == '-');
  CHECK(not_after[10] == 'T');
  CHECK(not_after.back() == 'Z');
  CHECK(v["not_before"].get<std::string>() < not_after);
  CHECK(result.message.find("certificate 'CN=has-test,O=has tests' expires " + not_after) != std::string::npos);
}

TEST_CASE("probe system: cert of a missing or non-certificate file is unknown") {
  TempDir dir;
  auto missing = run_system({{"cert", (dir.path() / "none.pem").string()}});
  CHECK(missing.status == Status::unknown);
  CHECK(missing.message.find("does not exist") != std::string::npos);

  auto junk = dir.write("junk.pem", "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n");
  auto result = run_system({{"cert", junk.string()}});
  CHECK(result.status == Status::unknown);
  CHECK(result.message.find("holds no PEM or DER certificate") != std::string::npos);
}

TEST_CASE("probe system: fds reads the kernel's file handle counts") {
  auto result = run_system({{"fds", true}});
  INFO(result.message);
  REQUIRE(result.status == Status::ok);
  const auto& v = result.values;
  CHECK(v["allocated"].get<std::uint64_t>() > 0);
  CHECK(v["max"].get<std::uint64_t>() >= v["allocated"].get<std::uint64_t>());
  CHECK(v["used_percent"].get<double>() > 0);
  CHECK(v["used_percent"].get<double>() <= 100);
  CHECK(result.message.find("file handles allocated") != std::string::npos);
}

TEST_CASE("probe system: wrong fields are definition errors") {
  CHECK(definition_error(json::object()).find("needs one of") != std::string::npos);
  CHECK(definition_error({{"memory", true}, {"load", true}}).find("memory and load") != std::string::npos);
  CHECK(definition_error({{"memory", false}}).find("must be true") != std::string::npos);
  CHECK(definition_error({{"fds", "maybe"}}).find("'fds'") != std::string::npos);
  CHECK(definition_error({{"process", {{"name", "x"}, {"state", "Z"}}}}).find("'state'") != std::string::npos);
  CHECK(definition_error({{"process", {{"user", "root"}}}}).find("'name'") != std::string::npos);
  CHECK(definition_error({{"disk", ""}}).find("needs a path") != std::string::npos);
  CHECK(definition_error({{"file", "/tmp"}, {"timeout", "later"}}).find("'timeout'") != std::string::npos);
}
