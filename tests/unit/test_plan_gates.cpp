#include <has/plan/gates.hpp>

#include <doctest/doctest.h>

using has::action::Answer;
using has::plan::Gates;

TEST_CASE("plan gates: an earlier approval or --yes approve - a terminal answers - nobody leaves it pending") {
  auto ask_yes = [](const std::string&) { return Answer{Answer::Verdict::approved, "alice"}; };
  CHECK(has::plan::answer_gate(true, false, {}, "go?").verdict == Answer::Verdict::approved);
  CHECK(has::plan::answer_gate(false, true, {}, "go?").by == "--yes");
  CHECK(has::plan::answer_gate(false, false, ask_yes, "go?").by == "alice");
  CHECK(has::plan::answer_gate(false, false, {}, "go?").verdict == Answer::Verdict::pending);
}

TEST_CASE("plan gates: open gates close when approved - past their deadline - or when the run stops") {
  Gates gates;
  auto now = Gates::Clock::now();
  has::defs::Step step;
  step.id = "ok";
  gates.open({&step, {"a", std::nullopt}, false}, now + std::chrono::minutes(1));
  gates.open({&step, {"b", std::nullopt}, false}, now + std::chrono::seconds(1));
  gates.open({&step, {"c", std::nullopt}, false}, now + std::chrono::minutes(1));
  auto approved = [](const std::string& key) { return key == "a"; };
  auto closed = gates.check(approved, false, now + std::chrono::seconds(2));
  REQUIRE(closed.size() == 2);
  CHECK(closed[0].launch.unit.key == "a");
  CHECK(closed[0].approved);
  CHECK(closed[1].launch.unit.key == "b");
  CHECK(closed[1].message == "not approved in time");
  CHECK_FALSE(gates.empty());
  auto stopped = gates.check([](const std::string&) { return false; }, true, now);
  REQUIRE(stopped.size() == 1);
  CHECK(stopped[0].message == "not approved before the run stopped");
  CHECK(gates.empty());
}
