#include <has/plan/undo.hpp>

#include <has/plan/journal.hpp>

#include <doctest/doctest.h>

namespace {

has::state::StepRecord row(std::string key, std::string phase, std::string state) {
  return has::plan::make_record(1, std::move(key), std::move(phase), "exec", std::move(state));
}

std::vector<std::string> keys(const std::vector<has::state::StepRecord>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) {
    out.push_back(r.step);
  }
  return out;
}

} // namespace

TEST_CASE("plan undo: completed steps with an undo - newest first - each once") {
  has::defs::Plan plan;
  auto with_rollback = [](std::string id) {
    has::defs::Step s;
    s.id = std::move(id);
    s.action.kind = "exec";
    s.rollback = has::defs::StepAction{"exec", {{"command", {"true"}}}, {}};
    return s;
  };
  has::defs::Step plain;
  plain.id = "look";
  plain.action.kind = "exec";
  has::defs::Step call;
  call.id = "child";
  call.action.kind = "plan";
  auto each = with_rollback("drain");
  each.for_each_list = nlohmann::json::array({"w1", "w2"});
  plan.steps = {with_rollback("first"), plain, call, each, with_rollback("failed"), with_rollback("undone")};
  std::vector<has::state::StepRecord> rows{
    row("first", "do", "succeeded"),    row("look", "do", "succeeded"),     row("child", "do", "succeeded"),
    row("drain", "do", "succeeded"),    row("drain[w1]", "do", "succeeded"), row("drain[w2]", "do", "succeeded"),
    row("failed", "do", "failed"),      row("undone", "do", "succeeded"),    row("undone", "undo", "succeeded")};
  // No undo for a step without one, a for_each's own row, a failed step or
  // one undone already; a called plan is undone by rolling its run back.
  CHECK(keys(has::plan::undo_order(plan, rows)) ==
        std::vector<std::string>{"drain[w2]", "drain[w1]", "child", "first"});
  CHECK(has::plan::undoable(plan, rows[2]));
  CHECK_FALSE(has::plan::undoable(plan, rows[1]));
  CHECK_FALSE(has::plan::undoable(plan, rows[3]));
}
