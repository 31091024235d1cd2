#include <has/state/runs.hpp>
#include <has/state/store.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>

#include <string>

using has::core::Error;
using has::core::ExitCode;
using has::state::Run;
using has::state::RunRepository;
using has::state::Store;

namespace {

bool looks_iso8601(const std::string& text) {
  // 2024-03-05T13:04:05.067Z
  return text.size() == 24 && text[4] == '-' && text[7] == '-' && text[10] == 'T' &&
         text[13] == ':' && text[16] == ':' && text[19] == '.' && text[23] == 'Z';
}

} // namespace

TEST_CASE("state: runs start records a running run with its context") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  RunRepository runs(store);
  Run run;
  run.command = "inspect";
  run.name = "nightly";
  run.status = "ok"; // ignored: a run starts as running
  run.host = "web-1";
  run.user = "ops";
  run.pid = 4242;
  run.workspace = "/srv/defs";
  run.git_commit = "abc123";
  run.git_dirty = true;
  const auto id = runs.start(run);
  CHECK(id > 0);

  const auto stored = runs.get(id);
  REQUIRE(stored.has_value());
  CHECK(stored->id == id);
  CHECK(stored->command == "inspect");
  CHECK(stored->name == "nightly");
  CHECK(stored->status == "running");
  CHECK(looks_iso8601(stored->started_at));
  CHECK(stored->finished_at == std::nullopt);
  CHECK(stored->exit_code == std::nullopt);
  CHECK(stored->host == "web-1");
  CHECK(stored->user == "ops");
  CHECK(stored->pid == 4242);
  CHECK(stored->workspace == "/srv/defs");
  CHECK(stored->git_commit == "abc123");
  CHECK(stored->git_dirty == true);
  CHECK(stored->summary == std::nullopt);
}

TEST_CASE("state: runs start leaves absent context NULL and keeps a given start time") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  RunRepository runs(store);
  Run run;
  run.command = "plan";
  run.started_at = "2024-01-02T03:04:05.006Z";
  run.git_dirty = false;
  const auto stored = runs.get(runs.start(run));
  REQUIRE(stored.has_value());
  CHECK(stored->started_at == "2024-01-02T03:04:05.006Z");
  CHECK(stored->name.empty());
  CHECK(stored->host == std::nullopt);
  CHECK(stored->pid == std::nullopt);
  CHECK(stored->git_dirty == false);
  CHECK(runs.get(run.id + 1000) == std::nullopt);
}

TEST_CASE("state: runs finish records status / exit code / summary and end time") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  RunRepository runs(store);
  Run run;
  run.command = "inspect";
  const auto id = runs.start(run);
  runs.finish(id, "critical", 2, R"({"ok":3,"critical":1})");
  const auto stored = runs.get(id);
  REQUIRE(stored.has_value());
  CHECK(stored->status == "critical");
  CHECK(stored->exit_code == 2);
  CHECK(stored->summary == R"({"ok":3,"critical":1})");
  REQUIRE(stored->finished_at.has_value());
  CHECK(looks_iso8601(*stored->finished_at));
  CHECK(*stored->finished_at >= stored->started_at);

  SUBCASE("an empty summary is stored as none") {
    runs.finish(id, "ok", 0);
    CHECK(runs.get(id)->summary == std::nullopt);
    CHECK(runs.get(id)->status == "ok");
  }
}

TEST_CASE("state: runs finish refuses bad input and leaves the run alone") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  RunRepository runs(store);
  Run run;
  run.command = "inspect";
  const auto id = runs.start(run);

  SUBCASE("unknown id") {
    try {
      runs.finish(id + 1, "ok", 0);
      FAIL("finished a run that does not exist");
    } catch (const Error& e) {
      CHECK(e.code() == ExitCode::io);
      CHECK(std::string(e.what()) == "cannot finish run " + std::to_string(id + 1));
    }
  }
  SUBCASE("status that is not final") {
    CHECK_THROWS_AS(runs.finish(id, "running", 0), Error);
    CHECK_THROWS_AS(runs.finish(id, "great", 0), Error);
  }
  SUBCASE("summary that is not JSON") {
    CHECK_THROWS_AS(runs.finish(id, "ok", 0, "{not json"), has::state::SqliteError);
  }
  const auto stored = runs.get(id);
  REQUIRE(stored.has_value());
  CHECK(stored->status == "running");
  CHECK(stored->finished_at == std::nullopt);
}

TEST_CASE("state: runs list filters by command - newest first - up to a limit") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  RunRepository runs(store);
  const char* const starts[] = {"2024-01-01T00:00:00.000Z", "2024-01-03T00:00:00.000Z",
                                "2024-01-02T00:00:00.000Z", "2024-01-04T00:00:00.000Z"};
  const char* const commands[] = {"inspect", "inspect", "plan", "inspect"};
  for (int i = 0; i < 4; ++i) {
    Run run;
    run.command = commands[i];
    run.name = std::to_string(i);
    run.started_at = starts[i];
    runs.start(run);
  }
  auto names = [](const std::vector<Run>& list) {
    std::string out;
    for (const auto& run : list) {
      out += run.name;
    }
    return out;
  };
  CHECK(names(runs.list(std::nullopt, 0)) == "3120");
  CHECK(names(runs.list(std::nullopt, 2)) == "31");
  CHECK(names(runs.list("inspect", 10)) == "310");
  CHECK(names(runs.list("plan", -1)) == "2");
  CHECK(runs.list("drill", 10).empty());
  CHECK(runs.count() == 4);
}
