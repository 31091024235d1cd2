// --dry-run: every step resolved with the parameters, exactly as it would
// run, without running or writing anything.

#include <has/plan/engine.hpp>

#include <has/action/action.hpp>
#include <has/core/error.hpp>
#include <has/core/redact.hpp>
#include <has/defs/plan.hpp>
#include <has/defs/template.hpp>
#include <has/plan/journal.hpp>
#include <has/plan/params.hpp>
#include <has/plan/schedule.hpp>

#include <fmt/format.h>

namespace has::plan {

namespace {

using core::Error;

// Values only a run produces, as <steps.X.stdout>.
nlohmann::json placeholder_steps(const defs::Plan& plan) {
  auto steps = nlohmann::json::object();
  for (const auto& step : plan.steps) {
    auto name = [&](std::string_view field) { return fmt::format("<steps.{}.{}>", step.id, field); };
    steps[step.id] = {{"status", "succeeded"}, {"stdout", name("stdout")}, {"stderr", name("stderr")},
                      {"exit_code", 0},         {"body", name("body")},     {"run_id", 0},
                      {"items", nlohmann::json::array()}};
  }
  return steps;
}

std::string later(const Error& e) {
  return fmt::format("(resolved when it runs: {})", e.reason().empty() ? e.what() : e.reason());
}

// Returns the line for one action, or what keeps it from being known.
std::string describe(expr::Engine& engine, const defs::StepAction& action, const nlohmann::json& values,
                     std::chrono::milliseconds timeout, const action::Context& context, action::Spec* resolved) {
  const auto* kind = action::find_kind(action.kind);
  if (kind == nullptr) {
    throw Error(core::ExitCode::unavailable, fmt::format("action kind '{}' is not available in this build",
                                                         action.kind));
  }
  action::Spec spec{action.kind, defs::resolve_template(engine, action.fields, values, action.where), timeout};
  auto text = core::redact(kind->describe(spec, context));
  if (resolved != nullptr) {
    *resolved = std::move(spec);
  }
  return text;
}

std::vector<DryStep> dry_steps(const defs::Definitions& definitions, const defs::Plan& plan,
                               const nlohmann::json& params, int depth) {
  std::vector<DryStep> out;
  expr::Engine engine;
  nlohmann::json values{{"params", params}, {"steps", placeholder_steps(plan)}, {"run", {{"id", 0}}},
                        {"plan", {{"name", plan.header.name}}}, {"event", nullptr}};
  action::Context context;
  context.definitions = &definitions;
  // A placeholder ssh accepts as a control socket directory (no white space).
  context.runtime_dir = "<state-dir>/run";
  context.plan = plan.header.name;
  for (const auto* step : defs::topological_order(plan)) {
    DryStep dry;
    dry.id = step->id;
    dry.kind = step->action.kind;
    dry.needs = step->needs;
    const auto* kind = action::find_kind(step->action.kind);
    bool call = kind != nullptr && kind->flow == action::Flow::call;
    if (step->when) {
      try {
        dry.when = fmt::format("{} (now {})", step->when->text,
                               engine.condition(step->when->text, values) ? "true" : "false");
      } catch (const Error&) {
        dry.when = step->when->text + " (decided when it runs)";
      }
    }
    std::vector<std::optional<nlohmann::json>> items{std::nullopt};
    if (step->repeated()) {
      items.clear();
      try {
        auto list = for_each_items(definitions, engine, *step, values);
        dry.for_each = fmt::format("{} item{}, {} at a time", list.size(), list.size() == 1 ? "" : "s",
                                   step->max_parallel);
        for (const auto& item : list) {
          items.emplace_back(item);
        }
      } catch (const Error& e) {
        dry.for_each = later(e);
      }
    }
    for (const auto& item : items) {
      auto local = values;
      if (item) {
        local["item"] = *item;
      }
      auto prefix = item ? fmt::format("[{}] ", item_key(*item, 0)) : std::string();
      auto timeout = step->timeout.value_or(kind != nullptr ? kind->default_timeout : std::chrono::minutes(10));
      try {
        action::Spec spec;
        dry.detail.push_back(prefix + describe(engine, step->action, local, timeout, context, &spec));
        if (call && depth < 3 && dry.called.empty()) {
          if (auto callee = kind->callee(spec, definitions); callee.plan != nullptr) {
            dry.called = dry_steps(definitions, *callee.plan, params_from_json(*callee.plan, callee.given), depth + 1);
          }
        }
      } catch (const Error& e) {
        dry.detail.push_back(prefix + later(e));
      }
      if (step->rollback) {
        try {
          dry.rollback.push_back(prefix + describe(engine, *step->rollback, local, timeout, context, nullptr));
        } catch (const Error& e) {
          dry.rollback.push_back(prefix + later(e));
        }
      } else if (call) {
        dry.rollback.push_back(prefix + "roll back the steps it ran");
      }
    }
    out.push_back(std::move(dry));
  }
  return out;
}

} // namespace

std::vector<DryStep> dry_run(const defs::Definitions& definitions, const defs::Plan& plan,
                             const nlohmann::json& params) {
  return dry_steps(definitions, plan, params, 0);
}

} // namespace has::plan
