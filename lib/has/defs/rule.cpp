#include <has/defs/rule.hpp>

#include <has/core/error.hpp>
#include <has/defs/env.hpp>
#include <has/defs/probe_schema.hpp>
#include <has/expr/expr.hpp>

#include <fmt/format.h>

#include <set>

namespace has::defs {

// The diagnostics carry the location, so load-time checks pass no Source.
// Reports bad ${{ }} and ${env:} references in every string below value.
void check_templates(const FileContext& context, const nlohmann::json& value, const Location& where) {
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    try {
      env_references(text, where);
      for (const auto& expression : expr::template_expressions(text, expr::Source{})) {
        expr::check_syntax(expression, expr::Source{});
      }
    } catch (const core::Error& e) {
      context.error(where, e.what());
    }
  } else if (value.is_structured()) {
    for (const auto& item : value) {
      check_templates(context, item, where);
    }
  }
}

namespace {

Host parse_host(const FileContext& context, const yaml::Node& node, std::string_view what) {
  Host host;
  host.where = context.at(node);
  MapReader reader(context, node, std::string(what));
  host.name = reader.string("name", Need::required).value_or("");
  host.address = reader.string("address").value_or(host.name);
  host.labels = reader.string_map("labels");
  reader.finish();
  return host;
}

TargetSelector parse_targets(const FileContext& context, const yaml::Node& node) {
  TargetSelector targets;
  targets.where = context.at(node);
  if (node.is_sequence()) {
    for (const auto& item : node) {
      if (item.is_scalar()) {
        targets.names.push_back(item.text());
      } else {
        targets.inline_hosts.push_back(parse_host(context, item, "an inline target"));
      }
    }
    return targets;
  }
  MapReader reader(context, node, "targets");
  if (auto hosts = reader.get("hosts"); hosts.is_defined()) {
    if (hosts.is_map()) {
      MapReader select(context, hosts, "targets.hosts");
      for (const auto& item : hosts) {
        select.allow({item.first.text()});
      }
      targets.labels = reader.string_map("hosts");
    } else {
      context.error(hosts, "targets.hosts must be a mapping of labels to match, e.g. {role: web}");
    }
  }
  targets.names = reader.string_list("names");
  if (auto list = reader.get("inline"); list.is_defined()) {
    if (!list.is_sequence()) {
      context.error(list, "targets.inline must be a list of hosts");
    } else {
      for (const auto& item : list) {
        targets.inline_hosts.push_back(parse_host(context, item, "an inline target"));
      }
    }
  }
  reader.finish();
  return targets;
}

} // namespace

std::optional<ProbeSpec> parse_probe(const FileContext& context, const yaml::Node& node) {
  if (!node.is_map() || node.size() != 1) {
    std::string kinds;
    for (const auto& schema : probe_schemas()) {
      kinds += kinds.empty() ? "" : ", ";
      kinds += schema.kind;
    }
    context.error(node, fmt::format("probe must have exactly one kind: {}", kinds));
    return std::nullopt;
  }
  auto item = *node.begin();
  ProbeSpec probe;
  probe.kind = item.first.text();
  probe.where = context.at(item.first);
  const auto* schema = find_probe_schema(probe.kind);
  if (schema == nullptr) {
    std::vector<std::string> names;
    for (const auto& s : probe_schemas()) {
      names.emplace_back(s.kind);
    }
    context.error(item.first, fmt::format("unknown probe kind '{}'{}", probe.kind,
                                          did_you_mean(probe.kind, names)));
    return std::nullopt;
  }
  MapReader fields(context, item.second, fmt::format("{} probe", probe.kind));
  for (auto key : schema->required) {
    fields.get(key, Need::required);
  }
  for (auto key : schema->optional) {
    fields.get(key);
  }
  fields.finish();
  if (probe.kind == "exec" && fields.valid() && !fields.has("command") && !fields.has("shell")) {
    context.error(item.second, "exec probe needs 'command' (an argv list) or 'shell' (a script)");
  }
  if (probe.kind == "exec" && fields.has("command") && fields.has("shell")) {
    context.error(item.second, "exec probe takes 'command' or 'shell', not both");
  }
  probe.fields = to_json(item.second);
  check_templates(context, probe.fields, probe.where);
  return probe;
}

namespace {

std::vector<Threshold> parse_thresholds(const FileContext& context, const yaml::Node& node,
                                        std::string_view what) {
  std::vector<Threshold> out;
  if (!node.is_defined()) {
    return out;
  }
  if (!node.is_map()) {
    context.error(node, fmt::format("{} must map value names to ranges, e.g. {{elapsed_ms: \"~:300\"}}",
                                    what));
    return out;
  }
  for (const auto& item : node) {
    auto text = scalar(context, item.second, fmt::format("{}.{}", what, item.first.text()));
    if (!text) {
      continue;
    }
    Threshold threshold{item.first.text(), *text, std::nullopt, context.at(item.second)};
    try {
      if (text->find("${{") != std::string::npos) {
        for (const auto& expression : expr::template_expressions(*text, expr::Source{})) {
          expr::check_syntax(expression, expr::Source{});
        }
      } else {
        threshold.range = parse_range(*text);
      }
      out.push_back(std::move(threshold));
    } catch (const core::Error& e) {
      context.error(item.second,
                    e.reason().empty() ? e.what() : fmt::format("{}: {}", e.what(), e.reason()));
    }
  }
  return out;
}

std::vector<Param> parse_params(const FileContext& context, const yaml::Node& node) {
  std::vector<Param> out;
  if (!node.is_defined()) {
    return out;
  }
  if (!node.is_map()) {
    context.error(node, "params must map parameter names to {default, description, required}");
    return out;
  }
  for (const auto& item : node) {
    Param param;
    param.name = item.first.text();
    param.where = context.at(item.first);
    if (item.second.is_null()) {
      param.required = true;
    } else {
      MapReader reader(context, item.second, fmt::format("parameter '{}'", param.name));
      param.description = reader.string("description").value_or("");
      if (auto value = reader.get("default"); value.is_defined()) {
        param.default_value = to_json(value);
      }
      param.required = reader.boolean("required").value_or(!param.default_value.has_value());
      reader.finish();
    }
    out.push_back(std::move(param));
  }
  return out;
}

} // namespace

Rule parse_rule(MapReader& reader, Header header) {
  const auto& context = reader.context();
  Rule rule;
  rule.header = std::move(header);
  if (auto severity = reader.choice("severity", {"warning", "critical"})) {
    rule.severity = *severity == "warning" ? RuleSeverity::warning : RuleSeverity::critical;
    rule.severity_given = true;
  }
  if (auto node = reader.get("targets"); node.is_defined() && !node.is_null()) {
    rule.targets = parse_targets(context, node);
  }
  if (auto node = reader.get("probe"); node.is_defined()) {
    rule.probe = parse_probe(context, node);
  }
  if (auto node = reader.get("expect"); node.is_defined() && !node.is_null()) {
    auto add = [&](const yaml::Node& item) {
      if (auto text = scalar(context, item, "an expectation")) {
        Expression expression{*text, context.at(item)};
        try {
          expr::check_syntax(expression.text, expr::Source{});
        } catch (const core::Error& e) {
          context.error(item, e.what());
        }
        rule.expect.push_back(std::move(expression));
      }
    };
    if (node.is_sequence()) {
      for (const auto& item : node) {
        add(item);
      }
    } else {
      add(node);
    }
  }
  rule.warning = parse_thresholds(context, reader.get("warning"), "warning");
  rule.critical = parse_thresholds(context, reader.get("critical"), "critical");
  rule.retries = static_cast<int>(reader.integer("retries", 0, 100).value_or(0));
  rule.retry_delay = reader.duration("retry_delay").value_or(rule.retry_delay);
  rule.timeout = reader.duration("timeout");
  rule.fail_after = static_cast<int>(reader.integer("fail_after", 1, 1000).value_or(1));
  rule.recover_after = static_cast<int>(reader.integer("recover_after", 1, 1000).value_or(1));
  rule.params = parse_params(context, reader.get("params"));
  if (auto use = reader.get("use"); use.is_defined()) {
    rule.use = scalar(context, use, "field 'use'");
    rule.use_where = context.at(use);
  }
  if (auto with = reader.get("with"); with.is_defined()) {
    if (!with.is_map()) {
      context.error(with, "field 'with' must map parameter names to values");
    } else {
      rule.with = to_json(with);
      check_templates(context, rule.with, context.at(with));
    }
  }
  if (rule.use && rule.probe) {
    context.error(rule.header.where,
                  fmt::format("rule '{}' has both 'use' and 'probe'; a rule that uses a template "
                              "takes its probe from it", rule.header.name));
  }
  if (!rule.use && !rule.probe && reader.valid() && !reader.has("probe")) {
    context.error(rule.header.where,
                  fmt::format("rule '{}' needs a 'probe' (or 'use' of a library rule)",
                              rule.header.name));
  }
  return rule;
}

void resolve_rules(Definitions& definitions, Diagnostics& diagnostics) {
  std::set<std::string> host_names;
  for (const auto& host : definitions.config.hosts) {
    host_names.insert(host.name);
  }
  for (auto& rule : definitions.rules) {
    for (const auto& name : rule.targets.names) {
      if (host_names.count(name) == 0) {
        diagnostics.error(rule.targets.where,
                          fmt::format("rule '{}' targets host '{}', which is not in the inventory "
                                      "of has.yaml", rule.header.name, name));
      }
    }
    if (!rule.use) {
      continue;
    }
    const Rule* base = definitions.find_rule(*rule.use);
    if (base == nullptr) {
      std::vector<std::string> names;
      for (const auto& other : definitions.rules) {
        if (other.is_template()) {
          names.push_back(other.header.name);
        }
      }
      diagnostics.error(rule.use_where,
                        fmt::format("rule '{}' uses '{}', which is not a known rule{}",
                                    rule.header.name, *rule.use,
                                    did_you_mean(*rule.use, names)));
      continue;
    }
    if (!base->is_template()) {
      diagnostics.error(rule.use_where,
                        fmt::format("rule '{}' uses '{}', which has no 'params' and is not a "
                                    "template", rule.header.name, *rule.use));
      continue;
    }
    if (base->use) {
      diagnostics.error(rule.use_where,
                        fmt::format("rule '{}' uses '{}', which itself uses '{}'; a template must have "
                                    "its own probe", rule.header.name, *rule.use, *base->use));
      continue;
    }
    std::vector<std::string> names;
    for (const auto& param : base->params) {
      names.push_back(param.name);
      if (param.required && !rule.with.contains(param.name)) {
        diagnostics.error(rule.use_where,
                          fmt::format("rule '{}' must give parameter '{}' of '{}'{}",
                                      rule.header.name, param.name, base->header.name,
                                      param.description.empty() ? ""
                                                                : " (" + param.description + ")"));
      }
    }
    for (const auto& item : rule.with.items()) {
      if (std::find(names.begin(), names.end(), item.key()) == names.end()) {
        diagnostics.error(rule.use_where,
                          fmt::format("rule '{}' gives unknown parameter '{}' to '{}'{}",
                                      rule.header.name, item.key(), base->header.name,
                                      did_you_mean(item.key(), names)));
      }
    }
  }
}

Config parse_config(const FileContext& context, const yaml::Node& node) {
  Config config;
  if (!node.is_defined() || node.is_null()) {
    return config;
  }
  MapReader reader(context, node, "has.yaml");
  config.state = reader.string("state");
  if (auto inventory = reader.get("inventory"); inventory.is_defined()) {
    MapReader inv(context, inventory, "inventory");
    if (auto hosts = inv.get("hosts"); hosts.is_defined()) {
      if (!hosts.is_sequence()) {
        context.error(hosts, "inventory.hosts must be a list of hosts");
      } else {
        std::set<std::string> seen;
        for (const auto& item : hosts) {
          auto host = parse_host(context, item, "a host of the inventory");
          if (!host.name.empty() && !seen.insert(host.name).second) {
            context.error(host.where, fmt::format("duplicate host '{}' in the inventory", host.name));
          }
          config.hosts.push_back(std::move(host));
        }
      }
    }
    inv.finish();
  }
  if (auto defaults = reader.get("defaults"); defaults.is_defined()) {
    MapReader def(context, defaults, "defaults");
    config.default_timeout = def.duration("timeout").value_or(config.default_timeout);
    config.concurrency = static_cast<int>(def.integer("concurrency", 1, 100000).value_or(config.concurrency));
    config.per_target = static_cast<int>(def.integer("per_target", 1, 100000).value_or(config.per_target));
    config.gate_timeout = def.duration("gate_timeout");
    def.finish();
  }
  if (auto library = reader.get("library"); library.is_defined()) {
    MapReader lib(context, library, "library");
    config.builtin_library = lib.boolean("builtin").value_or(true);
    lib.finish();
  }
  if (auto ssh = reader.get("ssh"); ssh.is_defined()) {
    MapReader def(context, ssh, "ssh");
    config.ssh.user = def.string("user").value_or("");
    if (auto port = def.integer("port", 1, 65535)) {
      config.ssh.port = static_cast<int>(*port);
    }
    config.ssh.identity = def.string("identity").value_or("");
    config.ssh.host_key = def.choice("host_key", {"strict", "accept-new", "off"}).value_or("");
    config.ssh.known_hosts = def.string("known_hosts").value_or("");
    config.ssh.options = def.string_list("options");
    def.finish();
  }
  config.notifiers = parse_notifiers(context, reader.get("notifiers"));
  reader.finish();
  return config;
}

} // namespace has::defs
