#include <has/inspect/prepare.hpp>

#include <has/core/error.hpp>
#include <has/core/redact.hpp>
#include <has/defs/env.hpp>
#include <has/inspect/expand.hpp>
#include <has/probe/probe.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <optional>
#include <string>

namespace has::inspect {

namespace {

// Returns why the probe cannot be built, or nullopt. Only a definition error
// counts: a missing program or engine is the machine's, not the workspace's.
std::optional<std::string> refusal(const probe::Spec& spec) {
  try {
    probe::make_task(spec);
  } catch (const core::Error& e) {
    if (e.code() != core::ExitCode::bad_definitions) {
      return std::nullopt;
    }
    std::string text = e.what();
    text += e.reason().empty() ? "" : ": " + e.reason();
    text += e.help().empty() ? "" : "; " + e.help();
    return core::redact(text);
  }
  return std::nullopt;
}

bool templated(const nlohmann::json& value) {
  if (value.is_string()) {
    return value.get_ref<const std::string&>().find("${{") != std::string::npos;
  }
  return value.is_structured() && std::any_of(value.begin(), value.end(), templated);
}

// Returns value with ${env:} resolved, as the probe will get it.
nlohmann::json resolve_env(const nlohmann::json& value) {
  if (value.is_string()) {
    return defs::resolve_env(value.get_ref<const std::string&>());
  }
  if (!value.is_structured()) {
    return value;
  }
  auto out = value;
  for (auto& item : out) {
    item = resolve_env(item);
  }
  return out;
}

// Checks one inline probe whose fields hold no ${{ }}.
void check_inline(std::string_view kind, const nlohmann::json& fields, const defs::Location& where,
                  std::string_view what, defs::Diagnostics& diagnostics) {
  if (templated(fields)) {
    return;
  }
  probe::Spec spec;
  spec.kind = kind;
  try {
    spec.fields = resolve_env(fields);
  } catch (const core::Error&) {
    return; // an unset variable: the probe fails when it runs, not the definition
  }
  if (auto why = refusal(spec)) {
    diagnostics.error(where, fmt::format("{}: {}", what, *why));
  }
}

void check_rules(const defs::Definitions& definitions, defs::Diagnostics& diagnostics) {
  // A probe without ${{ }} (and no template) is the same on every target:
  // built once, as it is written; only the others are instantiated, as
  // inspect run does, target by target.
  auto literal = [](const defs::Rule& rule) { return !rule.use && rule.probe && !templated(rule.probe->fields); };
  for (const auto& rule : definitions.rules) {
    if (rule.header.origin == defs::Origin::workspace && !rule.is_template() && literal(rule)) {
      check_inline(rule.probe->kind, rule.probe->fields, rule.header.where,
                   fmt::format("rule '{}'", rule.header.name), diagnostics);
    }
  }
  Selection templated_rules;
  templated_rules.accept = [&](const defs::Rule& rule) { return !literal(rule); };
  std::string refused; // the last rule with an error: checks come in rule order
  expand_each(definitions, templated_rules, [&](Check&& check) {
    if (check.error || check.rule == refused) {
      return;
    }
    if (auto why = refusal(check.spec)) {
      const auto* rule = definitions.find_rule(check.rule);
      diagnostics.error(rule->header.where, fmt::format("rule '{}': {}", check.rule, *why));
      refused = check.rule;
    }
  });
}

void check_trees(const defs::Definitions& definitions, defs::Diagnostics& diagnostics) {
  for (const auto& tree : definitions.trees) {
    for (const auto& node : tree.nodes) {
      auto what = fmt::format("node '{}' of tree '{}'", node.name, tree.header.name);
      if (node.kind == defs::NodeKind::probe && node.probe) {
        check_inline(node.probe->kind, node.probe->fields, node.probe->where, what, diagnostics);
      }
      for (const auto& [name, probe] : node.collect) {
        check_inline(probe.kind, probe.fields, probe.where, fmt::format("{} (collect {})", what, name), diagnostics);
      }
    }
  }
}

// A wait step's probe is not read at load time: its kind is checked here too.
void check_wait(const defs::StepAction& action, std::string_view what, defs::Diagnostics& diagnostics) {
  if (action.kind != "wait" || !action.fields.contains("probe")) {
    return;
  }
  const auto& probe = action.fields["probe"];
  if (!probe.is_object() || probe.size() != 1) {
    return; // the action says so when it runs
  }
  const auto& kind = probe.begin().key();
  auto kinds = probe::kinds();
  if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) {
    diagnostics.error(action.where, fmt::format("{}: unknown probe kind '{}'; the kinds are {}", what, kind,
                                                fmt::join(kinds, ", ")));
    return;
  }
  check_inline(kind, probe.begin().value(), action.where, what, diagnostics);
}

void check_waits(const std::vector<defs::Plan>& plans, defs::Diagnostics& diagnostics) {
  for (const auto& plan : plans) {
    for (const auto& step : plan.steps) {
      auto what = fmt::format("step '{}' of {} '{}'", step.id, plan.header.kind, plan.header.name);
      check_wait(step.action, what, diagnostics);
      if (step.rollback) {
        check_wait(*step.rollback, what + " (rollback)", diagnostics);
      }
    }
  }
}

} // namespace

void check_probes(const defs::Definitions& definitions, defs::Diagnostics& diagnostics) {
  check_rules(definitions, diagnostics);
  check_trees(definitions, diagnostics);
  check_waits(definitions.plans, diagnostics);
  check_waits(definitions.actions, diagnostics);
}

} // namespace has::inspect
