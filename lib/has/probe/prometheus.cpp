// The prometheus probe: one instant query against Prometheus' HTTP API
// (GET {url}/api/v1/query), through the runner's shared curl multi handle.
// An answer is an observation (ok), even an empty one: expectations decide
// what "no samples" means. A query Prometheus rejects is unknown (the check
// itself is broken); an unreachable server is critical.

#include <has/probe/fields.hpp>
#include <has/probe/http_text.hpp>
#include <has/probe/kinds.hpp>

#include <has/core/error.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

namespace has::probe {

namespace {

constexpr std::size_t k_evidence_bytes = 2048;
// Series kept in values; a query matching more still counts them all.
constexpr std::size_t k_max_series = 100;

[[noreturn]] void bad_field(std::string_view field, std::string_view what, std::string_view help = {}) {
  throw core::Error(core::ExitCode::bad_definitions, fmt::format("prometheus probe: field '{}' {}", field, what),
                    {}, std::string(help));
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// Returns the base URL without trailing slashes, or throws naming the field.
std::string base_url(std::string url) {
  auto scheme_end = url.find("://");
  auto scheme = scheme_end == std::string::npos ? std::string() : lower(std::string_view(url).substr(0, scheme_end));
  if (scheme != "http" && scheme != "https") {
    bad_field("url", fmt::format("must start with http:// or https://, not '{}'", url),
              "give the server's base URL, e.g. http://127.0.0.1:9090");
  }
  if (scheme_end + 3 == url.size() || url.find_first_of("/?#", scheme_end + 3) == scheme_end + 3) {
    bad_field("url", fmt::format("has no host: '{}'", url));
  }
  if (url.find_first_of("?#") != std::string::npos) {
    bad_field("url", "must be the server's base URL, without a query or fragment",
              "the probe adds /api/v1/query?query=...; write e.g. http://127.0.0.1:9090");
  }
  if (url.find_first_of(" \t\r\n") != std::string::npos) {
    bad_field("url", "must not contain white space (percent-encode it as %20)");
  }
  while (url.ends_with('/')) {
    url.pop_back();
  }
  return url;
}

// The URL as shown in messages and values: user:password@ left out.
std::string without_userinfo(const std::string& url) {
  auto host_start = url.find("://") + 3;
  auto host_end = url.find('/', host_start);
  auto at = url.rfind('@', host_end == std::string::npos ? url.size() : host_end);
  if (at == std::string::npos || at < host_start) {
    return url;
  }
  return url.substr(0, host_start) + url.substr(at + 1);
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

// A sample value as Prometheus writes it ("1", "0.25", "NaN", "+Inf", "-Inf")
// as a value: NaN (no number) becomes null, infinities stay infinite so
// comparisons still hold.
nlohmann::json sample_number(const std::string& text) {
  std::string_view body = text;
  if (body.starts_with('+')) {
    body.remove_prefix(1);
  }
  double number = 0;
  auto [ptr, ec] = std::from_chars(body.data(), body.data() + body.size(), number);
  if (ec != std::errc() || ptr != body.data() + body.size() || std::isnan(number)) {
    return nullptr;
  }
  return number;
}

// The text of a [timestamp, "value"] pair, or nullopt when it has another shape.
std::optional<std::string> pair_text(const nlohmann::json& pair) {
  if (!pair.is_array() || pair.size() != 2 || !pair[1].is_string()) {
    return std::nullopt;
  }
  return pair[1].get<std::string>();
}

struct Sample {
  nlohmann::json metric = nlohmann::json::object();
  std::optional<std::string> text;
};

// Reads the samples of a result: one per series (the latest point of a
// range vector), one for a scalar or string.
std::optional<std::vector<Sample>> samples_of(const std::string& type, const nlohmann::json& result) {
  std::vector<Sample> out;
  if (type == "scalar" || type == "string") {
    auto text = pair_text(result);
    if (!text) {
      return std::nullopt;
    }
    out.push_back(Sample{nlohmann::json::object(), std::move(text)});
    return out;
  }
  if ((type != "vector" && type != "matrix") || !result.is_array()) {
    return std::nullopt;
  }
  for (const auto& series : result) {
    if (!series.is_object()) {
      return std::nullopt;
    }
    Sample sample;
    if (auto metric = series.find("metric"); metric != series.end() && metric->is_object()) {
      sample.metric = *metric;
    }
    if (type == "vector") {
      sample.text = pair_text(series.value("value", nlohmann::json()));
    } else if (auto points = series.find("values"); points != series.end() && points->is_array() && !points->empty()) {
      sample.text = pair_text(points->back());
    }
    if (!sample.text) {
      return std::nullopt;
    }
    out.push_back(std::move(sample));
  }
  return out;
}

std::string samples_text(std::size_t count) {
  return count == 1 ? "1 sample" : fmt::format("{} samples", count);
}

Result unknown(Result result, std::string message) {
  result.status = Status::unknown;
  result.message = std::move(message);
  result.values["error"] = result.message;
  return result;
}

Result to_result(const util::HttpResponse& response, const std::string& url) {
  Result result;
  result.elapsed_ms = response.elapsed_ms;
  auto& values = result.values;
  values["elapsed_ms"] = response.elapsed_ms;
  values["url"] = url;
  if (!response.ok()) {
    result.status = Status::critical;
    result.message = utf8_text(response.error);
    values["error"] = result.message;
    return result;
  }
  values["http_status"] = response.status;
  result.evidence = excerpt(response.body, k_evidence_bytes);
  auto body = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  bool is_api_answer = body.is_object() && body.contains("status") && body["status"].is_string();
  if (!is_api_answer) {
    // A proxy's error page or another server at that address.
    if (response.status < 200 || response.status > 299) {
      result.status = Status::critical;
      result.message = fmt::format("HTTP {} from {}", response.status, url);
      values["error"] = result.message;
      return result;
    }
    return unknown(std::move(result),
                   fmt::format("HTTP {} from {} is not a Prometheus API answer (no JSON 'status')", response.status,
                               url));
  }
  if (auto warnings = body.find("warnings"); warnings != body.end()) {
    values["warnings"] = *warnings;
  }
  auto status = body["status"].get<std::string>();
  if (status != "success") {
    auto type = body.value("errorType", std::string());
    auto error = body.value("error", std::string());
    values["error_type"] = type;
    return unknown(std::move(result), fmt::format("Prometheus: {}{}{}", type, type.empty() ? "" : ": ",
                                                  error.empty() ? status : error));
  }
  const auto& data = body.value("data", nlohmann::json::object());
  auto type = data.is_object() ? data.value("resultType", std::string()) : std::string();
  auto samples = data.is_object() && data.contains("result") ? samples_of(type, data["result"]) : std::nullopt;
  if (!samples) {
    return unknown(std::move(result), fmt::format("Prometheus answered a result this probe cannot read "
                                                  "(resultType '{}')", type));
  }
  values["result_type"] = type;
  values["samples"] = samples->size();
  auto series = nlohmann::json::array();
  for (std::size_t i = 0; i < samples->size() && i < k_max_series; ++i) {
    const auto& sample = (*samples)[i];
    auto value = type == "string" ? nlohmann::json(*sample.text) : sample_number(*sample.text);
    series.push_back({{"metric", sample.metric}, {"value", std::move(value)}});
  }
  if (samples->empty()) {
    values["value"] = nullptr;
    values["series"] = std::move(series);
    result.message = fmt::format("no samples in {:.0f} ms", response.elapsed_ms);
    // A metric that is absent is the usual sign of a dead exporter or target.
    result.by_default = {Status::critical, "prometheus query returned no sample", {}};
    return result;
  }
  values["value"] = series[0]["value"];
  values["value_text"] = *samples->front().text;
  values["metric"] = samples->front().metric;
  values["series"] = std::move(series);
  result.message = fmt::format("{} = {} ({}, {}) in {:.0f} ms", type == "scalar" ? "scalar" : "value",
                               utf8_text(*samples->front().text), type, samples_text(samples->size()),
                               response.elapsed_ms);
  return result;
}

} // namespace

Task make_prometheus(const Spec& spec) {
  Fields fields("prometheus", spec.fields);
  auto base = base_url(fields.string("url"));
  auto query = fields.string("query");
  if (query.find_first_not_of(" \t\r\n") == std::string::npos) {
    bad_field("query", "must not be empty", "write a PromQL expression, e.g. up{job=\"node\"}");
  }
  util::HttpRequest request;
  request.url = base + "/api/v1/query?query=" + util::url_encode(query);
  request.headers.emplace_back("Accept", "application/json");
  for (auto& [name, value] : fields.string_map("headers")) {
    check_header(name, value);
    request.headers.emplace_back(name, value);
  }
  request.timeout = fields.duration("timeout").value_or(spec.timeout);
  if (request.timeout.count() <= 0) {
    bad_field("timeout", "must be longer than zero");
  }
  // Prometheus stops evaluating at its own timeout too (and answers why).
  request.url += fmt::format("&timeout={}ms", request.timeout.count());

  Task task;
  task.on_http = [shown = without_userinfo(base)](const util::HttpResponse& response) {
    return to_result(response, shown);
  };
  task.http = std::move(request);
  return task;
}

} // namespace has::probe
