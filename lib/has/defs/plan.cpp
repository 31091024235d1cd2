#include <has/defs/plan.hpp>

#include <has/core/error.hpp>
#include <has/defs/action_schema.hpp>
#include <has/defs/protection.hpp>
#include <has/defs/rule.hpp>
#include <has/defs/units.hpp>
#include <has/expr/expr.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>
#include <regex>
#include <set>

namespace has::defs {

namespace {

const std::regex& step_id_pattern() {
  static const std::regex pattern("^[A-Za-z][A-Za-z0-9_-]{0,63}$");
  return pattern;
}

std::optional<ParamType> parse_param_type(std::string_view text) {
  static const std::map<std::string_view, ParamType> names{
    {"string", ParamType::string}, {"int", ParamType::integer},   {"integer", ParamType::integer},
    {"number", ParamType::number}, {"bool", ParamType::boolean},  {"boolean", ParamType::boolean},
    {"list", ParamType::list},     {"object", ParamType::object},
  };
  auto it = names.find(text);
  return it == names.end() ? std::nullopt : std::optional(it->second);
}

std::vector<PlanParam> parse_plan_params(const FileContext& context, const yaml::Node& node) {
  std::vector<PlanParam> out;
  if (!node.is_defined() || node.is_null()) {
    return out;
  }
  if (!node.is_map()) {
    context.error(node, "params must map parameter names to {type, default, required, allowed, "
                        "secret, description}");
    return out;
  }
  for (const auto& item : node) {
    PlanParam param;
    param.name = item.first.text();
    param.where = context.at(item.first);
    if (!std::regex_match(param.name, step_id_pattern())) {
      context.error(item.first, fmt::format("invalid parameter name '{}': use letters, digits, '_' "
                                            "and '-', starting with a letter", param.name));
    }
    if (item.second.is_null()) {
      param.required = true;
      out.push_back(std::move(param));
      continue;
    }
    MapReader reader(context, item.second, fmt::format("parameter '{}'", param.name));
    param.description = reader.string("description").value_or("");
    if (auto type = reader.get("type"); type.is_defined()) {
      auto text = scalar(context, type, "field 'type'");
      auto parsed = text ? parse_param_type(*text) : std::nullopt;
      if (text && !parsed) {
        context.error(type, fmt::format("unknown parameter type '{}' (types: string, int, number, "
                                        "bool, list, object)", *text));
      }
      param.type = parsed.value_or(ParamType::string);
    }
    if (auto value = reader.get("default"); value.is_defined()) {
      param.default_value = to_json(value);
      // A string parameter's default may be written unquoted (80, true).
      const auto& given = *param.default_value;
      if (!param_fits(param.type, given) &&
          !(param.type == ParamType::string && given.is_primitive() && !given.is_null())) {
        context.error(value, fmt::format("default of parameter '{}' is not a {}", param.name,
                                         param_type_name(param.type)));
      }
    }
    if (auto allowed = reader.get("allowed"); allowed.is_defined()) {
      if (!allowed.is_sequence()) {
        context.error(allowed, "field 'allowed' must be a list of values");
      } else {
        for (const auto& value : allowed) {
          param.allowed.push_back(to_json(value));
        }
      }
    }
    param.secret = reader.boolean("secret").value_or(false);
    param.required = reader.boolean("required").value_or(!param.default_value.has_value());
    reader.finish();
    if (param.default_value && !param.allowed.empty() &&
        std::find(param.allowed.begin(), param.allowed.end(), *param.default_value) == param.allowed.end()) {
      context.error(param.where, fmt::format("default of parameter '{}' is not one of its allowed "
                                             "values", param.name));
    }
    out.push_back(std::move(param));
  }
  return out;
}

// Names of the action keys a step may carry.
std::vector<std::string> action_keys() {
  std::vector<std::string> keys;
  for (const auto& schema : action_schemas()) {
    keys.emplace_back(schema.kind);
  }
  keys.emplace_back("use");
  return keys;
}

bool has_template(const nlohmann::json& value) {
  return value.is_string() && value.get_ref<const std::string&>().find("${{") != std::string::npos;
}

// Reads the action of a step (or of its rollback) from reader: exactly one
// action key, its fields checked against the kind's schema.
std::optional<StepAction> parse_action(MapReader& reader, std::string_view what) {
  const auto& context = reader.context();
  std::vector<std::string> found;
  for (const auto& key : action_keys()) {
    if (reader.has(key)) {
      found.push_back(key);
    }
  }
  if (found.size() != 1) {
    std::string list;
    for (const auto& key : action_keys()) {
      list += list.empty() ? "" : ", ";
      list += key;
    }
    context.error(reader.node(), found.empty()
                                   ? fmt::format("{} needs an action: one of {}", what, list)
                                   : fmt::format("{} has more than one action ({}, {}): give exactly one",
                                                 what, found[0], found[1]));
    for (const auto& key : found) {
      reader.get(key);
    }
    reader.allow({"with"});
    return std::nullopt;
  }
  StepAction action;
  action.kind = found.front();
  auto node = reader.get(action.kind);
  action.where = context.at(node);
  if (action.kind == "use") {
    auto name = scalar(context, node, "field 'use'");
    action.fields = {{"name", name.value_or("")}, {"with", nlohmann::json::object()}};
    if (auto with = reader.get("with"); with.is_defined()) {
      if (!with.is_map()) {
        context.error(with, "field 'with' must map parameter names to values");
      } else {
        action.fields["with"] = to_json(with);
        check_templates(context, action.fields["with"], context.at(with));
      }
    }
    return action;
  }
  if (reader.has("with")) {
    context.error(reader.get("with"), "field 'with' belongs to 'use:'; a plan step takes 'params' "
                                      "inside 'plan:'");
  }
  const auto* schema = find_action_schema(action.kind);
  if (node.is_null() && schema->required.empty()) {
    return action; // e.g. `confirm:` with no fields
  }
  MapReader fields(context, node, fmt::format("{} action", action.kind));
  if (!fields.valid()) {
    return std::nullopt;
  }
  for (auto key : schema->required) {
    fields.get(key, Need::required);
  }
  for (auto key : schema->optional) {
    fields.get(key);
  }
  fields.finish();
  action.fields = to_json(node);
  check_templates(context, action.fields, action.where);
  // A shell script never gets values spliced in: they go through env.
  for (auto key : {"shell", "script"}) {
    if (action.fields.contains(key) && has_template(action.fields[key])) {
      context.error(fields.get(key),
                    fmt::format("'{}' may not hold ${{{{ }}}}: a value spliced into a shell script "
                                "could run as code; pass it in 'env:' and use \"$NAME\"", key));
    }
  }
  if ((action.kind == "exec" || action.kind == "ssh")) {
    auto script = action.kind == "exec" ? "shell" : "script";
    bool has_command = action.fields.contains("command");
    bool has_script = action.fields.contains(script);
    if (has_command == has_script) {
      context.error(node, fmt::format("{} action needs exactly one of 'command' (an argv list) or "
                                      "'{}' (a script)", action.kind, script));
    } else if (has_command && !action.fields["command"].is_array() && !has_template(action.fields["command"])) {
      context.error(fields.get("command"), "'command' must be a list of arguments, e.g. [systemctl, "
                                           "restart, nginx]; for a shell script use '" +
                                             std::string(script) + "'");
    }
  }
  if (action.kind == "systemd" && action.fields.contains("action") && !has_template(action.fields["action"])) {
    static const std::set<std::string> verbs{"start", "stop", "restart", "reload", "is-active"};
    auto verb = action.fields["action"].is_string() ? action.fields["action"].get<std::string>() : "";
    if (verbs.count(verb) == 0) {
      context.error(fields.get("action"), "systemd action must be start, stop, restart, reload or is-active");
    }
  }
  if (action.kind == "wait") {
    int sources = action.fields.contains("rule") + action.fields.contains("probe") +
                  action.fields.contains("condition");
    if (sources != 1) {
      context.error(node, "wait action needs exactly one of 'rule', 'probe' or 'condition'");
    }
    if (action.fields.contains("condition") && action.fields["condition"].is_string()) {
      try {
        expr::check_syntax(action.fields["condition"].get<std::string>(), expr::Source{});
      } catch (const core::Error& e) {
        context.error(fields.get("condition"), e.what());
      }
    }
  }
  for (auto key : {"args", "options"}) {
    if (action.fields.contains(key) && !action.fields[key].is_array() && !has_template(action.fields[key])) {
      context.error(fields.get(key), fmt::format("'{}' must be a list of arguments", key));
    }
  }
  return action;
}

std::vector<Expression> parse_expressions(const FileContext& context, const yaml::Node& node,
                                          std::string_view what) {
  std::vector<Expression> out;
  if (!node.is_defined() || node.is_null()) {
    return out;
  }
  auto add = [&](const yaml::Node& item) {
    if (auto text = scalar(context, item, what)) {
      Expression expression{*text, context.at(item)};
      try {
        expr::check_syntax(expression.text, expr::Source{});
      } catch (const core::Error& e) {
        context.error(item, e.what());
      }
      out.push_back(std::move(expression));
    }
  };
  if (node.is_sequence()) {
    for (const auto& item : node) {
      add(item);
    }
  } else {
    add(node);
  }
  return out;
}

std::optional<OnFailure> parse_on_failure(MapReader& reader) {
  auto text = reader.choice("on_failure", {"abort", "continue", "rollback"});
  if (!text) {
    return std::nullopt;
  }
  return *text == "abort" ? OnFailure::abort : *text == "continue" ? OnFailure::continue_on : OnFailure::rollback;
}

MaxFail parse_max_fail(std::string_view text) {
  MaxFail out;
  if (!text.empty() && text.back() == '%') {
    out.percent = true;
    out.value = parse_percent(text);
    return out;
  }
  try {
    std::size_t used = 0;
    std::string copy(text);
    long value = std::stol(copy, &used);
    if (used == copy.size() && value >= 0) {
      out.value = static_cast<double>(value);
      return out;
    }
  } catch (const std::exception&) {
  }
  throw core::Error(core::ExitCode::bad_definitions,
                    fmt::format("'{}' is not a count or a percentage (e.g. 1 or 25%)", text));
}

Step parse_step(const FileContext& context, const yaml::Node& node, std::size_t index) {
  Step step;
  step.where = context.at(node);
  MapReader reader(context, node, "a step");
  if (!reader.valid()) {
    return step;
  }
  step.id = reader.string("id").value_or(fmt::format("step-{}", index + 1));
  if (reader.has("id") && !std::regex_match(step.id, step_id_pattern())) {
    context.error(reader.get("id"), fmt::format("invalid step id '{}': use letters, digits, '_' and '-', "
                                                "starting with a letter", step.id));
  }
  step.description = reader.string("description").value_or("");
  step.needs = reader.string_list("needs");
  if (auto when = parse_expressions(context, reader.get("when"), "field 'when'"); !when.empty()) {
    step.when = when.front();
  }
  if (auto each = reader.get("for_each"); each.is_defined()) {
    if (each.is_sequence()) {
      step.for_each_list = to_json(each);
      check_templates(context, *step.for_each_list, context.at(each));
    } else if (each.is_map()) {
      MapReader selector(context, each, "for_each");
      TargetSelector hosts;
      hosts.where = context.at(each);
      hosts.labels = selector.string_map("hosts", Need::required);
      selector.finish();
      step.for_each_hosts = hosts;
    } else if (auto text = scalar(context, each, "field 'for_each'")) {
      // `${{ params.hosts }}` or a bare expression.
      std::string expression = *text;
      try {
        auto inner = expr::template_expressions(expression, expr::Source{});
        if (inner.size() == 1) {
          expression = inner.front();
        }
        expr::check_syntax(expression, expr::Source{});
      } catch (const core::Error& e) {
        context.error(each, e.what());
      }
      step.for_each = Expression{expression, context.at(each)};
    }
  }
  step.max_parallel = static_cast<int>(reader.integer("max_parallel", 1, 10000).value_or(1));
  step.max_fail = reader.parsed("max_fail", parse_max_fail);
  step.timeout = reader.duration("timeout");
  step.kill_grace = reader.duration("kill_grace");
  step.retries = static_cast<int>(reader.integer("retries", 0, 100).value_or(0));
  step.retry_delay = reader.duration("retry_delay").value_or(step.retry_delay);
  step.on_failure = parse_on_failure(reader);
  step.idempotent = reader.boolean("idempotent").value_or(false);
  step.expect = parse_expressions(context, reader.get("expect"), "an expectation");
  if (auto rollback = reader.get("rollback"); rollback.is_defined()) {
    MapReader undo(context, rollback, "rollback");
    if (undo.valid()) {
      step.rollback = parse_action(undo, fmt::format("the rollback of step '{}'", step.id));
      undo.finish();
    }
  }
  if (!step.repeated() && (reader.has("max_parallel") || reader.has("max_fail"))) {
    context.error(node, fmt::format("step '{}': max_parallel and max_fail need for_each", step.id));
  }
  auto action = parse_action(reader, fmt::format("step '{}'", step.id));
  if (action) {
    step.action = std::move(*action);
  }
  if (step.action.kind == "confirm" && step.retries > 0) {
    context.error(node, fmt::format("step '{}': a confirm step is not retried", step.id));
  }
  reader.finish();
  return step;
}

} // namespace

bool param_fits(ParamType type, const nlohmann::json& value) {
  switch (type) {
  case ParamType::string: return value.is_string();
  case ParamType::integer: return value.is_number_integer();
  case ParamType::number: return value.is_number();
  case ParamType::boolean: return value.is_boolean();
  case ParamType::list: return value.is_array();
  case ParamType::object: return value.is_object();
  }
  return false;
}

std::string_view param_type_name(ParamType type) {
  switch (type) {
  case ParamType::string: return "string";
  case ParamType::integer: return "int";
  case ParamType::number: return "number";
  case ParamType::boolean: return "bool";
  case ParamType::list: return "list";
  case ParamType::object: return "object";
  }
  return "string";
}

std::string_view on_failure_name(OnFailure value) {
  switch (value) {
  case OnFailure::abort: return "abort";
  case OnFailure::continue_on: return "continue";
  case OnFailure::rollback: return "rollback";
  }
  return "abort";
}

const Step* Plan::find_step(std::string_view id) const {
  for (const auto& step : steps) {
    if (step.id == id) {
      return &step;
    }
  }
  return nullptr;
}

const PlanParam* Plan::find_param(std::string_view name) const {
  for (const auto& param : params) {
    if (param.name == name) {
      return &param;
    }
  }
  return nullptr;
}

const Plan* Definitions::find_plan(std::string_view name) const {
  for (const auto& plan : plans) {
    if (plan.header.name == name) {
      return &plan;
    }
  }
  return nullptr;
}

const Plan* Definitions::find_action(std::string_view name) const {
  for (const auto& action : actions) {
    if (action.header.name == name) {
      return &action;
    }
  }
  return nullptr;
}

Plan parse_plan(MapReader& reader, Header header) {
  const auto& context = reader.context();
  Plan plan;
  plan.header = std::move(header);
  plan.params = parse_plan_params(context, reader.get("params"));
  plan.max_parallel = static_cast<int>(reader.integer("max_parallel", 1, 1000).value_or(plan.max_parallel));
  plan.on_failure = parse_on_failure(reader).value_or(plan.on_failure);
  plan.lock = reader.string("lock");
  if (plan.lock) {
    check_templates(context, *plan.lock, context.at(reader.get("lock")));
  }
  plan.timeout = reader.duration("timeout");
  if (auto protection = reader.get("protection"); protection.is_defined()) {
    plan.protection = parse_protection(context, protection);
  }
  auto steps = reader.get("steps", Need::required);
  if (steps.is_defined()) {
    if (!steps.is_sequence() || steps.size() == 0) {
      context.error(steps, fmt::format("{} '{}': steps must be a non-empty list", plan.header.kind,
                                       plan.header.name));
    } else {
      std::map<std::string, Location> ids;
      for (std::size_t i = 0; i < steps.size(); ++i) {
        auto step = parse_step(context, steps[i], i);
        auto [it, inserted] = ids.emplace(step.id, step.where);
        if (!inserted) {
          context.error(step.where, fmt::format("duplicate step id '{}': also at {}", step.id, it->second.str()));
        }
        plan.steps.push_back(std::move(step));
      }
    }
  }
  return plan;
}

std::vector<const Step*> topological_order(const Plan& plan) {
  std::vector<const Step*> order;
  std::map<std::string, int> mark; // 1 visiting, 2 done
  std::vector<std::string> path;
  std::function<void(const Step&)> visit = [&](const Step& step) {
    auto& state = mark[step.id];
    if (state == 2) {
      return;
    }
    if (state == 1) {
      auto from = std::find(path.begin(), path.end(), step.id);
      std::string cycle;
      for (auto it = from; it != path.end(); ++it) {
        cycle += *it + " -> ";
      }
      throw core::Error(core::ExitCode::bad_definitions,
                        fmt::format("steps form a cycle: {}{}", cycle, step.id));
    }
    state = 1;
    path.push_back(step.id);
    for (const auto& need : step.needs) {
      if (const auto* other = plan.find_step(need)) {
        visit(*other);
      }
    }
    path.pop_back();
    mark[step.id] = 2;
    order.push_back(&step);
  };
  for (const auto& step : plan.steps) {
    visit(step);
  }
  return order;
}

namespace {

void check_call(const Definitions& definitions, Diagnostics& diagnostics, const Plan& plan,
                const StepAction& action) {
  auto name = action.fields.value("name", std::string());
  if (action.kind == "plan" || action.kind == "use") {
    bool is_plan = action.kind == "plan";
    const Plan* callee = is_plan ? definitions.find_plan(name) : definitions.find_action(name);
    if (has_template(action.fields["name"])) {
      return;
    }
    if (callee == nullptr) {
      std::vector<std::string> names;
      for (const auto& other : is_plan ? definitions.plans : definitions.actions) {
        names.push_back(other.header.name);
      }
      diagnostics.error(action.where, fmt::format("{} '{}' {} '{}', which is not a known {}{}", plan.header.kind,
                                                  plan.header.name, is_plan ? "calls plan" : "uses",
                                                  name, is_plan ? "plan" : "Action",
                                                  did_you_mean(name, names)));
      return;
    }
    const auto& given = action.fields.contains(is_plan ? "params" : "with")
                          ? action.fields[is_plan ? "params" : "with"]
                          : nlohmann::json::object();
    if (!given.is_object()) {
      diagnostics.error(action.where, fmt::format("'{}' must map parameter names to values",
                                                  is_plan ? "params" : "with"));
      return;
    }
    for (const auto& param : callee->params) {
      if (param.required && !given.contains(param.name)) {
        diagnostics.error(action.where, fmt::format("{} '{}' must give parameter '{}' of '{}'", plan.header.kind,
                                                    plan.header.name, param.name, name));
      }
    }
    for (const auto& item : given.items()) {
      if (callee->find_param(item.key()) == nullptr) {
        std::vector<std::string> names;
        for (const auto& param : callee->params) {
          names.push_back(param.name);
        }
        diagnostics.error(action.where, fmt::format("{} '{}' gives unknown parameter '{}' to '{}'{}",
                                                    plan.header.kind, plan.header.name, item.key(), name,
                                                    did_you_mean(item.key(), names)));
      }
    }
    return;
  }
  if (action.kind == "notify") {
    auto notifier = action.fields.value("notifier", std::string());
    if (has_template(action.fields["notifier"])) {
      return;
    }
    auto& notifiers = definitions.config.notifiers;
    if (std::none_of(notifiers.begin(), notifiers.end(), [&](const auto& n) { return n.name == notifier; })) {
      diagnostics.error(action.where, fmt::format("{} '{}' notifies '{}', which is not a notifier of has.yaml",
                                                  plan.header.kind, plan.header.name, notifier));
    }
  }
  if (action.kind == "wait" && action.fields.contains("rule") && action.fields["rule"].is_string() &&
      !has_template(action.fields["rule"])) {
    auto rule = action.fields["rule"].get<std::string>();
    if (definitions.find_rule(rule) == nullptr) {
      diagnostics.error(action.where, fmt::format("{} '{}' waits for rule '{}', which is not a known rule",
                                                  plan.header.kind, plan.header.name, rule));
    }
  }
}

void resolve_one(const Definitions& definitions, Diagnostics& diagnostics, const Plan& plan) {
  std::set<std::string> hosts;
  for (const auto& host : definitions.config.hosts) {
    hosts.insert(host.name);
  }
  for (const auto& step : plan.steps) {
    for (const auto& need : step.needs) {
      if (plan.find_step(need) == nullptr) {
        std::vector<std::string> ids;
        for (const auto& other : plan.steps) {
          ids.push_back(other.id);
        }
        diagnostics.error(step.where, fmt::format("step '{}' needs '{}', which is not a step of {} '{}'{}",
                                                  step.id, need, plan.header.kind, plan.header.name,
                                                  did_you_mean(need, ids)));
      } else if (need == step.id) {
        diagnostics.error(step.where, fmt::format("step '{}' needs itself", step.id));
      }
    }
    if (!step.action.kind.empty()) {
      check_call(definitions, diagnostics, plan, step.action);
    }
    if (step.rollback) {
      check_call(definitions, diagnostics, plan, *step.rollback);
    }
  }
  try {
    topological_order(plan);
  } catch (const core::Error& e) {
    diagnostics.error(plan.header.where, fmt::format("{} '{}': {}", plan.header.kind, plan.header.name, e.what()));
  }
}

} // namespace

void resolve_plans(Definitions& definitions, Diagnostics& diagnostics) {
  for (const auto& plan : definitions.plans) {
    resolve_one(definitions, diagnostics, plan);
  }
  for (const auto& action : definitions.actions) {
    resolve_one(definitions, diagnostics, action);
  }
  // Plans calling plans (and templates using templates) must not loop.
  std::map<std::string, std::vector<std::string>> calls;
  auto collect = [&](const Plan& plan, std::string_view prefix) {
    auto& out = calls[std::string(prefix) + plan.header.name];
    for (const auto& step : plan.steps) {
      for (const auto* action : {&step.action, step.rollback ? &*step.rollback : nullptr}) {
        if (action && (action->kind == "plan" || action->kind == "use") && action->fields.contains("name") &&
            action->fields["name"].is_string()) {
          out.push_back((action->kind == "plan" ? "plan:" : "use:") + action->fields["name"].get<std::string>());
        }
      }
    }
  };
  for (const auto& plan : definitions.plans) {
    collect(plan, "plan:");
  }
  for (const auto& action : definitions.actions) {
    collect(action, "use:");
  }
  std::map<std::string, int> mark;
  std::function<bool(const std::string&, std::vector<std::string>&)> loops =
    [&](const std::string& name, std::vector<std::string>& path) {
      if (mark[name] == 2) {
        return false;
      }
      if (mark[name] == 1) {
        path.push_back(name);
        return true;
      }
      mark[name] = 1;
      path.push_back(name);
      for (const auto& callee : calls[name]) {
        if (loops(callee, path)) {
          return true;
        }
      }
      path.pop_back();
      mark[name] = 2;
      return false;
    };
  for (const auto& plan : definitions.plans) {
    std::vector<std::string> path;
    if (loops("plan:" + plan.header.name, path)) {
      std::string text;
      for (const auto& item : path) {
        text += (text.empty() ? "" : " -> ") + item.substr(item.find(':') + 1);
      }
      diagnostics.error(plan.header.where, fmt::format("plans call each other in a loop: {}", text));
      break;
    }
  }
}

} // namespace has::defs
