// The http probe: one request through the runner's shared curl multi handle.
// Any response is an observation (status ok, expectations judge the HTTP
// status); only a transport failure (refused, timeout, DNS, TLS) is critical.

#include <has/probe/fields.hpp>
#include <has/probe/http_text.hpp>
#include <has/probe/kinds.hpp>

#include <has/core/error.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace has::probe {

namespace {

constexpr std::size_t k_evidence_bytes = 2048;

[[noreturn]] void bad_field(std::string_view field, std::string_view what, std::string_view help = {}) {
  throw core::Error(core::ExitCode::bad_definitions, fmt::format("http probe: field '{}' {}", field, what), {},
                    std::string(help));
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// curl would refuse anything else at run time; saying so at load time points
// at the definition instead.
void check_url(const std::string& url) {
  auto scheme_end = url.find("://");
  auto scheme = scheme_end == std::string::npos ? std::string() : lower(std::string_view(url).substr(0, scheme_end));
  if (scheme != "http" && scheme != "https") {
    bad_field("url", fmt::format("must start with http:// or https://, not '{}'", url),
              "write the full URL, e.g. http://localhost:8080/health");
  }
  if (url.find_first_of("/?#", scheme_end + 3) == scheme_end + 3 || scheme_end + 3 == url.size()) {
    bad_field("url", fmt::format("has no host: '{}'", url));
  }
  if (url.find_first_of(" \t\r\n") != std::string::npos) {
    bad_field("url", "must not contain white space (percent-encode it as %20)");
  }
}

// A method is an HTTP token; upper-cased because servers compare it exactly.
std::string check_method(std::string_view method) {
  auto token_char = [](unsigned char c) {
    return std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
  };
  if (method.empty() || !std::all_of(method.begin(), method.end(), token_char)) {
    bad_field("method", fmt::format("must be an HTTP method such as GET or POST, not '{}'", method));
  }
  std::string out(method);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::toupper(c); });
  return out;
}

// Header lines are built from these: a line break would smuggle in another.
void check_header(const std::string& name, const std::string& value) {
  if (name.empty() || name.find_first_of(":\r\n \t") != std::string::npos) {
    bad_field("headers", fmt::format("has an invalid header name '{}'", name));
  }
  if (value.find_first_of("\r\n") != std::string::npos) {
    bad_field("headers", fmt::format("has a line break in the value of '{}'", name));
  }
}

Result to_result(const util::HttpResponse& response, const std::string& url) {
  Result result;
  result.elapsed_ms = response.elapsed_ms;
  auto& values = result.values;
  values["elapsed_ms"] = response.elapsed_ms;
  values["url"] = response.effective_url.empty() ? url : response.effective_url;
  if (!response.ok()) {
    result.status = Status::critical;
    result.message = utf8_text(response.error);
    values["error"] = result.message;
    return result;
  }
  values["status"] = response.status;
  auto headers = nlohmann::json::object();
  for (const auto& [name, value] : response.headers) {
    // Repeated headers combine as RFC 9110 allows: one value, comma-separated.
    auto text = utf8_text(value);
    auto& slot = headers[utf8_text(name)];
    slot = slot.is_null() ? text : slot.get<std::string>() + ", " + text;
  }
  values["headers"] = std::move(headers);
  values["body"] = utf8_text(response.body);
  values["body_truncated"] = response.body_truncated;
  if (!response.body.empty()) {
    auto json = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
    if (!json.is_discarded()) {
      values["json"] = std::move(json);
    }
  }
  if (response.cert_days_left) {
    values["cert_days_left"] = *response.cert_days_left;
  }
  result.message = fmt::format("HTTP {} in {:.0f} ms", response.status, response.elapsed_ms);
  if (response.body_truncated) {
    result.message += " (body cut at max_body)";
  }
  result.evidence = excerpt(response.body, k_evidence_bytes);
  return result;
}

} // namespace

Task make_http(const Spec& spec) {
  Fields fields("http", spec.fields);
  util::HttpRequest request;
  request.url = fields.string("url");
  check_url(request.url);
  request.method = check_method(fields.optional_string("method").value_or("GET"));
  for (auto& [name, value] : fields.string_map("headers")) {
    check_header(name, value);
    request.headers.emplace_back(name, value);
  }
  request.body = fields.optional_string("body").value_or("");
  request.timeout = fields.duration("timeout").value_or(spec.timeout);
  if (request.timeout.count() <= 0) {
    bad_field("timeout", "must be longer than zero");
  }
  request.verify = fields.boolean("verify_tls").value_or(true) ? util::TlsVerify::on : util::TlsVerify::off;
  request.ca_file = fields.optional_string("ca_file").value_or("");
  request.client_cert = fields.optional_string("client_cert").value_or("");
  request.client_key = fields.optional_string("client_key").value_or("");
  if (!request.client_key.empty() && request.client_cert.empty()) {
    bad_field("client_key", "needs client_cert as well");
  }
  request.redirects =
    fields.boolean("follow_redirects").value_or(false) ? util::Redirects::follow : util::Redirects::none;
  if (auto max = fields.optional_integer("max_redirects")) {
    if (*max < 0 || *max > 100) {
      bad_field("max_redirects", fmt::format("must be between 0 and 100, not {}", *max));
    }
    request.max_redirects = static_cast<int>(*max);
  }
  if (auto max = fields.size("max_body")) {
    if (*max == 0) {
      bad_field("max_body", "must be more than zero bytes");
    }
    request.max_body = static_cast<std::size_t>(*max);
  }

  Task task;
  task.on_http = [url = request.url](const util::HttpResponse& response) { return to_result(response, url); };
  task.http = std::move(request);
  return task;
}

} // namespace has::probe
