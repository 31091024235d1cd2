// A plain webhook: the message as JSON (or a body template) sent to any
// HTTP endpoint; any 2xx answer is success.

#include <has/notify/kinds.hpp>
#include <has/notify/support.hpp>

#include <has/expr/expr.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace has::notify {

namespace {

expr::Source source_of(const defs::Location& where) { return {where.file, where.line, where.column}; }

// ${env:} is resolved in the template before the message goes in, so text
// in a message can never pull a variable out of the environment.
std::string render(expr::Engine& engine, const defs::NotifierConfig& config, const std::string& text,
                   const nlohmann::json& values) {
  const std::string resolved = resolve(config, text, Credential::no);
  if (resolved.find("${{") == std::string::npos) {
    return resolved;
  }
  return engine.interpolate(resolved, values, source_of(config.where));
}

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

} // namespace

nlohmann::json template_values(const Message& message) {
  const nlohmann::json json = to_json(message);
  return {{"title", message.title},
          {"text", message.text},
          {"markdown", message.text},
          {"status", probe::status_name(message.status)},
          {"link", message.link.value_or("")},
          {"key", message.key},
          {"counts", message.counts},
          {"json",
           {{"title", json["title"].dump()},
            {"text", json["text"].dump()},
            {"status", json["status"].dump()},
            {"link", json["link"].dump()},
            {"message", json.dump()}}}};
}

SendResult send_webhook(const defs::NotifierConfig& config, const Message& message, const SendContext& context) {
  util::HttpRequest request;
  request.method = config.method;
  request.url = resolve_http_url(config, Credential::no);
  request.timeout = config.timeout;
  request.max_body = 1 << 20;
  const nlohmann::json values = template_values(message);
  expr::Engine engine;
  bool has_type = false;
  for (const auto& [name, value] : config.headers) {
    request.headers.emplace_back(name, render(engine, config, value, values));
    has_type = has_type || same_name(name, "content-type");
  }
  if (!has_type) {
    request.headers.emplace_back("Content-Type", "application/json; charset=utf-8");
  }
  request.body = config.body ? render(engine, config, *config.body, values) : to_json(message).dump();

  auto response = context.transport.http(request);
  if (auto failure = transport_failure(config, response)) {
    return *failure;
  }
  if (response.status >= 200 && response.status < 300) {
    SendResult result;
    result.ok = true;
    result.http_status = response.status;
    result.body = response.body;
    return result;
  }
  return http_failure(config, response);
}

} // namespace has::notify
