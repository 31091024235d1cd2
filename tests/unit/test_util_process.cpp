#include <has/util/process.hpp>

#include <has/core/error.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

using has::core::Error;
using has::core::ExitCode;
using has::util::EnvMode;
using has::util::ProcessResult;
using has::util::ProcessSpec;
using has::util::run_process;
using has::util::run_processes;
using namespace std::chrono_literals;

namespace {

ProcessSpec sh(const std::string& script) {
  ProcessSpec spec;
  spec.argv = {"/bin/sh", "-c", script};
  return spec;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A killed process whose parent died is reaped by init, which may take a
// moment (or never happen, where PID 1 does not reap): a zombie counts as gone.
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

} // namespace

TEST_CASE("util::run_process returns the exit code") {
  CHECK(run_process(sh("exit 0")).exit_code == 0);
  CHECK(run_process(sh("exit 3")).exit_code == 3);
  ProcessSpec spec;
  spec.argv = {"false"};
  CHECK(run_process(spec).exit_code == 1);
}

TEST_CASE("util::run_process reports death by signal") {
  auto result = run_process(sh("kill -TERM $$"));
  CHECK(result.exit_code == -1);
  CHECK(result.term_signal == SIGTERM);
  CHECK_FALSE(result.timed_out);
}

TEST_CASE("util::run_process captures stdout and stderr separately") {
  auto result = run_process(sh("printf 'to out'; printf 'to err' >&2"));
  CHECK(result.out == "to out");
  CHECK(result.err == "to err");
  CHECK_FALSE(result.out_truncated);
  CHECK_FALSE(result.err_truncated);
}

TEST_CASE("util::run_process passes argv words verbatim without a shell") {
  ProcessSpec spec;
  spec.argv = {"printf", "%s|", "a b", "$HOME", "'q'", ""};
  CHECK(run_process(spec).out == "a b|$HOME|'q'||");
}

TEST_CASE("util::run_process feeds stdin or /dev/null without stdin_data") {
  ProcessSpec spec;
  spec.argv = {"cat"};
  spec.stdin_data = "line one\nline two\n";
  CHECK(run_process(spec).out == "line one\nline two\n");

  spec.stdin_data.reset();
  auto result = run_process(spec);
  CHECK(result.exit_code == 0);
  CHECK(result.out.empty());

  spec.stdin_data = std::string(3 << 20, 'x'); // more than a pipe holds
  result = run_process(spec);
  CHECK(result.out.size() == (1u << 20));
  CHECK(result.out_truncated);
}

TEST_CASE("util::run_process survives a child that closes stdin early") {
  auto spec = sh("exec 0<&-; echo closed");
  spec.stdin_data = std::string(4 << 20, 'y');
  auto result = run_process(spec);
  CHECK(result.exit_code == 0);
  CHECK(result.out == "closed\n");
}

TEST_CASE("util::run_process adds to the environment or starts clean") {
  ::setenv("HAS_TEST_INHERITED", "from parent", 1);
  auto spec = sh("printf '%s/%s/%s' \"$HAS_TEST_INHERITED\" \"$HAS_TEST_ADDED\" \"${HOME:-none}\"");
  spec.env = {{"HAS_TEST_ADDED", "first"}, {"HAS_TEST_ADDED", "added"}};
  CHECK(run_process(spec).out == "from parent/added/" + std::string(::getenv("HOME") ? ::getenv("HOME") : "none"));

  spec.env = {{"HAS_TEST_INHERITED", "overridden"}};
  CHECK(run_process(spec).out.starts_with("overridden//"));

  spec.env_mode = EnvMode::clean;
  spec.env = {{"HAS_TEST_ADDED", "only"}};
  CHECK(run_process(spec).out == "/only/none");

  ProcessSpec env_dump;
  env_dump.argv = {"/usr/bin/env"};
  env_dump.env_mode = EnvMode::clean;
  env_dump.env = {{"A", "1"}, {"B", "2"}};
  CHECK(run_process(env_dump).out == "A=1\nB=2\n");
  ::unsetenv("HAS_TEST_INHERITED");
}

TEST_CASE("util::run_process finds programs in the child PATH") {
  has::test::TempDir dir;
  auto tool = dir.write("bin/has-test-tool", "#!/bin/sh\necho found me\n");
  std::filesystem::permissions(tool, std::filesystem::perms::owner_all);
  ProcessSpec spec;
  spec.argv = {"has-test-tool"};
  spec.env = {{"PATH", (dir.path() / "bin").string() + ":/usr/bin:/bin"}};
  CHECK(run_process(spec).out == "found me\n");
}

TEST_CASE("util::run_process runs in cwd") {
  has::test::TempDir dir;
  dir.write("sub/marker.txt", "here");
  ProcessSpec spec;
  spec.argv = {"cat", "marker.txt"};
  spec.cwd = dir.path() / "sub";
  CHECK(run_process(spec).out == "here");

  spec.cwd = dir.path() / "missing";
  try {
    run_process(spec);
    FAIL("expected an error");
  } catch (const Error& error) {
    CHECK(error.code() == ExitCode::unavailable);
    CHECK(error.render().find("missing") != std::string::npos);
  }
}

TEST_CASE("util::run_process throws unavailable naming a missing program") {
  ProcessSpec spec;
  spec.argv = {"has-no-such-program-xyz", "arg"};
  try {
    run_process(spec);
    FAIL("expected an error");
  } catch (const Error& error) {
    CHECK(error.code() == ExitCode::unavailable);
    CHECK(std::string(error.what()).find("has-no-such-program-xyz") != std::string::npos);
  }

  spec.argv = {"/nonexistent/dir/prog"};
  CHECK_THROWS_AS(run_process(spec), Error);

  has::test::TempDir dir;
  auto not_executable = dir.write("plain.txt", "echo hi\n");
  spec.argv = {not_executable.string()};
  try {
    run_process(spec);
    FAIL("expected an error");
  } catch (const Error& error) {
    CHECK(error.code() == ExitCode::unavailable);
    CHECK(error.render().find("plain.txt") != std::string::npos);
    CHECK(error.render().find("ermission denied") != std::string::npos);
  }
}

TEST_CASE("util::run_process bounds each stream and drains the rest") {
  auto spec = sh("head -c 300000 /dev/zero; head -c 5000 /dev/zero >&2; echo done >&2");
  spec.max_output = 1000;
  auto result = run_process(spec);
  CHECK(result.exit_code == 0); // drained: the writer was never blocked or killed
  CHECK(result.out.size() == 1000);
  CHECK(result.out_truncated);
  CHECK(result.err.size() == 1000);
  CHECK(result.err_truncated);

  spec.max_output = 1 << 20;
  result = run_process(spec);
  CHECK(result.out.size() == 300000);
  CHECK_FALSE(result.out_truncated);
  CHECK(result.err.ends_with("done\n"));
}

TEST_CASE("util::run_process timeout kills the whole process group promptly") {
  has::test::TempDir dir;
  auto pid_file = dir.path() / "grandchild.pid";
  // The grandchild keeps stdout open, so only killing the group ends the run.
  auto spec = sh("sleep 100 & echo $! > '" + pid_file.string() + "'; echo started; sleep 100");
  spec.timeout = 300ms;
  auto began = std::chrono::steady_clock::now();
  auto result = run_process(spec);
  auto took = std::chrono::steady_clock::now() - began;

  CHECK(result.timed_out);
  CHECK(result.exit_code == -1);
  CHECK(result.term_signal == SIGKILL);
  CHECK(result.out == "started\n");
  CHECK(result.elapsed >= 300ms);
  CHECK(took < 3s);
  auto grandchild = static_cast<pid_t>(std::stol(read_file(pid_file)));
  REQUIRE(grandchild > 0);
  CHECK(process_gone(grandchild));
}

TEST_CASE("util::run_process timeout also ends a run whose grandchild holds the pipe") {
  // The child exits at once; a background sleep keeps stdout open.
  auto spec = sh("sleep 100 & echo bye");
  spec.timeout = 300ms;
  auto began = std::chrono::steady_clock::now();
  auto result = run_process(spec);
  CHECK(std::chrono::steady_clock::now() - began < 3s);
  CHECK(result.timed_out);
  CHECK(result.exit_code == 0);
  CHECK(result.out == "bye\n");
}

TEST_CASE("util::run_process without timeout does not time out") {
  auto spec = sh("sleep 0.2; echo ok");
  auto result = run_process(spec);
  CHECK_FALSE(result.timed_out);
  CHECK(result.out == "ok\n");
  CHECK(result.elapsed >= 200ms);
}

TEST_CASE("util::run_processes honours concurrency and reports every index once") {
  has::test::TempDir dir;
  constexpr std::size_t k_count = 12;
  constexpr std::size_t k_limit = 3;
  std::vector<ProcessSpec> specs;
  for (std::size_t i = 0; i < k_count; ++i) {
    auto base = (dir.path() / std::to_string(i)).string();
    specs.push_back(sh("date +%s%N > '" + base + ".start'; sleep 0.15; date +%s%N > '" + base +
                       ".end'; echo " + std::to_string(i)));
  }
  specs[5].argv = {"has-no-such-program-xyz"};

  std::map<std::size_t, ProcessResult> seen;
  std::size_t calls = 0;
  run_processes(specs, k_limit, [&](std::size_t index, ProcessResult result) {
    ++calls;
    seen.emplace(index, std::move(result));
  });

  CHECK(calls == k_count);
  REQUIRE(seen.size() == k_count);
  for (std::size_t i = 0; i < k_count; ++i) {
    if (i == 5) {
      CHECK(seen[i].exit_code == 127);
      CHECK(seen[i].err.find("has-no-such-program-xyz") != std::string::npos);
      continue;
    }
    CHECK(seen[i].exit_code == 0);
    CHECK(seen[i].out == std::to_string(i) + "\n");
  }

  // Sweep start (+1) and end (-1) events; ends sort first at equal times.
  std::vector<std::pair<long long, int>> events;
  for (std::size_t i = 0; i < k_count; ++i) {
    if (i == 5) {
      continue;
    }
    auto base = dir.path() / std::to_string(i);
    events.emplace_back(std::stoll(read_file(base.string() + ".start")), +1);
    events.emplace_back(std::stoll(read_file(base.string() + ".end")), -1);
  }
  std::sort(events.begin(), events.end());
  int running = 0;
  int most = 0;
  for (auto [time, delta] : events) {
    running += delta;
    most = std::max(most, running);
  }
  CHECK(most <= static_cast<int>(k_limit));
  CHECK(most >= 2); // it did run things at the same time
}

TEST_CASE("util::run_processes with nothing to do calls nothing") {
  std::size_t calls = 0;
  run_processes({}, 4, [&](std::size_t, ProcessResult) { ++calls; });
  CHECK(calls == 0);
}

TEST_CASE("util::run_processes kills running children when on_done throws") {
  has::test::TempDir dir;
  auto pid_file = dir.path() / "slow.pid";
  std::vector<ProcessSpec> specs = {sh("echo $$ > '" + pid_file.string() + "'; exec sleep 100"), sh("sleep 0.3")};
  CHECK_THROWS_AS(run_processes(specs, 2,
                                [&](std::size_t, ProcessResult) { throw std::runtime_error("stop"); }),
                  std::runtime_error);
  auto slow = static_cast<pid_t>(std::stol(read_file(pid_file)));
  CHECK(process_gone(slow));
}

TEST_CASE("util::shell_quote quotes only what needs it") {
  using has::util::shell_join;
  using has::util::shell_quote;
  CHECK(shell_quote("plain/path-1.txt") == "plain/path-1.txt");
  CHECK(shell_quote("") == "''");
  CHECK(shell_quote("a b") == "'a b'");
  CHECK(shell_quote("it's") == "'it'\\''s'");
  CHECK(shell_quote("$HOME;rm") == "'$HOME;rm'");
  CHECK(shell_join({"echo", "a b", "c"}) == "echo 'a b' c");

  // What a shell reads back is the original word.
  std::string tricky = "x'y \"z\" $(id) `id` \\n";
  auto result = run_process(sh("printf %s " + shell_quote(tricky)));
  CHECK(result.out == tricky);
}
