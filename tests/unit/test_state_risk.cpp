#include <has/state/plan.hpp>
#include <has/state/risk.hpp>
#include <has/state/runs.hpp>
#include <has/state/store.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <optional>
#include <string>

using has::state::last_plan_run_for_event;
using has::state::PlanRepository;
using has::state::PlanRun;
using has::state::Run;
using has::state::RunRepository;
using has::state::Store;

namespace {

// Records a plan run (its runs row first, as the plan engine does).
std::int64_t plan_run(Store& store, const std::string& plan, std::optional<std::int64_t> event_id,
                      std::optional<std::int64_t> parent_run = std::nullopt, const std::string& state = "succeeded") {
  Run run;
  run.command = "plan";
  run.name = plan;
  const auto id = RunRepository(store).start(run);
  PlanRun row;
  row.run_id = id;
  row.plan = plan;
  row.state = state;
  row.event_id = event_id;
  row.parent_run = parent_run;
  PlanRepository(store).create(row);
  return id;
}

} // namespace

TEST_CASE("state: risk last_plan_run_for_event is the newest top-level run of the plan for the event") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  CHECK(last_plan_run_for_event(store, 1, "restart-web") == std::nullopt);

  const auto first = plan_run(store, "restart-web", 1);
  CHECK(last_plan_run_for_event(store, 1, "restart-web") == first);

  // A refused run is recorded too and is the newest.
  const auto refused = plan_run(store, "restart-web", 1, std::nullopt, "aborted");
  // Neither another plan, another event, no event, nor a called run counts.
  plan_run(store, "drain", 1);
  plan_run(store, "restart-web", 2);
  plan_run(store, "restart-web", std::nullopt);
  plan_run(store, "restart-web", 1, first);
  CHECK(last_plan_run_for_event(store, 1, "restart-web") == refused);
  CHECK(last_plan_run_for_event(store, 3, "restart-web") == std::nullopt);
}
