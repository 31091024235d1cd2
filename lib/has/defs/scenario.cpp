#include <has/defs/scenario.hpp>

#include <has/core/error.hpp>
#include <has/defs/rule.hpp>
#include <has/expr/expr.hpp>
#include <has/defs/tree.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace has::defs {

namespace {

ScenarioMatch parse_match(const FileContext& context, const yaml::Node& node) {
  ScenarioMatch out;
  MapReader reader(context, node, "match");
  if (!reader.valid()) {
    return out;
  }
  out.source = reader.string("source");
  for (const auto& severity : reader.string_list("severity")) {
    if (severity != "ok" && severity != "warning" && severity != "critical" && severity != "unknown") {
      context.error(reader.get("severity"),
                    fmt::format("severity '{}' is not one of ok, warning, critical, unknown", severity));
    }
    out.severities.push_back(severity);
  }
  if (auto labels = reader.get("labels"); labels.is_defined()) {
    if (!labels.is_map()) {
      context.error(labels, "field 'labels' must map label names to values");
    } else {
      for (const auto& item : labels) {
        if (!item.second.is_scalar()) {
          context.error(item.second, fmt::format("label '{}' must be a string", item.first.text()));
          continue;
        }
        out.labels[item.first.text()] = item.second.text();
      }
    }
  }
  out.title = reader.string("title");
  reader.finish();
  return out;
}

// Returns the first confirm step of plan or of a plan or Action it calls
// ("plan/step"), or an empty string.
std::string confirm_step(const Definitions& definitions, const Plan& plan, std::set<std::string>& seen) {
  if (!seen.insert(plan.header.kind + ":" + plan.header.name).second) {
    return {};
  }
  for (const auto& step : plan.steps) {
    if (step.action.kind == "confirm") {
      return plan.header.name + "/" + step.id;
    }
    if ((step.action.kind == "plan" || step.action.kind == "use") && step.action.fields.contains("name") &&
        step.action.fields["name"].is_string()) {
      const auto name = step.action.fields["name"].get<std::string>();
      const auto* called = step.action.kind == "plan" ? definitions.find_plan(name) : definitions.find_action(name);
      if (called != nullptr) {
        if (auto found = confirm_step(definitions, *called, seen); !found.empty()) {
          return found;
        }
      }
    }
  }
  return {};
}

} // namespace

const Scenario* Definitions::find_scenario(std::string_view name) const {
  for (const auto& scenario : scenarios) {
    if (scenario.header.name == name) {
      return &scenario;
    }
  }
  return nullptr;
}

Scenario parse_scenario(MapReader& reader, Header header) {
  const auto& context = reader.context();
  Scenario out;
  out.header = std::move(header);
  auto match = reader.get("match", Need::required);
  if (match.is_defined()) {
    out.match = parse_match(context, match);
  }
  if (auto tree = reader.string("tree")) {
    out.tree = *tree;
    out.tree_where = context.at(reader.get("tree"));
  }
  if (auto plans = reader.get("plans"); plans.is_defined()) {
    out.plans = parse_recommended_plans(context, plans);
  }
  out.impact = reader.string("impact").value_or("");
  if (!out.impact.empty()) {
    check_templates(context, out.impact, context.at(reader.get("impact")));
  }
  if (auto heal = reader.get("heal"); heal.is_defined()) {
    MapReader fields(context, heal, "heal");
    if (fields.valid()) {
      Heal h;
      h.where = context.at(heal);
      h.plan = fields.string("plan", Need::required).value_or("");
      h.on = fields.choice("mode", {"dry-run", "on"}).value_or("dry-run") == "on";
      fields.finish();
      out.heal = h;
    }
  }
  if (auto grade = reader.get("grade"); grade.is_defined()) {
    if (!grade.is_sequence()) {
      context.error(grade, "field 'grade' must be a list of {level, when}");
    } else {
      for (const auto& item : grade) {
        MapReader fields(context, item, "a grading rule");
        if (!fields.valid()) {
          continue;
        }
        GradeRule rule;
        rule.where = context.at(item);
        rule.level = fields.string("level", Need::required).value_or("");
        rule.when = fields.string("when").value_or("");
        if (!rule.when.empty()) {
          try {
            expr::check_syntax(rule.when, expr::Source{rule.where.file, rule.where.line, rule.where.column});
          } catch (const core::Error& e) {
            context.error(fields.get("when"), e.what());
          }
        }
        fields.finish();
        out.grade.push_back(std::move(rule));
      }
    }
  }
  if (reader.has("notify")) {
    out.notify_where = context.at(reader.get("notify"));
    out.notify = reader.string_list("notify");
  }
  reader.finish();
  return out;
}

void resolve_scenarios(Definitions& definitions, Diagnostics& diagnostics) {
  std::vector<std::string> trees;
  for (const auto& tree : definitions.trees) {
    trees.push_back(tree.header.name);
  }
  for (const auto& scenario : definitions.scenarios) {
    const auto who = fmt::format("scenario '{}'", scenario.header.name);
    const Tree* tree = nullptr;
    if (!scenario.tree.empty()) {
      tree = definitions.find_tree(scenario.tree);
      if (tree == nullptr) {
        diagnostics.error(scenario.tree_where,
                          fmt::format("{} names tree '{}', which is not a known tree{}", who, scenario.tree,
                                      did_you_mean(scenario.tree, trees)));
      }
    }
    check_recommended_plans(definitions, diagnostics, who, scenario.plans);
    const auto& notifiers = definitions.config.notifiers;
    for (const auto& name : scenario.notify) {
      if (std::none_of(notifiers.begin(), notifiers.end(), [&](const auto& n) { return n.name == name; })) {
        diagnostics.error(scenario.notify_where,
                          fmt::format("{} notifies '{}', which is not a notifier of has.yaml", who, name));
      }
    }
    if (!scenario.heal || scenario.heal->plan.empty()) {
      continue;
    }
    bool recommended = false;
    for (const auto& plan : scenario.plans) {
      recommended = recommended || plan.name == scenario.heal->plan;
    }
    if (tree != nullptr) {
      for (const auto& node : tree->nodes) {
        for (const auto& plan : node.diagnosis.plans) {
          recommended = recommended || plan.name == scenario.heal->plan;
        }
      }
    }
    if (const auto* plan = definitions.find_plan(scenario.heal->plan)) {
      std::set<std::string> seen;
      if (auto gate = confirm_step(definitions, *plan, seen); !gate.empty()) {
        diagnostics.error(scenario.heal->where,
                          fmt::format("{} heals with plan '{}', whose step {} asks for a confirmation nobody gives "
                                      "in a self-healing run",
                                      who, scenario.heal->plan, gate));
      }
    }
    if (!recommended) {
      diagnostics.error(scenario.heal->where,
                        fmt::format("{} heals with plan '{}', which neither the scenario's plans nor its tree "
                                    "recommend",
                                    who, scenario.heal->plan));
    }
  }
}

} // namespace has::defs
