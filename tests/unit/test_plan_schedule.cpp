#include <has/plan/schedule.hpp>

#include <has/defs/plan.hpp>

#include <doctest/doctest.h>

#include <string>
#include <vector>

using has::plan::Launch;
using has::plan::Schedule;
using has::plan::Unit;

namespace {

has::defs::Step step(std::string id, std::vector<std::string> needs = {}) {
  has::defs::Step out;
  out.id = std::move(id);
  out.action.kind = "exec";
  out.needs = std::move(needs);
  return out;
}

has::defs::Step each(std::string id, int max_parallel, std::vector<std::string> needs = {}) {
  auto out = step(std::move(id), std::move(needs));
  out.for_each_list = nlohmann::json::array();
  out.max_parallel = max_parallel;
  return out;
}

// Activates every ready step with one unit (or the items given for it).
void activate_ready(Schedule& schedule, std::vector<std::string> items = {}) {
  for (const auto* ready : schedule.ready()) {
    std::vector<Unit> units;
    if (ready->repeated()) {
      for (const auto& item : items) {
        units.push_back({ready->id + "[" + item + "]", nlohmann::json(item)});
      }
    } else {
      units.push_back({ready->id, std::nullopt});
    }
    schedule.activate(*ready, std::move(units));
  }
}

std::vector<std::string> launch_all(Schedule& schedule, std::vector<Launch>& launched) {
  std::vector<std::string> keys;
  while (auto next = schedule.next()) {
    keys.push_back(next->unit.key);
    launched.push_back(*next);
  }
  return keys;
}

} // namespace

TEST_CASE("plan schedule: steps start when their needs are done - up to the plan's max_parallel") {
  has::defs::Plan plan;
  plan.max_parallel = 2;
  plan.steps = {step("a"), step("b"), step("c"), step("d", {"a", "b"})};
  Schedule schedule(plan, has::defs::topological_order(plan));
  activate_ready(schedule);
  std::vector<Launch> launched;
  CHECK(launch_all(schedule, launched) == std::vector<std::string>{"a", "b"});
  CHECK(schedule.running() == 2);
  CHECK_FALSE(schedule.alone());
  schedule.finished(*launched[0].step, launched[0].unit, true, {}, false);
  CHECK(launch_all(schedule, launched) == std::vector<std::string>{"c"}); // d still needs b
  schedule.finished(*launched[1].step, launched[1].unit, true, {}, false);
  schedule.finished(*launched[2].step, launched[2].unit, true, {}, false);
  activate_ready(schedule);
  CHECK(launch_all(schedule, launched) == std::vector<std::string>{"d"});
  CHECK(schedule.alone()); // the last step, nothing else to do: it may run on the scheduler's thread
  schedule.finished(*launched[3].step, launched[3].unit, true, {}, false);
  CHECK(schedule.running() == 0);
  CHECK_FALSE(schedule.more());
}

TEST_CASE("plan schedule: a step skipped by when still lets its dependants start") {
  has::defs::Plan plan;
  plan.steps = {step("a"), step("b", {"a"})};
  Schedule schedule(plan, has::defs::topological_order(plan));
  REQUIRE(schedule.ready().size() == 1);
  schedule.settle(plan.steps[0], true);
  REQUIRE(schedule.ready().size() == 1);
  CHECK(schedule.ready().front()->id == "b");
  CHECK(schedule.done(plan.steps[0]));
}

TEST_CASE("plan schedule: a for_each runs max_parallel items at once and stops past max_fail") {
  has::defs::Plan plan;
  plan.steps = {each("drain", 2)};
  Schedule schedule(plan, has::defs::topological_order(plan));
  REQUIRE(schedule.ready().size() == 1);
  std::vector<Unit> units;
  for (const auto* name : {"w1", "w2", "w3", "w4"}) {
    units.push_back({std::string("drain[") + name + "]", nlohmann::json(name)});
  }
  schedule.activate(plan.steps[0], units, 0);
  std::vector<Launch> launched;
  CHECK(launch_all(schedule, launched) == std::vector<std::string>{"drain[w1]", "drain[w2]"});
  // One item fails: beyond max_fail 0, nothing more starts, and the step
  // ends once its running item does.
  CHECK_FALSE(schedule.finished(plan.steps[0], launched[0].unit, false, {{"status", "failed"}}, false));
  CHECK(launch_all(schedule, launched).empty());
  auto tally = schedule.finished(plan.steps[0], launched[1].unit, true, {{"status", "succeeded"}}, false);
  REQUIRE(tally);
  CHECK(tally->failed == 1);
  CHECK(tally->succeeded == 1);
  CHECK(tally->not_started == 2);
  CHECK_FALSE(tally->ok());
  CHECK_FALSE(schedule.done(plan.steps[0]));
}

TEST_CASE("plan schedule: items a resumed run finished before are counted - not run") {
  has::defs::Plan plan;
  plan.steps = {each("drain", 4), step("after", {"drain"})};
  Schedule schedule(plan, has::defs::topological_order(plan));
  schedule.done_before({"drain[w1]"});
  std::vector<Unit> units{{"drain[w1]", nlohmann::json("w1")}, {"drain[w2]", nlohmann::json("w2")}};
  schedule.activate(plan.steps[0], units, 0);
  auto first = schedule.next();
  REQUIRE(first);
  CHECK(first->done_before);
  CHECK_FALSE(schedule.finished(plan.steps[0], first->unit, true, {}, false));
  auto second = schedule.next();
  REQUIRE(second);
  CHECK_FALSE(second->done_before);
  auto tally = schedule.finished(plan.steps[0], second->unit, true, {}, false);
  REQUIRE(tally);
  CHECK(tally->ok());
  REQUIRE(schedule.ready().size() == 1);
  CHECK(schedule.ready().front()->id == "after");
}

TEST_CASE("plan schedule: a step finished before a resume is done at once") {
  has::defs::Plan plan;
  plan.steps = {step("a"), step("b", {"a"})};
  Schedule schedule(plan, has::defs::topological_order(plan));
  schedule.done_before({"a"});
  REQUIRE(schedule.ready().size() == 1);
  CHECK(schedule.ready().front()->id == "b");
}

TEST_CASE("plan schedule: a for_each without items ends at once - succeeded") {
  has::defs::Plan plan;
  plan.steps = {each("drain", 2)};
  Schedule schedule(plan, has::defs::topological_order(plan));
  schedule.activate(plan.steps[0], {}, 0);
  auto tally = schedule.finish_empty(plan.steps[0]);
  CHECK(tally.ok());
  CHECK(tally.total == 0);
  CHECK(schedule.done(plan.steps[0]));
  CHECK_FALSE(schedule.more());
}
