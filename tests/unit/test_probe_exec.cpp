#include <has/probe/probe.hpp>
#include <has/probe/runner.hpp>

#include <has/core/error.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

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

const std::filesystem::path k_plugins = "/usr/lib/nagios/plugins";

// Runs one exec probe through the runner, as `has inspect` does.
Result run_exec(const json& fields, std::chrono::milliseconds timeout = 10s) {
  std::vector<has::probe::Task> tasks;
  tasks.push_back(has::probe::make_task(Spec{"exec", fields, timeout}));
  Result out;
  int calls = 0;
  has::probe::run_tasks(std::move(tasks), {}, [&](std::size_t, Result result) {
    out = std::move(result);
    ++calls;
  });
  REQUIRE(calls == 1);
  // Results are stored as JSON: whatever a plugin prints must serialize.
  CHECK_NOTHROW((void)out.values.dump());
  return out;
}

// Writes an executable shell script into dir and returns its path.
std::string script(const TempDir& dir, const std::string& name, const std::string& body) {
  auto path = dir.write(name, "#!/bin/sh\n" + body);
  std::filesystem::permissions(path, std::filesystem::perms::owner_all);
  return path.string();
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A killed process whose parent died is reaped by init, which may take a
// moment (or never happen where PID 1 does not reap): a zombie counts as gone.
bool process_gone(pid_t pid) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    if (::kill(pid, 0) != 0 && errno == ESRCH) {
      return true;
    }
    std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    auto close_paren = stat.rfind(')');
    if (close_paren != std::string::npos && close_paren + 2 < stat.size() && stat[close_paren + 2] == 'Z') {
      return true;
    }
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

std::string plugin(const std::string& name) {
  auto path = k_plugins / name;
  // The install script installs monitoring-plugins-basic; a missing plugin is
  // a broken test environment, not a reason to skip.
  INFO("install monitoring-plugins-basic: ", path.string(), " is missing");
  REQUIRE(std::filesystem::exists(path));
  return path.string();
}

} // namespace

TEST_CASE("probe exec: exit codes 0-3 are ok / warning / critical / unknown") {
  TempDir dir;
  const std::vector<std::pair<int, Status>> cases{
    {0, Status::ok}, {1, Status::warning}, {2, Status::critical}, {3, Status::unknown}};
  for (const auto& [code, status] : cases) {
    auto path = script(dir, "check", "echo \"STATE " + std::to_string(code) + "\"\nexit " + std::to_string(code));
    auto result = run_exec({{"command", {path}}});
    CAPTURE(code);
    CHECK(result.status == status);
    CHECK(result.message == "STATE " + std::to_string(code));
    CHECK(result.values["exit_code"] == code);
    CHECK(result.values["message"] == result.message);
    CHECK(result.values["stdout"] == "STATE " + std::to_string(code) + "\n");
  }
}

TEST_CASE("probe exec: other exit codes and signals are unknown") {
  TempDir dir;
  auto four = run_exec({{"command", {script(dir, "four", "echo odd\nexit 4")}}});
  CHECK(four.status == Status::unknown);
  CHECK(four.message == "exit code 4 is not a plugin status (0-3): odd");

  auto killed = run_exec({{"command", {script(dir, "killed", "kill -KILL $$")}}});
  CHECK(killed.status == Status::unknown);
  CHECK(killed.message.find("killed by signal 9 (SIGKILL)") != std::string::npos);
  CHECK(killed.values["exit_code"] == -1);

  auto silent = run_exec({{"command", {script(dir, "silent", "exit 0")}}});
  CHECK(silent.status == Status::ok);
  CHECK(silent.message == "no output (exit code 0)");
}

TEST_CASE("probe exec: perfdata on the first line becomes values") {
  TempDir dir;
  auto path = script(dir, "check",
                     "echo \"PING OK - rta 0.5ms | rta=0.5ms;100;200;0; 'packet loss'=0%;20;60;0;100 "
                     "time=0.012s;;;0 junk\"\nexit 0");
  auto result = run_exec({{"command", {path}}});
  CHECK(result.status == Status::ok);
  CHECK(result.message == "PING OK - rta 0.5ms");
  auto& values = result.values;
  CHECK(values["rta"] == 0.5);
  CHECK(values["time"] == 0.012);
  CHECK(values["packet loss"] == 0);
  CHECK(values["packet_loss"] == 0);
  CHECK(values["perf"]["packet loss"]["uom"] == "%");
  CHECK(values["perf"]["packet loss"]["max"] == 100);
  CHECK(values["perf"]["rta"]["warn"] == 100);
  CHECK(values["perf"]["rta"]["crit"] == 200);
  CHECK(values["perf"]["rta"]["uom"] == "ms");
  REQUIRE(values["perf_errors"].size() == 1);
  CHECK(values["perf_errors"][0].get<std::string>().find("'junk'") != std::string::npos);
  CHECK(values["elapsed_ms"].is_number());
  CHECK(result.evidence.find("exit code 0") != std::string::npos);
}

TEST_CASE("probe exec: perfdata in Nagios long output is read from later lines") {
  TempDir dir;
  auto path = script(dir, "check",
                     "echo 'DISK WARNING - /var 91% | /=2643MB;5948;5958;0;5968'\n"
                     "echo '/ 15272 MB (77%)'\n"
                     "echo '/var 91% | /var=818MB;970;975;0;980'\n"
                     "echo \"'inodes used'=12%\"\n"
                     "exit 1");
  auto result = run_exec({{"command", {path}}});
  CHECK(result.status == Status::warning);
  CHECK(result.message == "DISK WARNING - /var 91%");
  CHECK(result.values["perf"].size() == 3);
  CHECK(result.values["/"] == 2643);
  CHECK(result.values["/var"] == 818);
  CHECK(result.values["_var"] == 818);
  CHECK(result.values["inodes_used"] == 12);
  CHECK(result.values["perf_errors"].empty());
}

TEST_CASE("probe exec: perfdata never replaces the protocol's own values") {
  TempDir dir;
  auto path = script(dir, "check", "echo 'OK | exit_code=7 message=1 latency=U'");
  auto result = run_exec({{"command", {path}}});
  CHECK(result.values["exit_code"] == 0);
  CHECK(result.values["message"] == "OK");
  CHECK(result.values["perf"]["exit_code"]["value"] == 7);
  CHECK(result.values["latency"].is_null());
}

TEST_CASE("probe exec: a JSON object on stdout becomes values") {
  TempDir dir;
  auto path = script(dir, "check",
                     "cat <<'EOF'\n"
                     "{\"status\": \"WARNING\", \"message\": \"3 jobs queued\", \"queued\": 3,\n"
                     " \"workers\": {\"busy\": 2}, \"exit_code\": 99}\n"
                     "EOF\n");
  auto result = run_exec({{"command", {path}}});
  CHECK(result.status == Status::warning);
  CHECK(result.message == "3 jobs queued");
  CHECK(result.values["queued"] == 3);
  CHECK(result.values["workers"]["busy"] == 2);
  CHECK(result.values["json"]["queued"] == 3);
  CHECK(result.values["json"]["exit_code"] == 99);
  CHECK(result.values["exit_code"] == 0);
  CHECK(result.values["status"] == "WARNING");

  // The exit code wins over the JSON status when the program says more than ok.
  auto failing = script(dir, "failing", "echo '{\"status\": \"ok\", \"n\": 1}'\nexit 2");
  auto critical = run_exec({{"command", {failing}}});
  CHECK(critical.status == Status::critical);
  CHECK(critical.values["n"] == 1);
  CHECK(critical.message == "{\"n\":1,\"status\":\"ok\"}");

  // Text that only looks like JSON stays text.
  auto broken = script(dir, "broken", "echo '{not json | a=1'");
  auto text = run_exec({{"command", {broken}}});
  CHECK_FALSE(text.values.contains("json"));
  CHECK(text.values["a"] == 1);
}

TEST_CASE("probe exec: stderr is captured apart from stdout") {
  TempDir dir;
  auto path = script(dir, "check", "echo 'OK - fine'\necho 'a warning on stderr' >&2\nexit 0");
  auto result = run_exec({{"command", {path}}});
  CHECK(result.values["stdout"] == "OK - fine\n");
  CHECK(result.values["stderr"] == "a warning on stderr\n");
  CHECK(result.evidence.find("a warning on stderr") != std::string::npos);

  auto only_err = run_exec({{"command", {script(dir, "err", "echo 'broken config' >&2\nexit 3")}}});
  CHECK(only_err.status == Status::unknown);
  CHECK(only_err.message == "no output on stdout (exit code 3); stderr: broken config");
}

TEST_CASE("probe exec: env and cwd reach the program") {
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "work");
  auto path = script(dir, "check", "echo \"$GREETING in $(pwd)\"");
  auto result = run_exec({{"command", {path}},
                          {"env", {{"GREETING", "hello world"}}},
                          {"cwd", (dir.path() / "work").string()}});
  CHECK(result.status == Status::ok);
  auto work = std::filesystem::canonical(dir.path() / "work").string();
  CHECK(result.message == "hello world in " + work);
}

TEST_CASE("probe exec: a timeout kills the plugin and its child and is critical") {
  TempDir dir;
  auto pid_file = dir.path() / "child.pid";
  auto path = script(dir, "hang", "sleep 30 &\necho $! > '" + pid_file.string() + "'\necho started\nsleep 30\n");
  auto result = run_exec({{"command", {path}}, {"timeout", "300ms"}});
  CHECK(result.status == Status::critical);
  CHECK(result.message == "timed out after 300 ms");
  CHECK(result.evidence.find("started") != std::string::npos);
  auto child = std::stoi(read_file(pid_file));
  CHECK(process_gone(child));

  // Without the field, the run's timeout applies.
  auto spec_timeout = run_exec({{"command", {path}}}, 200ms);
  CHECK(spec_timeout.status == Status::critical);
  CHECK(spec_timeout.message == "timed out after 200 ms");
  CHECK(process_gone(std::stoi(read_file(pid_file))));
}

TEST_CASE("probe exec: a missing program is unknown with a clear message") {
  auto result = run_exec({{"command", {"has-no-such-plugin", "-w", "1"}}});
  CHECK(result.status == Status::unknown);
  CHECK(result.message == "program 'has-no-such-plugin' not found");

  auto by_path = run_exec({{"command", {"/nonexistent/check_thing"}}});
  CHECK(by_path.status == Status::unknown);
  CHECK(by_path.message == "program '/nonexistent/check_thing' not found");

  TempDir dir;
  auto no_interpreter = dir.write("check.py", "#!/nonexistent/python9\nprint('OK')\n");
  std::filesystem::permissions(no_interpreter, std::filesystem::perms::owner_all);
  auto interpreter = run_exec({{"command", {no_interpreter.string()}}});
  CHECK(interpreter.status == Status::unknown);
  CHECK(interpreter.message.find("#! line") != std::string::npos);

  auto bad_cwd = run_exec({{"command", {"true"}}, {"cwd", (dir.path() / "missing").string()}});
  CHECK(bad_cwd.status == Status::unknown);
  CHECK(bad_cwd.message.find("is not a directory") != std::string::npos);
}

TEST_CASE("probe exec: shell mode runs a script through /bin/sh") {
  auto result = run_exec({{"shell", "printf 'warn: %s | n=%d\\n' \"$(echo hi | tr a-z A-Z)\" 4; exit 1"}});
  CHECK(result.status == Status::warning);
  CHECK(result.message == "warn: HI");
  CHECK(result.values["n"] == 4);

  // A shell's own "not found" is the script's exit 127, not a missing program.
  auto missing = run_exec({{"shell", "has-no-such-command-in-script"}});
  CHECK(missing.status == Status::unknown);
  CHECK(missing.message.find("exit code 127") != std::string::npos);
}

TEST_CASE("probe exec: hostile argument strings in command are never run by a shell") {
  TempDir dir;
  auto target = (dir.path() / "PWNED").string();
  std::vector<std::string> hostile{"$(touch " + target + ")", "; touch " + target, "`touch " + target + "`",
                                   "| touch " + target,       "&& touch " + target, "$(touch PWNED)",
                                   "\ntouch " + target};
  json argv = json::array({"/bin/echo"});
  for (const auto& word : hostile) {
    argv.push_back(word);
  }
  auto result = run_exec({{"command", argv}, {"cwd", dir.path().string()}});
  CHECK(result.status == Status::ok);
  CHECK_FALSE(std::filesystem::exists(target));
  CHECK(result.values["stdout"].get<std::string>().find("$(touch " + target + ")") != std::string::npos);

  // Passed to a script as arguments, they stay data there too.
  auto path = script(dir, "check", "echo \"got $#: $1\"");
  auto quoted = run_exec({{"command", {path, hostile[1]}}, {"cwd", dir.path().string()}});
  CHECK(quoted.message == "got 1: " + hostile[1]);
  CHECK_FALSE(std::filesystem::exists(target));
}

TEST_CASE("probe exec: max_output bounds what is kept") {
  auto result = run_exec({{"shell", "echo 'OK | a=1'; head -c 100000 /dev/zero | tr '\\0' x"}, {"max_output", "1KiB"}});
  CHECK(result.status == Status::ok);
  CHECK(result.values["stdout"].get<std::string>().size() == 1024);
  CHECK(result.values["a"] == 1);
  CHECK(result.evidence.find("[... truncated]") != std::string::npos);
}

TEST_CASE("probe exec: output that is not UTF-8 still makes valid values") {
  auto result = run_exec({{"shell", "printf 'OK \\377\\376 bytes | \\377=1\\n'"}});
  CHECK(result.status == Status::ok);
  CHECK(result.message == "OK \xEF\xBF\xBD\xEF\xBF\xBD bytes");
  CHECK(result.values["perf"].contains("\xEF\xBF\xBD"));
}

TEST_CASE("probe exec: wrong fields are definition errors") {
  auto bad = [](const json& fields) {
    try {
      (void)has::probe::make_task(Spec{"exec", fields});
    } catch (const Error& error) {
      CHECK(error.code() == ExitCode::bad_definitions);
      return std::string(error.what());
    }
    FAIL("no error for ", fields.dump());
    return std::string();
  };
  CHECK(bad(json::object()).find("needs 'command'") != std::string::npos);
  CHECK(bad({{"command", {"true"}}, {"shell", "true"}}).find("not both") != std::string::npos);
  CHECK(bad({{"command", "check_http -H example.com"}}).find("argv list") != std::string::npos);
  CHECK(bad({{"command", json::array()}}).find("'command'") != std::string::npos);
  CHECK(bad({{"command", {"true"}}, {"timeout", "soon"}}).find("'timeout'") != std::string::npos);
  CHECK(bad({{"command", {"true"}}, {"timeout", "0"}}).find("'timeout'") != std::string::npos);
  CHECK(bad({{"command", {"true"}}, {"env", {"A=1"}}}).find("'env'") != std::string::npos);
  // One word is a program name.
  CHECK_NOTHROW((void)has::probe::make_task(Spec{"exec", {{"command", "true"}}}));
}

TEST_CASE("probe exec: runs the Monitoring Plugins' check_dummy unmodified") {
  auto result = run_exec({{"command", {plugin("check_dummy"), "1", "hello"}}});
  CHECK(result.status == Status::warning);
  CHECK(result.message == "WARNING: hello");
  CHECK(result.values["exit_code"] == 1);
}

TEST_CASE("probe exec: runs the Monitoring Plugins' check_load with usable perfdata") {
  auto result =
    run_exec({{"command", {plugin("check_load"), "-w", "1000,1000,1000", "-c", "2000,2000,2000"}}});
  CHECK(result.status == Status::ok);
  CHECK(result.message.find("OK") != std::string::npos);
  INFO(result.values.dump());
  for (auto name : {"load1", "load5", "load15"}) {
    REQUIRE(result.values.contains(name));
    CHECK(result.values[name].get<double>() >= 0);
    CHECK(result.values["perf"][name]["warn"] == 1000);
    CHECK(result.values["perf"][name]["crit"] == 2000);
  }
  CHECK(result.values["perf_errors"].empty());
}

TEST_CASE("probe exec: runs the Monitoring Plugins' check_disk with perfdata") {
  auto result = run_exec({{"command", {plugin("check_disk"), "-w", "1%", "-c", "1%", "-p", "/"}}});
  INFO(result.message, "\n", result.values.dump());
  CHECK(result.status != Status::unknown);
  CHECK(result.message.find("DISK") != std::string::npos);
  REQUIRE(result.values["perf"].contains("/"));
  CHECK(result.values["perf"]["/"]["value"].get<double>() > 0);
  CHECK(result.values["perf"]["/"]["max"].get<double>() > 0);
  CHECK(result.values["perf_errors"].empty());
}
