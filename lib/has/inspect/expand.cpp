#include <has/inspect/expand.hpp>

#include <has/core/error.hpp>
#include <has/core/redact.hpp>
#include <has/defs/env.hpp>
#include <has/expr/expr.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <unordered_map>

namespace has::inspect {

namespace {

nlohmann::json host_json(const defs::Host& host) {
  return {{"name", host.name}, {"address", host.address}, {"labels", host.labels}};
}

expr::Source source_of(const defs::Location& where) {
  return {where.file, where.line, where.column};
}

// Returns text with ${{ }} and then ${env:} resolved. A string that is one
// ${{ }} and nothing else keeps the type of its value (a port stays a number).
nlohmann::json resolve_string(expr::Engine& engine, const std::string& text,
                              const nlohmann::json& context, const defs::Location& where) {
  auto start = text.find("${{");
  if (start == 0 && text.size() > 5 && text.compare(text.size() - 2, 2, "}}") == 0 &&
      text.find("${{", 3) == std::string::npos) {
    auto value = engine.evaluate(text.substr(3, text.size() - 5), context, source_of(where));
    if (!value.is_string()) {
      return value;
    }
    return defs::resolve_env(value.get<std::string>(), where);
  }
  auto interpolated = start == std::string::npos ? text : engine.interpolate(text, context, source_of(where));
  return defs::resolve_env(interpolated, where);
}

nlohmann::json resolve_all(expr::Engine& engine, const nlohmann::json& value,
                           const nlohmann::json& context, const defs::Location& where) {
  if (value.is_string()) {
    return resolve_string(engine, value.get<std::string>(), context, where);
  }
  if (value.is_array()) {
    auto out = nlohmann::json::array();
    for (const auto& item : value) {
      out.push_back(resolve_all(engine, item, context, where));
    }
    return out;
  }
  if (value.is_object()) {
    auto out = nlohmann::json::object();
    for (const auto& item : value.items()) {
      out[item.key()] = resolve_all(engine, item.value(), context, where);
    }
    return out;
  }
  return value;
}

std::vector<Limit> resolve_limits(expr::Engine& engine, const std::vector<defs::Threshold>& list,
                                  const nlohmann::json& context) {
  std::vector<Limit> out;
  for (const auto& threshold : list) {
    if (threshold.range) {
      out.push_back({threshold.value, *threshold.range});
      continue;
    }
    auto text = engine.interpolate(threshold.text, context, source_of(threshold.where));
    try {
      out.push_back({threshold.value, defs::parse_range(text)});
    } catch (const core::Error& e) {
      throw core::Error(core::ExitCode::bad_definitions,
                        fmt::format("{}: {} (from '{}')", threshold.where.str(), e.what(), threshold.text));
    }
  }
  return out;
}

bool labels_match(const std::map<std::string, std::string>& have,
                  const std::map<std::string, std::string>& want) {
  return std::all_of(want.begin(), want.end(), [&](const auto& item) {
    auto it = have.find(item.first);
    return it != have.end() && it->second == item.second;
  });
}

// The target of a rule without targets.
const defs::Host k_local{"local", "127.0.0.1", {}, {}};

// Returns the hosts a rule runs on: the inventory's, the rule's inline ones,
// or k_local; they outlive the expansion.
std::vector<const defs::Host*> targets_of(const defs::TargetSelector& selector, const defs::Config& config) {
  if (selector.empty()) {
    return {&k_local};
  }
  std::vector<const defs::Host*> out;
  for (const auto& host : config.hosts) {
    bool by_name = std::find(selector.names.begin(), selector.names.end(), host.name) != selector.names.end();
    bool by_label = !selector.labels.empty() && labels_match(host.labels, selector.labels);
    if (by_name || by_label) {
      out.push_back(&host);
    }
  }
  for (const auto& host : selector.inline_hosts) {
    out.push_back(&host);
  }
  return out;
}

} // namespace

RuleParts parts_of(const defs::Definitions& definitions, const defs::Rule& rule) {
  RuleParts parts;
  parts.base = rule.use ? definitions.find_rule(*rule.use) : nullptr;
  const auto* base = parts.base;
  const auto& probe = base ? base->probe : rule.probe;
  parts.probe = probe ? &*probe : nullptr;
  parts.expect = base ? base->expect : std::vector<defs::Expression>{};
  parts.expect.insert(parts.expect.end(), rule.expect.begin(), rule.expect.end());
  parts.warning = !rule.warning.empty() || !base ? &rule.warning : &base->warning;
  parts.critical = !rule.critical.empty() || !base ? &rule.critical : &base->critical;
  return parts;
}

void expand_each(const defs::Definitions& definitions, const Selection& selection,
                 const std::function<void(Check&&)>& visit) {
  for (const auto& name : selection.rules) {
    if (definitions.find_rule(name) == nullptr) {
      throw core::Error(core::ExitCode::usage, fmt::format("no rule named '{}'", name), {},
                        "run 'has inspect list' to see the rules");
    }
  }
  expr::Engine engine;
  std::set<std::string> targets_seen;
  // A host's `target` value, built once however many rules run on it.
  std::unordered_map<const defs::Host*, nlohmann::json> target_values;
  for (const auto& rule : definitions.rules) {
    bool named = std::find(selection.rules.begin(), selection.rules.end(), rule.header.name) !=
                 selection.rules.end();
    if (!selection.rules.empty() && !named) {
      continue;
    }
    // Templates run only through the rules that use them.
    if (rule.is_template() || (selection.rules.empty() && rule.header.origin == defs::Origin::builtin)) {
      continue;
    }
    if (!labels_match(rule.header.labels, selection.labels) || (selection.accept && !selection.accept(rule))) {
      continue;
    }
    auto parts = parts_of(definitions, rule);
    const auto* base = parts.base;
    if (parts.probe == nullptr) {
      continue; // reported by the loader; a run never starts with load errors
    }
    const auto& probe_source = *parts.probe;
    auto hosts = targets_of(rule.targets.empty() && base ? base->targets : rule.targets, definitions.config);
    // The same for every target of the rule: built once.
    nlohmann::json rule_context = {{"name", rule.header.name}};
    // Library rules find their plugin programs through library.scripts:
    // the scripts of the library the template came from.
    auto library = base && !base->header.library_dir.empty() ? base->header.library_dir
                   : !rule.header.library_dir.empty()       ? rule.header.library_dir
                   : !definitions.library_dirs.empty()      ? definitions.library_dirs.front()
                                                            : std::filesystem::path();
    nlohmann::json library_context;
    if (!library.empty()) {
      library_context = {{"dir", library.string()}, {"scripts", (library / "scripts").string()}};
    }
    for (const auto* target : hosts) {
      const auto& host = *target;
      targets_seen.insert(host.name);
      if (!selection.targets.empty() &&
          std::find(selection.targets.begin(), selection.targets.end(), host.name) == selection.targets.end()) {
        continue;
      }
      Check check;
      check.rule = rule.header.name;
      check.target = host.name;
      check.severity = rule.severity_given || !base ? rule.severity : base->severity;
      check.retries = rule.retries != 0 || !base ? rule.retries : base->retries;
      check.retry_delay = rule.retry_delay;
      check.fail_after = rule.fail_after != 1 || !base ? rule.fail_after : base->fail_after;
      check.recover_after = rule.recover_after != 1 || !base ? rule.recover_after : base->recover_after;
      check.labels = rule.header.labels;
      check.context = nlohmann::json::object();
      auto [known, added] = target_values.try_emplace(target);
      if (added) {
        known->second = host_json(host);
      }
      check.context["target"] = known->second;
      check.context["rule"] = rule_context;
      if (!library_context.is_null()) {
        check.context["library"] = library_context;
      }
      check.spec.kind = probe_source.kind;
      auto timeout = selection.timeout ? selection.timeout
                     : rule.timeout    ? rule.timeout
                     : base && base->timeout ? base->timeout
                                             : std::optional(definitions.config.default_timeout);
      check.spec.timeout = *timeout;
      check.expect = parts.expect;
      try {
        auto params = nlohmann::json::object();
        if (base) {
          for (const auto& param : base->params) {
            if (param.default_value) {
              params[param.name] = resolve_all(engine, *param.default_value, check.context, param.where);
            }
          }
          for (const auto& item : rule.with.items()) {
            params[item.key()] = resolve_all(engine, item.value(), check.context, rule.use_where);
          }
        }
        check.context["params"] = std::move(params);
        check.spec.fields = resolve_all(engine, probe_source.fields, check.context, probe_source.where);
        check.warning = resolve_limits(engine, *parts.warning, check.context);
        check.critical = resolve_limits(engine, *parts.critical, check.context);
      } catch (const core::Error& e) {
        check.error = core::redact(e.render());
      }
      visit(std::move(check));
    }
  }
  for (const auto& name : selection.targets) {
    if (targets_seen.count(name) == 0) {
      throw core::Error(core::ExitCode::usage, fmt::format("no selected rule runs on target '{}'", name),
                        {}, "check --target against the inventory in has.yaml");
    }
  }
}

std::vector<Check> expand(const defs::Definitions& definitions, const Selection& selection) {
  std::vector<Check> checks;
  expand_each(definitions, selection, [&](Check&& check) { checks.push_back(std::move(check)); });
  return checks;
}

} // namespace has::inspect
