#include <has/defs/notifiers.hpp>

#include <has/core/error.hpp>
#include <has/defs/env.hpp>
#include <has/defs/reader.hpp>
#include <has/expr/expr.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <span>

namespace has::defs {

namespace {

constexpr std::string_view k_dingtalk[] = {"url", "secret", "keyword", "at_mobiles", "at_user_ids", "at_all"};
constexpr std::string_view k_feishu[] = {"url", "secret", "keyword"};
constexpr std::string_view k_wecom[] = {"url", "mentioned_mobiles", "mentioned_users"};
constexpr std::string_view k_slack[] = {"url"};
constexpr std::string_view k_webhook[] = {"url", "method", "headers", "body"};
constexpr std::string_view k_email[] = {"url", "from", "to", "username", "password"};

struct Schema {
  std::string_view kind;
  std::span<const std::string_view> fields;
  // Robots carry their access token in the URL, so the URL is a credential.
  bool url_is_secret;
};

// The one table of notifier kinds and their fields; lib/has/notify/registry.cpp
// holds the matching senders.
constexpr Schema k_schemas[] = {
  {"dingtalk", k_dingtalk, true}, {"feishu", k_feishu, true}, {"wecom", k_wecom, true},
  {"slack", k_slack, true},       {"webhook", k_webhook, false}, {"email", k_email, false},
};

const Schema* find_schema(std::string_view kind) {
  for (const auto& schema : k_schemas) {
    if (schema.kind == kind) {
      return &schema;
    }
  }
  return nullptr;
}

std::string kind_list() {
  std::string out;
  for (const auto& schema : k_schemas) {
    out += out.empty() ? "" : ", ";
    out += schema.kind;
  }
  return out;
}

bool valid_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.';
  });
}

enum class Expressions { allowed, refused };

// Reports a malformed ${env:} reference, and a ${{ }} one where expressions
// are refused or do not compile.
void check_template(const FileContext& context, std::string_view key, const std::string& text,
                    const Location& where, Expressions expressions) {
  try {
    env_references(text, where);
    if (expressions == Expressions::refused) {
      if (text.find("${{") != std::string::npos) {
        context.error(where, fmt::format("field '{}' does not take ${{{{ }}}} expressions; only "
                                         "${{env:NAME}} is resolved in it",
                                         key));
      }
      return;
    }
    for (const auto& expression : expr::template_expressions(text, expr::Source{})) {
      expr::check_syntax(expression, expr::Source{});
    }
  } catch (const core::Error& e) {
    // The diagnostic carries the location; the message need not repeat it.
    std::string_view message = e.what();
    const std::string prefix = where.str() + ": ";
    if (message.starts_with(prefix)) {
      message.remove_prefix(prefix.size());
    }
    context.error(where, std::string(message));
  }
}

// Reads a text field and checks its references.
std::optional<std::string> text_field(MapReader& reader, std::string_view key, Need need,
                                      Expressions expressions = Expressions::refused) {
  auto value = reader.string(key, need);
  if (value) {
    check_template(reader.context(), key, *value, reader.context().at(reader.get(key)), expressions);
  }
  return value;
}

// Reads a field that holds a secret: it must come from the environment.
std::optional<std::string> secret_field(MapReader& reader, std::string_view key,
                                        const std::string& name) {
  auto value = text_field(reader, key, Need::optional);
  if (value) {
    const Location where = reader.context().at(reader.get(key));
    try {
      if (env_references(*value, where).empty()) {
        reader.context().error(where, fmt::format("field '{}' of notifier '{}' holds a secret written "
                                                  "into the definitions; write ${{env:NAME}} and set "
                                                  "NAME in the environment",
                                                  key, name));
      }
    } catch (const core::Error&) {
      // Already reported by text_field.
    }
  }
  return value;
}

void check_url(MapReader& reader, const Schema& schema, const std::string& name, const std::string& url) {
  const Location where = reader.context().at(reader.get("url"));
  if (url.find("${") != std::string::npos) {
    return; // known only when sending
  }
  const bool email = schema.kind == "email";
  const bool good = email ? url.starts_with("smtp://") || url.starts_with("smtps://")
                          : url.starts_with("http://") || url.starts_with("https://");
  if (!good) {
    reader.context().error(where, fmt::format("field 'url' of notifier '{}' must start with {}, not '{}'",
                                              name, email ? "smtp:// or smtps://" : "http:// or https://",
                                              url));
    return;
  }
  if (schema.url_is_secret) {
    reader.context().diagnostics().warning(
      where, fmt::format("the url of notifier '{}' carries the robot's token; write "
                         "\"${{env:NAME}}\" and keep the URL in the environment",
                         name));
  }
}

NotifierConfig parse_one(const FileContext& context, const std::string& name, const yaml::Node& node,
                         bool& ok) {
  NotifierConfig config;
  config.name = name;
  config.where = context.at(node);
  ok = false;
  if (!node.is_map()) {
    context.error(node, fmt::format("notifier '{}' must be a mapping of fields, e.g. {{kind: slack, "
                                    "url: \"${{env:SLACK_URL}}\"}}",
                                    name));
    return config;
  }
  // The kind decides which fields are known, so it is read first.
  yaml::Node kind_node;
  for (const auto& item : node) {
    if (item.first.is_scalar() && item.first.text() == "kind") {
      kind_node = item.second;
    }
  }
  if (!kind_node.is_defined()) {
    context.error(node, fmt::format("notifier '{}' is missing the required field 'kind' (kinds: {})",
                                    name, kind_list()));
    return config;
  }
  auto kind = scalar(context, kind_node, "field 'kind'");
  const Schema* schema = kind ? find_schema(*kind) : nullptr;
  if (schema == nullptr) {
    if (kind) {
      std::vector<std::string> names;
      for (const auto& s : k_schemas) {
        names.emplace_back(s.kind);
      }
      context.error(kind_node, fmt::format("unknown notifier kind '{}' in notifier '{}'{} (kinds: {})",
                                           *kind, name,
                                           did_you_mean(*kind, names),
                                           kind_list()));
    }
    return config;
  }
  ok = true;
  config.kind = schema->kind;
  // From here on, messages name the kind, so a field of another kind reads
  // as what it is.
  MapReader fields(context, node, fmt::format("notifier '{}' ({})", name, schema->kind));
  fields.allow({"kind"});
  if (auto mode = fields.choice("mode", {"changes", "always"})) {
    config.mode = *mode == "always" ? NotifyMode::always : NotifyMode::changes;
  }
  config.timeout = fields.duration("timeout").value_or(config.timeout);
  for (std::string_view field : schema->fields) {
    if (field == "url") {
      config.url = text_field(fields, "url", Need::required).value_or("");
      if (!config.url.empty()) {
        check_url(fields, *schema, name, config.url);
      }
    } else if (field == "secret") {
      config.secret = secret_field(fields, "secret", name);
    } else if (field == "password") {
      config.password = secret_field(fields, "password", name);
    } else if (field == "keyword") {
      config.keyword = text_field(fields, "keyword", Need::optional);
    } else if (field == "username") {
      config.username = text_field(fields, "username", Need::optional);
    } else if (field == "at_mobiles" || field == "mentioned_mobiles") {
      config.at_mobiles = fields.string_list(field);
    } else if (field == "at_user_ids" || field == "mentioned_users") {
      config.at_user_ids = fields.string_list(field);
    } else if (field == "at_all") {
      config.at_all = fields.boolean("at_all").value_or(false);
    } else if (field == "method") {
      config.method = fields.choice("method", {"POST", "PUT", "PATCH"}).value_or("POST");
    } else if (field == "headers") {
      config.headers = fields.string_map("headers");
      const Location where = context.at(fields.get("headers"));
      for (const auto& [header, value] : config.headers) {
        check_template(context, "headers." + header, value, where, Expressions::allowed);
      }
    } else if (field == "body") {
      config.body = text_field(fields, "body", Need::optional, Expressions::allowed);
    } else if (field == "from") {
      config.from = text_field(fields, "from", Need::required).value_or("");
    } else if (field == "to") {
      config.to = fields.string_list("to", Need::required);
      if (fields.has("to") && config.to.empty()) {
        context.error(fields.get("to"), fmt::format("notifier '{}' needs at least one address in 'to'", name));
      }
    }
  }
  fields.finish();
  return config;
}

} // namespace

std::vector<std::string_view> notifier_kinds() {
  std::vector<std::string_view> out;
  for (const auto& schema : k_schemas) {
    out.push_back(schema.kind);
  }
  return out;
}

std::vector<std::string_view> notifier_fields(std::string_view kind) {
  const Schema* schema = find_schema(kind);
  if (schema == nullptr) {
    return {};
  }
  return {schema->fields.begin(), schema->fields.end()};
}

std::vector<NotifierConfig> parse_notifiers(const FileContext& context, const yaml::Node& node) {
  std::vector<NotifierConfig> out;
  if (!node.is_defined() || node.is_null()) {
    return out;
  }
  if (!node.is_map()) {
    context.error(node, "notifiers must be a mapping of names to notifiers, e.g. "
                        "{ops: {kind: dingtalk, url: \"${env:DINGTALK_URL}\"}}");
    return out;
  }
  for (const auto& item : node) {
    auto name = scalar(context, item.first, "a notifier name");
    if (!name) {
      continue;
    }
    if (!valid_name(*name)) {
      context.error(item.first, fmt::format("notifier name '{}' must be letters, digits, '-', '_' or '.'",
                                            *name));
      continue;
    }
    bool ok = false;
    auto config = parse_one(context, *name, item.second, ok);
    if (ok) {
      out.push_back(std::move(config));
    }
  }
  return out;
}

} // namespace has::defs
