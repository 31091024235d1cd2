#include <has/core/workspace.hpp>
#include <has/defs/loader.hpp>
#include <has/inspect/engine.hpp>
#include <has/state/inspect.hpp>
#include <has/state/store.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>

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

TEST_CASE("inspect: on_outcomes sees the final report once - while its results are stored") {
  has::test::TempDir dir;
  auto definitions = two_rules(dir);
  auto store = has::state::Store::open(dir.path() / "state.db");
  has::inspect::RunOptions options;
  int calls = 0;
  std::vector<std::string> seen;
  options.on_outcomes = [&](const has::inspect::RunReport& report) {
    ++calls;
    CHECK(report.run_id > 0);
    CHECK(report.worst == has::probe::Status::critical);
    for (const auto& outcome : report.outcomes) {
      seen.push_back(outcome.rule + ":" + std::string(has::probe::status_name(outcome.effective)) +
                     (outcome.event_id ? ":event" : ""));
    }
  };
  auto report = has::inspect::run(definitions, store, options);
  CHECK(calls == 1);
  CHECK(seen == std::vector<std::string>{"up:ok", "down:critical:event"});
  CHECK(recorded(store, report.run_id) == 2);
}

TEST_CASE("inspect: an error of on_outcomes is thrown by run once the results are stored") {
  has::test::TempDir dir;
  auto definitions = two_rules(dir);
  auto store = has::state::Store::open(dir.path() / "state.db");
  has::inspect::RunOptions options;
  options.on_outcomes = [](const has::inspect::RunReport&) { throw std::runtime_error("cannot render"); };
  CHECK_THROWS_WITH(has::inspect::run(definitions, store, options), "cannot render");
  // The run and its results were stored all the same.
  has::inspect::RunOptions plain;
  auto next = has::inspect::run(definitions, store, plain);
  CHECK(recorded(store, next.run_id - 1) == 2);
  CHECK(recorded(store, next.run_id) == 2);
}
