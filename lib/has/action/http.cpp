// http: calls an HTTP API. ok on a 2xx status; a plan step's `expect:` judges
// the outputs (status, headers, body, json, elapsed_ms) on top of that.

#include <has/action/kinds.hpp>
#include <has/action/support.hpp>
#include <has/core/error.hpp>
#include <has/probe/http_text.hpp>
#include <has/util/http.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace has::action {

namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

std::string upper(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::toupper(c); });
  return text;
}

util::HttpRequest request_of(const Spec& spec) {
  util::HttpRequest request;
  request.url = text_field(spec, "url");
  auto scheme = lower(request.url.substr(0, request.url.find("://")));
  if ((scheme != "http" && scheme != "https") || request.url.find("://") == std::string::npos) {
    bad_field(spec, "url", fmt::format("must start with http:// or https://, not '{}'", request.url));
  }
  if (request.url.find_first_of(" \t\r\n") != std::string::npos) {
    bad_field(spec, "url", "must not contain white space (percent-encode it as %20)");
  }
  bool has_body = spec.fields.contains("body") && !spec.fields["body"].is_null();
  bool has_json = spec.fields.contains("json") && !spec.fields["json"].is_null();
  if (has_body && has_json) {
    bad_field(spec, "json", "cannot be used with 'body': give one of them");
  }
  request.method = upper(text_field(spec, "method", false));
  if (request.method.empty()) {
    request.method = has_body || has_json ? "POST" : "GET";
  }
  if (!std::all_of(request.method.begin(), request.method.end(),
                   [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_'; })) {
    bad_field(spec, "method", fmt::format("must be an HTTP method such as GET or POST, not '{}'", request.method));
  }
  bool has_content_type = false;
  for (auto& [name, value] : map_field(spec, "headers")) {
    // A header line is built from these: a line break would smuggle in another.
    if (name.empty() || name.find_first_of(":\r\n \t") != std::string::npos) {
      bad_field(spec, "headers", fmt::format("has an invalid header name '{}'", name));
    }
    if (value.find_first_of("\r\n") != std::string::npos) {
      bad_field(spec, "headers", fmt::format("has a line break in the value of '{}'", name));
    }
    has_content_type = has_content_type || lower(name) == "content-type";
    request.headers.emplace_back(name, value);
  }
  if (has_json) {
    request.body = spec.fields["json"].dump();
    if (!has_content_type) {
      request.headers.emplace_back("Content-Type", "application/json");
    }
  } else if (has_body) {
    request.body = text_field(spec, "body");
  }
  if (spec.timeout.count() > 0) {
    request.timeout = spec.timeout;
  }
  request.verify = bool_field(spec, "verify_tls", true) ? util::TlsVerify::on : util::TlsVerify::off;
  request.ca_file = text_field(spec, "ca_file", false);
  request.client_cert = text_field(spec, "client_cert", false);
  request.client_key = text_field(spec, "client_key", false);
  if (!request.client_key.empty() && request.client_cert.empty()) {
    bad_field(spec, "client_key", "needs client_cert as well");
  }
  request.redirects = bool_field(spec, "follow_redirects", false) ? util::Redirects::follow : util::Redirects::none;
  request.max_body = size_field(spec, "max_body", request.max_body);
  return request;
}

std::string describe(const Spec& spec, const Context&) {
  auto request = request_of(spec);
  std::string text = fmt::format("{} {}", request.method, request.url);
  for (const auto& [name, value] : request.headers) {
    text += fmt::format(" -H '{}: {}'", name, value);
  }
  if (!request.body.empty()) {
    text += fmt::format(" ({} byte body)", request.body.size());
  }
  if (request.verify == util::TlsVerify::off) {
    text += " (TLS not verified)";
  }
  if (request.redirects == util::Redirects::follow) {
    text += " (following redirects)";
  }
  return text;
}

Outcome run(const Spec& spec, const Context&) {
  auto request = request_of(spec);
  auto response = util::http_request(request);
  Outcome outcome;
  auto& outputs = outcome.outputs;
  outputs["status"] = response.status;
  outputs["elapsed_ms"] = response.elapsed_ms;
  outputs["url"] = response.effective_url.empty() ? request.url : response.effective_url;
  if (!response.ok()) {
    outputs["error"] = response.error;
    outcome.message = fmt::format("{} {}: {}", request.method, request.url, response.error);
    return outcome;
  }
  auto headers = nlohmann::json::object();
  for (const auto& [name, value] : response.headers) {
    // Repeated headers combine as RFC 9110 allows: one value, comma-separated.
    auto& slot = headers[probe::utf8_text(name)];
    slot = slot.is_null() ? probe::utf8_text(value) : slot.get<std::string>() + ", " + probe::utf8_text(value);
  }
  outputs["headers"] = std::move(headers);
  // Outputs are JSON, which holds only valid UTF-8.
  outputs["body"] = probe::utf8_text(response.body);
  outputs["body_truncated"] = response.body_truncated;
  if (!response.body.empty()) {
    auto json = nlohmann::json::parse(response.body, nullptr, false);
    if (!json.is_discarded()) {
      outputs["json"] = std::move(json);
    }
  }
  outcome.ok = response.status >= 200 && response.status < 300;
  outcome.message = fmt::format("HTTP {} in {:.0f} ms", response.status, response.elapsed_ms);
  if (response.body_truncated) {
    outcome.message += " (body cut at max_body)";
  }
  return outcome;
}

} // namespace

const Kind k_http{"http", describe, run};

} // namespace has::action
