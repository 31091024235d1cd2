// The http probe: one request through the runner's shared curl multi handle.
// Any response is an observation (status ok: expectations may want a 404);
// only a transport failure (refused, timeout, DNS, TLS) is critical. Without
// expectations the status class decides, as check_http does: 2xx and 3xx ok,
// 4xx warning, 5xx critical. `expect_status` names the statuses that are ok
// and makes any other one critical, with or without expectations.

#include <has/probe/fields.hpp>
#include <has/probe/http_text.hpp>
#include <has/probe/kinds.hpp>

#include <has/core/error.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>

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

// Statuses an `expect_status` accepts, as inclusive ranges.
using StatusRanges = std::vector<std::pair<long, long>>;

// Reads 200, "200", "2xx" or "200-299" (a list of them, or one).
StatusRanges parse_expect_status(const Fields& fields) {
  StatusRanges out;
  auto number = [](std::string_view text) -> std::optional<long> {
    long value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < 100 || value > 599) {
      return std::nullopt;
    }
    return value;
  };
  for (const auto& item : fields.strings("expect_status")) {
    std::string text = lower(item);
    std::optional<std::pair<long, long>> range;
    if (text.size() == 3 && text[0] >= '1' && text[0] <= '5' && text.substr(1) == "xx") {
      long hundred = (text[0] - '0') * 100;
      range = {hundred, hundred + 99};
    } else if (auto dash = text.find('-'); dash != std::string::npos) {
      auto low = number(std::string_view(text).substr(0, dash));
      auto high = number(std::string_view(text).substr(dash + 1));
      if (low && high && *low <= *high) {
        range = {*low, *high};
      }
    } else if (auto single = number(text)) {
      range = {*single, *single};
    }
    if (!range) {
      bad_field("expect_status", fmt::format("has '{}', which is not an HTTP status", item),
                "write statuses (200), classes (2xx) or ranges (200-299) between 100 and 599, "
                "e.g. expect_status: [200, 204]");
    }
    out.push_back(*range);
  }
  if (fields.has("expect_status") && out.empty()) {
    bad_field("expect_status", "is empty", "list the statuses that are ok, e.g. expect_status: [200, 204]");
  }
  return out;
}

std::string ranges_text(const StatusRanges& ranges) {
  std::vector<std::string> parts;
  for (const auto& [low, high] : ranges) {
    parts.push_back(low == high ? fmt::format("{}", low)
                    : low % 100 == 0 && high == low + 99 ? fmt::format("{}xx", low / 100)
                                                          : fmt::format("{}-{}", low, high));
  }
  return fmt::format("{}", fmt::join(parts, ", "));
}

// The check_http reading of an answer's status, for a check without
// expectations.
Default status_class(long status) {
  Default out;
  if (status >= 200 && status <= 399) {
    out.reason = fmt::format("http status {} is {}xx", status, status / 100);
  } else if (status >= 400 && status <= 499) {
    out.status = Status::warning;
    out.reason = fmt::format("http status {} is 4xx", status);
  } else if (status >= 500 && status <= 599) {
    out.status = Status::critical;
    out.reason = fmt::format("http status {} is 5xx", status);
  } else {
    out.status = Status::critical;
    out.reason = status >= 100 && status <= 199 ? fmt::format("http status {} is not a final answer", status)
                                                : fmt::format("http status {} is not a valid HTTP status", status);
  }
  return out;
}

Result to_result(const util::HttpResponse& response, const std::string& url, const StatusRanges& expect_status) {
  Result result;
  result.elapsed_ms = response.elapsed_ms;
  auto& values = result.values;
  values["elapsed_ms"] = response.elapsed_ms;
  values["url"] = response.effective_url.empty() ? url : response.effective_url;
  if (!response.ok()) {
    result.status = Status::critical;
    result.message = utf8_text(response.error);
    values["error"] = result.message;
    // No answer, no status: a tree's `if: status == 503` reads false here.
    values["status"] = nullptr;
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
  if (expect_status.empty()) {
    result.by_default = status_class(response.status);
  } else if (std::none_of(expect_status.begin(), expect_status.end(), [&](const auto& range) {
               return response.status >= range.first && response.status <= range.second;
             })) {
    result.status = Status::critical;
    result.message += fmt::format(", expected {}", ranges_text(expect_status));
  } else {
    result.field_verdict =
      fmt::format("http status {} is in expect_status {}", response.status, ranges_text(expect_status));
  }
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

  auto expect_status = parse_expect_status(fields);

  Task task;
  task.on_http = [url = request.url, expect_status = std::move(expect_status)](const util::HttpResponse& response) {
    return to_result(response, url, expect_status);
  };
  task.http = std::move(request);
  return task;
}

} // namespace has::probe
