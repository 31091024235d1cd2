#include <has/plan/undo.hpp>

#include <has/action/action.hpp>
#include <has/core/error.hpp>
#include <has/core/interrupt.hpp>
#include <has/core/redact.hpp>
#include <has/defs/template.hpp>
#include <has/plan/journal.hpp>
#include <has/plan/runner.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <set>

namespace has::plan {

using core::Error;
using core::ExitCode;
using SteadyClock = std::chrono::steady_clock;

bool undoable(const defs::Plan& plan, const state::StepRecord& row) {
  if (row.phase != "do" || row.state != "succeeded") {
    return false;
  }
  const auto* step = plan.find_step(base_id(row.step));
  if (step == nullptr || (step->repeated() && row.step == step->id)) {
    return false;
  }
  const auto* kind = action::find_kind(step->action.kind);
  return step->rollback.has_value() || (kind != nullptr && kind->flow == action::Flow::call);
}

std::vector<state::StepRecord> undo_order(const defs::Plan& plan, const std::vector<state::StepRecord>& rows) {
  std::set<std::string> undone;
  for (const auto& row : rows) {
    if (row.phase == "undo" && row.state == "succeeded") {
      undone.insert(row.step);
    }
  }
  std::vector<state::StepRecord> out;
  for (auto it = rows.rbegin(); it != rows.rend(); ++it) {
    if (undone.count(it->step) == 0 && undoable(plan, *it)) {
      out.push_back(*it);
    }
  }
  return out;
}

// Carrying the undos out, with the runner's journal and kinds.

bool Runner::undo_all() {
  m_journal.set_state(m_run_id, "rolling_back");
  auto todo = undo_order(m_plan, m_journal.steps(m_run_id));
  expr::Engine engine;
  for (std::size_t i = 0; i < todo.size(); ++i) {
    if (!undo_one(engine, todo[i])) {
      for (std::size_t j = i; j < todo.size(); ++j) {
        m_left_undone.push_back(todo[j].step);
      }
      return false;
    }
  }
  return true;
}

// Undoes one journal row: the step's rollback action, or for a call the
// rollback of the run it made. Journals the undo before it starts.
bool Runner::undo_one(expr::Engine& engine, const state::StepRecord& row) {
  const auto* step = m_plan.find_step(base_id(row.step));
  auto outputs = row.outputs ? nlohmann::json::parse(*row.outputs, nullptr, false) : nlohmann::json::object();
  if (outputs.is_discarded()) {
    outputs = nlohmann::json::object();
  }
  auto local = m_values;
  if (outputs.contains("item")) {
    local["item"] = outputs["item"];
  }
  local["self"] = outputs;
  std::string kind_name = step->rollback ? step->rollback->kind : "rollback";
  auto record = make_record(m_run_id, row.step, "undo", kind_name, "running", false, 1);
  action::Outcome outcome;
  const auto started = SteadyClock::now();
  bool journaled = false;
  auto begin = [&](const std::string& detail) {
    record.detail = core::redact(detail);
    m_journal.step_started(record);
    journaled = true;
    emit({Event::Type::undo_started, 0, 0, row.step, kind_name, "running", {}, detail, 1, 0});
  };
  try {
    if (step->rollback) {
      const auto& kind = kind_of(step->rollback->kind);
      auto context = context_for(*step, row.step + ":undo");
      context.cancelled = [] { return core::interrupt_requested(); };
      context.values = local;
      action::Spec spec;
      spec.kind = kind_name;
      spec.fields = defs::resolve_template(engine, step->rollback->fields, local, step->rollback->where);
      spec.timeout = step->timeout.value_or(kind.default_timeout);
      spec.kill_grace = step->kill_grace.value_or(k_default_kill_grace);
      begin(kind.describe(spec, context));
      outcome = kind.run(spec, context);
      if (outcome.pending) {
        outcome.ok = false;
        outcome.message = "not approved";
      }
    } else {
      // A called plan or Action: undo its own completed steps.
      auto child_id = outputs.value("run_id", std::int64_t{0});
      begin(fmt::format("roll back run {}", child_id));
      auto child_run = m_journal.get(child_id);
      const auto& kind = kind_of(step->action.kind);
      const defs::Plan* callee = nullptr;
      if (child_run && kind.callee != nullptr) {
        action::Spec named;
        named.kind = step->action.kind;
        named.fields = {{"name", child_run->plan}};
        callee = kind.callee(named, m_definitions).plan;
      }
      if (callee == nullptr || !child_run) {
        throw Error(ExitCode::failure, fmt::format("cannot find run {} of '{}' to roll back", child_id,
                                                   child_run ? child_run->plan : std::string("?")));
      }
      auto params = nlohmann::json::parse(child_run->params, nullptr, false);
      Runner child(m_definitions, m_store, m_state_file, *callee,
                   params.is_discarded() ? nlohmann::json::object() : params, m_options, m_depth + 1,
                   [] { return core::interrupt_requested(); });
      child.attach(child_id, *child_run);
      bool ok = child.undo_all();
      auto report = child.finish(ok ? "rolled_back" : "rollback_failed",
                                 ok ? "" : fmt::format("left undone: {}", fmt::join(child.m_left_undone, ", ")));
      outcome.ok = ok;
      outcome.message = fmt::format("run {} {}", child_id, report.state);
    }
  } catch (const Error& e) {
    outcome.ok = false;
    outcome.message = error_text(e);
    if (!journaled) {
      m_journal.step_started(record);
    }
  }
  record.state = outcome.ok ? "succeeded" : "failed";
  record.exit_code = outcome.exit_code;
  record.message = core::redact(outcome.message);
  record.outputs = journal_json(outcome.outputs);
  m_journal.step_finished(record);
  emit({Event::Type::undo_finished, 0, 0, row.step, kind_name, record.state, outcome.message, {}, 1,
        std::chrono::duration<double, std::milli>(SteadyClock::now() - started).count()});
  return outcome.ok;
}

} // namespace has::plan
