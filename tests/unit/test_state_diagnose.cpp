#include <has/state/diagnose.hpp>
#include <has/state/runs.hpp>
#include <has/state/sqlite.hpp>
#include <has/state/store.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>

using has::state::DiagnoseRepository;
using has::state::DiagnoseRun;
using has::state::Run;
using has::state::RunRepository;
using has::state::Store;

namespace {

std::int64_t start_run(Store& store, const std::string& tree) {
  Run run;
  run.command = "diagnose";
  run.name = tree;
  return RunRepository(store).start(run);
}

} // namespace

TEST_CASE("state: a diagnosis run is recorded and read back with its path") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  DiagnoseRepository repository(store);
  DiagnoseRun walk;
  walk.run_id = start_run(store, "web");
  walk.tree = "web";
  walk.outcome = "diagnosis";
  walk.node = "down";
  walk.severity = "critical";
  walk.cause = "the web server is down";
  walk.conclusion = R"({"cause": "the web server is down"})";
  walk.path = R"([{"node": "health", "next": "down"}])";
  repository.record(walk);
  auto read = repository.get(walk.run_id);
  REQUIRE(read);
  CHECK(read->tree == "web");
  CHECK(read->severity == "critical");
  CHECK(read->cause == "the web server is down");
  CHECK(read->path == walk.path);
  CHECK_FALSE(read->event_id);
  CHECK_FALSE(read->started_at.empty());
  CHECK_FALSE(repository.get(walk.run_id + 1));
}

TEST_CASE("state: diagnosis runs are listed newest first by tree and event") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  store.connection().exec("INSERT INTO events (id, fingerprint, source, title, severity, status, first_seen, last_seen) "
                          "VALUES (5, 'f', 'test', 't', 'critical', 'open', 'a', 'a')");
  DiagnoseRepository repository(store);
  for (const auto* tree : {"web", "db", "web"}) {
    DiagnoseRun walk;
    walk.run_id = start_run(store, tree);
    walk.tree = tree;
    walk.outcome = "inconclusive";
    walk.node = "start";
    walk.severity = "unknown";
    if (std::string(tree) == "db") {
      walk.event_id = 5;
    }
    repository.record(walk);
  }
  auto web = repository.list(std::string("web"), std::nullopt, 0);
  REQUIRE(web.size() == 2);
  CHECK(web[0].run_id > web[1].run_id);
  CHECK(repository.list(std::nullopt, std::nullopt, 0).size() == 3);
  CHECK(repository.list(std::nullopt, std::nullopt, 1).size() == 1);
  auto for_event = repository.list(std::nullopt, std::int64_t{5}, 0);
  REQUIRE(for_event.size() == 1);
  CHECK(for_event[0].tree == "db");
}

TEST_CASE("state: a diagnosis run with invalid JSON or an unknown outcome is refused") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  DiagnoseRepository repository(store);
  DiagnoseRun walk;
  walk.run_id = start_run(store, "web");
  walk.tree = "web";
  walk.outcome = "diagnosis";
  walk.node = "x";
  walk.severity = "ok";
  walk.path = "not json";
  CHECK_THROWS_AS(repository.record(walk), has::state::SqliteError);
  walk.path = "[]";
  walk.outcome = "maybe";
  CHECK_THROWS_AS(repository.record(walk), has::state::SqliteError);
}
