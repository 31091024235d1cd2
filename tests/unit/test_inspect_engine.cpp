#include <has/core/workspace.hpp>
#include <has/defs/loader.hpp>
#include <has/inspect/engine.hpp>
#include <has/state/inspect.hpp>
#include <has/state/runs.hpp>
#include <has/state/store.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <stdexcept>

namespace {

has::defs::Definitions two_rules(const has::test::TempDir& dir) {
  dir.write("has.yaml", "state: .has/state.db\n");
  dir.write("rules.yaml", R"(kind: Rule
name: up
probe: {exec: {command: ["true"]}}
---
kind: Rule
name: down
probe: {exec: {command: [sh, -c, "exit 2"]}}
)");
  has::defs::Diagnostics diagnostics;
  auto definitions =
    has::defs::load(has::core::Workspace{dir.path(), dir.path() / "has.yaml"}, {}, diagnostics);
  REQUIRE_FALSE(diagnostics.has_errors());
  return definitions;
}

std::size_t recorded(has::state::Store& store, std::int64_t run_id) {
  has::state::InspectRepository results(store);
  return results.results_of_run(run_id).size();
}

} // namespace

TEST_CASE("inspect: on_final sees each check once - final and already stored") {
  has::test::TempDir dir;
  auto definitions = two_rules(dir);
  auto store = has::state::Store::open(dir.path() / "state.db");
  has::inspect::RunOptions options;
  std::vector<std::string> seen(2);
  std::int64_t run_id = 0;
  options.on_final = [&](std::size_t index, const has::inspect::Outcome& outcome) {
    REQUIRE(index < seen.size());
    CHECK(seen[index].empty());
    seen[index] = outcome.rule + ":" + std::string(has::probe::status_name(outcome.effective)) +
                  (outcome.event_id ? ":event" : "");
    // Its row is written before it is handed on.
    has::state::RunRepository runs(store);
    auto latest = runs.list(std::string("inspect"), 1);
    REQUIRE(latest.size() == 1);
    run_id = latest.front().id;
    CHECK(latest.front().status == "running");
    auto rows = has::state::InspectRepository(store).results_of_run(run_id);
    CHECK(std::any_of(rows.begin(), rows.end(), [&](const auto& row) { return row.rule == outcome.rule; }));
  };
  auto report = has::inspect::run(definitions, store, options);
  CHECK(seen == std::vector<std::string>{"up:ok", "down:critical:event"});
  CHECK(report.run_id == run_id);
  CHECK(report.worst == has::probe::Status::critical);
  CHECK(recorded(store, report.run_id) == 2);
}

TEST_CASE("inspect: an error of on_final is thrown by run once the results are stored") {
  has::test::TempDir dir;
  auto definitions = two_rules(dir);
  auto store = has::state::Store::open(dir.path() / "state.db");
  has::inspect::RunOptions options;
  int calls = 0;
  options.on_final = [&](std::size_t, const has::inspect::Outcome&) {
    ++calls;
    throw std::runtime_error("cannot render");
  };
  CHECK_THROWS_WITH(has::inspect::run(definitions, store, options), "cannot render");
  CHECK(calls == 1);
  // The run and its results were stored all the same, and the run finished.
  has::inspect::RunOptions plain;
  auto next = has::inspect::run(definitions, store, plain);
  CHECK(recorded(store, next.run_id - 1) == 2);
  CHECK(recorded(store, next.run_id) == 2);
  auto first = has::state::RunRepository(store).get(next.run_id - 1);
  REQUIRE(first);
  CHECK(first->status == "critical");
}
