#include <has/inspect/hysteresis.hpp>

#include <doctest/doctest.h>

using has::inspect::apply;
using has::inspect::Transition;
using has::probe::Status;

TEST_CASE("inspect: fail_after holds a rule ok until enough failures in a row") {
  has::state::RuleState state;
  CHECK(apply(state, Status::critical, 3, 1, "t1") == Transition::none);
  CHECK(state.effective == "ok");
  CHECK(apply(state, Status::critical, 3, 1, "t2") == Transition::none);
  CHECK(apply(state, Status::critical, 3, 1, "t3") == Transition::failing);
  CHECK(state.effective == "critical");
  CHECK(state.changed_at == "t3");
  CHECK(apply(state, Status::critical, 3, 1, "t4") == Transition::none);
}

TEST_CASE("inspect: a pass in between resets the failure streak") {
  has::state::RuleState state;
  apply(state, Status::critical, 2, 1, "t1");
  apply(state, Status::ok, 2, 1, "t2");
  CHECK(apply(state, Status::critical, 2, 1, "t3") == Transition::none);
  CHECK(state.effective == "ok");
  CHECK(apply(state, Status::critical, 2, 1, "t4") == Transition::failing);
}

TEST_CASE("inspect: recover_after needs enough passes in a row") {
  has::state::RuleState state;
  apply(state, Status::warning, 1, 2, "t1");
  CHECK(state.effective == "warning");
  CHECK(apply(state, Status::ok, 1, 2, "t2") == Transition::none);
  CHECK(state.effective == "warning");
  CHECK(apply(state, Status::ok, 1, 2, "t3") == Transition::recovered);
  CHECK(state.effective == "ok");
}

TEST_CASE("inspect: a failing rule follows the severity of its latest failure") {
  has::state::RuleState state;
  apply(state, Status::warning, 1, 1, "t1");
  CHECK(apply(state, Status::critical, 1, 1, "t2") == Transition::changed_severity);
  CHECK(state.effective == "critical");
}

TEST_CASE("inspect: flapping starts at half the window changing and stops at a quarter") {
  has::state::RuleState state;
  for (int i = 0; i < 6; ++i) {
    apply(state, i % 2 == 0 ? Status::critical : Status::ok, 1, 1, "t");
  }
  CHECK(state.flapping);
  // Steady passes bring the share of changes down until the flag clears.
  int steady = 0;
  while (state.flapping && steady < 40) {
    apply(state, Status::ok, 1, 1, "t");
    ++steady;
  }
  CHECK_FALSE(state.flapping);
  CHECK(steady > 1);
  CHECK(state.history.size() <= has::inspect::k_flap_window);
}

TEST_CASE("inspect: a steady rule never flaps") {
  has::state::RuleState state;
  for (int i = 0; i < 30; ++i) {
    apply(state, Status::critical, 1, 1, "t");
  }
  CHECK_FALSE(state.flapping);
  CHECK(state.fail_streak == 30);
}
