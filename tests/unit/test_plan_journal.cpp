#include <has/plan/journal.hpp>

#include <has/core/error.hpp>

#include <doctest/doctest.h>

using has::plan::decide_resume;
using has::state::StepRecord;

namespace {

has::defs::Step step(std::string id, bool idempotent = false, bool repeated = false) {
  has::defs::Step out;
  out.id = std::move(id);
  out.action.kind = "exec";
  out.idempotent = idempotent;
  if (repeated) {
    out.for_each_list = nlohmann::json::array({"w1", "w2"});
  }
  return out;
}

StepRecord row(std::string key, std::string state, bool idempotent = false) {
  return has::plan::make_record(7, std::move(key), "do", "exec", std::move(state), idempotent, 1);
}

} // namespace

TEST_CASE("plan journal: keys - items and bounded rows") {
  CHECK(has::plan::base_id("drain[web1]") == "drain");
  CHECK(has::plan::base_id("drain") == "drain");
  CHECK(has::plan::item_key(nlohmann::json("web1"), 3) == "web1");
  CHECK(has::plan::item_key(nlohmann::json(42), 3) == "42");
  CHECK(has::plan::item_key(nlohmann::json{{"name", "db"}}, 3) == "db");
  CHECK(has::plan::item_key(nlohmann::json{{"x", 1}}, 3) == "3");
  auto long_text = std::string(70 * 1024, 'x');
  auto cut = has::plan::bounded(nlohmann::json{{"stdout", long_text}});
  CHECK(cut["stdout"].get<std::string>().size() < long_text.size());
  CHECK(cut["stdout"].get<std::string>().find("more bytes]") != std::string::npos);
  CHECK(has::plan::step_values({{"stdout", "x"}}, "succeeded") == nlohmann::json{{"stdout", "x"}, {"status", "succeeded"}});
}

TEST_CASE("plan journal: resume keeps what finished - retries idempotent steps and stops at unknown ones") {
  has::defs::Plan plan;
  plan.header.name = "p";
  plan.steps = {step("done"), step("again", true), step("cut"), step("failed"), step("each", false, true)};
  std::vector<StepRecord> rows{row("done", "succeeded"),          row("again", "interrupted", true),
                               row("cut", "unknown"),             row("failed", "failed"),
                               row("each", "running"),            row("each[w1]", "succeeded"),
                               row("each[w2]", "running")};
  auto decision = decide_resume(plan, rows, {}, {});
  CHECK(decision.done == std::set<std::string>{"done", "each[w1]"});
  CHECK(decision.retried == std::vector<std::string>{"again"});
  CHECK(decision.unknown == std::vector<std::string>{"cut", "each[w2]"});

  auto decided = decide_resume(plan, rows, {"cut"}, {"each"});
  CHECK(decided.unknown.empty());
  CHECK(decided.retried == std::vector<std::string>{"again", "cut"});
  CHECK(decided.skipped == std::vector<std::string>{"each[w2]"});
  CHECK(decided.done.count("each[w2]") == 1);
}

TEST_CASE("plan journal: resume refuses a --retry of a step that was not cut short - and a changed plan") {
  has::defs::Plan plan;
  plan.header.name = "p";
  plan.steps = {step("a"), step("b")};
  std::vector<StepRecord> rows{row("a", "succeeded"), row("b", "unknown")};
  try {
    decide_resume(plan, rows, {"a"}, {});
    FAIL("a --retry of a finished step was taken");
  } catch (const has::core::Error& e) {
    CHECK(e.code() == has::core::ExitCode::usage);
    CHECK(std::string(e.what()).find("'a'") != std::string::npos);
  }
  rows.push_back(row("gone", "succeeded"));
  CHECK_THROWS_AS(decide_resume(plan, rows, {}, {}), has::core::Error);
}
