#include <has/inspect/evaluate.hpp>

#include <has/core/error.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>
#include <utility>

namespace has::inspect {

namespace {

constexpr std::array<std::string_view, 11> k_keywords{"and", "or",   "not",   "nil", "true", "false",
                                                      "null", "then", "else", "if", "function"};

// Returns a value short enough to show in a table or an event.
nlohmann::json shorten(const nlohmann::json& value) {
  if (value.is_string() && value.get_ref<const std::string&>().size() > 200) {
    return value.get_ref<const std::string&>().substr(0, 200) + "…";
  }
  if (value.is_structured() && value.dump().size() > 200) {
    auto text = value.dump();
    return text.substr(0, 200) + "…";
  }
  return value;
}

std::string show(const nlohmann::json& values) {
  std::string out;
  for (const auto& item : values.items()) {
    out += out.empty() ? "" : ", ";
    auto value = item.value();
    out += fmt::format("{}={}", item.key(), value.is_string() ? value.get<std::string>() : value.dump());
  }
  return out;
}

nlohmann::json gather(expr::Engine& engine, std::string_view expression, const nlohmann::json& values,
                      const nlohmann::json& context) {
  auto out = nlohmann::json::object();
  for (const auto& name : referenced_names(expression)) {
    try {
      out[name] = shorten(engine.evaluate(name, values, context));
    } catch (const core::Error&) {
      out[name] = "(missing)";
    }
  }
  return out;
}

probe::Status failing_status(defs::RuleSeverity severity) {
  return severity == defs::RuleSeverity::warning ? probe::Status::warning : probe::Status::critical;
}

// A reading as a person writes it: 96.3, 7, 1500.
std::string number_text(double value) {
  return value == static_cast<double>(static_cast<long long>(value)) ? fmt::format("{}", static_cast<long long>(value))
                                                                     : fmt::format("{:.1f}", value);
}

// A default limit on one reading, judged; nullopt when the probe did not
// produce the reading.
std::optional<std::pair<probe::Status, std::string>> judge_limit(const probe::DefaultLimit& limit,
                                                                 const nlohmann::json& values,
                                                                 defs::RuleSeverity severity) {
  auto found = values.find(limit.value);
  if (found == values.end() || !found->is_number()) {
    return std::nullopt;
  }
  auto value = found->get<double>();
  bool above = limit.bound == probe::DefaultLimit::Bound::above;
  auto beyond = [&](double bound) { return above ? value > bound : value < bound; };
  auto status = beyond(limit.critical)  ? failing_status(severity)
                : beyond(limit.warning) ? probe::Status::warning
                                        : probe::Status::ok;
  auto bound = beyond(limit.critical) ? limit.critical : limit.warning;
  return std::pair{status, fmt::format("default: {} {} is {}{} {} -> {}", limit.value, number_text(value),
                                       status == probe::Status::ok ? "not " : "", above ? "above" : "below",
                                       number_text(bound), probe::status_name(status))};
}

} // namespace

std::vector<std::string> referenced_names(std::string_view text) {
  std::vector<std::string> names;
  std::size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c == '"' || c == '\'') {
      auto close = i + 1;
      while (close < text.size() && text[close] != c) {
        close += text[close] == '\\' ? 2 : 1;
      }
      i = close + 1;
      continue;
    }
    bool start = std::isalpha(static_cast<unsigned char>(c)) || c == '_';
    bool after_member = i > 0 && (text[i - 1] == ':' || text[i - 1] == '.');
    if (!start || after_member) {
      ++i;
      continue;
    }
    auto j = i;
    while (j < text.size() &&
           (std::isalnum(static_cast<unsigned char>(text[j])) || text[j] == '_' ||
            (text[j] == '.' && j + 1 < text.size() &&
             (std::isalpha(static_cast<unsigned char>(text[j + 1])) || text[j + 1] == '_')))) {
      ++j;
    }
    std::string name(text.substr(i, j - i));
    auto k = j;
    while (k < text.size() && text[k] == ' ') {
      ++k;
    }
    bool call = k < text.size() && text[k] == '(';
    if (call) {
      // exists(x, ...) or string.format(...): keep the object, drop the function.
      auto dot = name.rfind('.');
      name = dot == std::string::npos ? std::string() : name.substr(0, dot);
    }
    bool keyword = std::find(k_keywords.begin(), k_keywords.end(), name) != k_keywords.end();
    if (!name.empty() && !keyword && std::find(names.begin(), names.end(), name) == names.end()) {
      names.push_back(name);
    }
    i = j;
  }
  return names;
}

Verdict evaluate(expr::Engine& engine, const Check& check, const probe::Result& result, bool explain) {
  Verdict verdict;
  verdict.message = result.message;
  if (check.error) {
    verdict.status = probe::Status::unknown;
    verdict.message = *check.error;
    verdict.findings.push_back({"error", "prepare the check", false, nlohmann::json::object(), *check.error});
    return verdict;
  }
  if (result.status != probe::Status::ok) {
    verdict.status = result.status == probe::Status::critical ? failing_status(check.severity) : result.status;
    auto text = fmt::format("{} probe: {}", check.spec.kind, result.message);
    bool thresholds = !check.warning.empty() || !check.critical.empty();
    if (explain && (!check.expect.empty() || thresholds)) {
      text += fmt::format("; its {} not evaluated",
                          check.expect.empty() ? "thresholds were"
                          : thresholds         ? "expectations and thresholds were"
                                               : "expectations were");
    }
    verdict.findings.push_back({"probe", std::move(text), false, nlohmann::json::object(), {}});
    return verdict;
  }
  // The names an expression reads: the probe's values, then the check's
  // context (target, rule, params) where the values have no such name.
  const auto& values = result.values;
  const auto& context = check.context;
  std::string first_failure;
  auto fail = [&](probe::Status status, Finding finding, std::string message) {
    verdict.status = probe::worst(verdict.status, status);
    if (first_failure.empty()) {
      first_failure = std::move(message);
    }
    verdict.findings.push_back(std::move(finding));
  };
  // Without expectations the probe's own reading of what it saw decides
  // (an HTTP 503 is critical); with them, they alone do.
  auto judge = [&](probe::Status status, std::string text) {
    Finding finding{"default", text, status == probe::Status::ok, nlohmann::json::object(), {}};
    if (status != probe::Status::ok) {
      fail(status, std::move(finding), std::move(text));
    } else if (explain) {
      verdict.findings.push_back(std::move(finding));
    }
  };
  auto note = [&](std::string text) {
    if (explain) {
      verdict.findings.push_back({"default", std::move(text), true, nlohmann::json::object(), {}});
    }
  };
  if (explain && !result.field_verdict.empty()) {
    verdict.findings.push_back({"probe", result.field_verdict, true, nlohmann::json::object(), {}});
  }
  const auto& by_default = result.by_default;
  if (check.expect.empty()) {
    // --explain says which verdict applied for every kind, also where the
    // probe's own status is all there is to it.
    bool said = !result.field_verdict.empty();
    if (by_default.status != probe::Status::ok || !by_default.reason.empty()) {
      auto status = by_default.status == probe::Status::critical ? failing_status(check.severity) : by_default.status;
      judge(status, fmt::format("default: {} -> {}", by_default.reason, probe::status_name(status)));
      said = true;
    }
    bool own_limits = !check.warning.empty() || !check.critical.empty();
    for (const auto& limit : by_default.limits) {
      if (own_limits) {
        note(fmt::format("not applied to {}: the rule's thresholds decide", limit.value));
        said = true;
      } else if (auto judged = judge_limit(limit, values, check.severity)) {
        judge(judged->first, std::move(judged->second));
        said = true;
      }
    }
    if (!said) {
      note(fmt::format("default: {} probe's own status -> ok", check.spec.kind));
    }
  }
  for (const auto& expectation : check.expect) {
    Finding finding{"expect", expectation.text, false, nlohmann::json::object(), {}};
    try {
      finding.passed = engine.condition(expectation.text, values, context,
                                        {expectation.where.file, expectation.where.line, expectation.where.column});
    } catch (const core::Error& e) {
      finding.error = e.what();
    }
    // Reading back the values an expectation named costs an evaluation per
    // name: only a failure or --explain shows them.
    if (!finding.passed || explain) {
      finding.values = gather(engine, expectation.text, values, context);
    }
    if (!finding.error.empty()) {
      auto message = finding.error;
      fail(probe::Status::unknown, std::move(finding), std::move(message));
    } else if (!finding.passed) {
      auto message = fmt::format("expected {}, got {}", expectation.text, show(finding.values));
      fail(failing_status(check.severity), std::move(finding), std::move(message));
    } else if (explain) {
      verdict.findings.push_back(std::move(finding));
    }
  }
  if (!check.expect.empty()) {
    // Where the status is the whole default, it stands under expectations.
    note(probe::judges_beyond_status(check.spec.kind)
           ? fmt::format("not applied: the expectations decide, not the {} probe's default verdict", check.spec.kind)
           : fmt::format("the {} probe's own status stands (ok); the expectations add conditions",
                         check.spec.kind));
  }
  auto apply = [&](const std::vector<Limit>& limits, probe::Status status, std::string_view kind) {
    for (const auto& limit : limits) {
      Finding finding{std::string(kind), fmt::format("{} {}", limit.value, limit.range.text), false,
                      nlohmann::json::object(), {}};
      nlohmann::json value;
      try {
        value = engine.evaluate(limit.value, values, context);
      } catch (const core::Error& e) {
        finding.error = fmt::format("the probe produced no value '{}'", limit.value);
      }
      if (finding.error.empty() && !value.is_number()) {
        finding.error = fmt::format("value '{}' is {}, not a number", limit.value, value.dump());
      }
      if (!finding.error.empty()) {
        auto message = finding.error;
        fail(probe::Status::unknown, std::move(finding), std::move(message));
        continue;
      }
      finding.values[limit.value] = value;
      if (limit.range.alerts(value.get<double>())) {
        auto message = fmt::format("{} {} is outside the {} range {}", limit.value, value.dump(), kind,
                                   limit.range.text);
        fail(status, std::move(finding), std::move(message));
        return true;
      }
      finding.passed = true;
      if (explain) {
        verdict.findings.push_back(std::move(finding));
      }
    }
    return false;
  };
  if (!apply(check.critical, probe::Status::critical, "critical")) {
    apply(check.warning, probe::Status::warning, "warning");
  }
  if (!first_failure.empty()) {
    verdict.message = first_failure;
  }
  return verdict;
}

} // namespace has::inspect
