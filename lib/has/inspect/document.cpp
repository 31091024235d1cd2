#include <has/inspect/document.hpp>

#include <has/core/redact.hpp>

#include <fmt/format.h>

#include <array>

#include <algorithm>
#include <map>
#include <set>

namespace has::inspect {

namespace {

nlohmann::json counts(const nlohmann::json& results) {
  nlohmann::json out = {{"checks", results.size()}, {"ok", 0},     {"warning", 0},
                        {"critical", 0},            {"unknown", 0}, {"muted", 0}};
  for (const auto& r : results) {
    if (r.contains("muted_by") || r.value("muted", false)) {
      out["muted"] = out["muted"].get<int>() + 1;
      continue;
    }
    out[r["status"].get<std::string>()] = out[r["status"].get<std::string>()].get<int>() + 1;
  }
  return out;
}

nlohmann::json findings_json(const std::vector<Finding>& findings) {
  auto out = nlohmann::json::array();
  for (const auto& f : findings) {
    nlohmann::json item = {{"kind", f.kind}, {"text", f.text}, {"passed", f.passed}, {"values", f.values}};
    if (!f.error.empty()) {
      item["error"] = f.error;
    }
    out.push_back(std::move(item));
  }
  return out;
}

nlohmann::json run_json(const RunReport& report, nlohmann::json counts) {
  return {{"id", report.run_id},
          {"started_at", report.started_at},
          {"finished_at", report.finished_at},
          {"status", probe::status_name(report.worst)},
          {"host", report.provenance.host},
          {"user", report.provenance.user},
          {"has_version", HAS_VERSION},
          {"git_commit", report.provenance.git_commit ? nlohmann::json(*report.provenance.git_commit) : nullptr},
          {"git_dirty", report.provenance.git_dirty ? nlohmann::json(*report.provenance.git_dirty) : nullptr},
          {"counts", std::move(counts)}};
}

// Appends text as a JSON string, exactly as nlohmann::json would dump it.
void append_string(std::string& out, std::string_view text) {
  bool plain = std::all_of(text.begin(), text.end(), [](char c) {
    auto byte = static_cast<unsigned char>(c);
    return byte >= 0x20 && byte < 0x7F && c != '"' && c != '\\';
  });
  if (!plain) {
    out += nlohmann::json(std::string(text)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return;
  }
  out += '"';
  out += text;
  out += '"';
}

// Appends value dumped with an indent of 2, every line after the first
// shifted right by indent (a dump never has a line break inside a string).
void append_json(std::string& out, const nlohmann::json& value, std::size_t indent) {
  auto text = value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  std::size_t start = 0;
  for (auto end = text.find('\n'); end != std::string::npos; end = text.find('\n', start)) {
    out.append(text, start, end + 1 - start);
    out.append(indent, ' ');
    start = end + 1;
  }
  out.append(text, start, std::string::npos);
}

// Writes the fields of one JSON object at an indent; the caller gives the
// keys in the order nlohmann::json keeps them (sorted).
class ObjectWriter {
public:
  ObjectWriter(std::string& out, std::size_t indent) : m_out(out), m_indent(indent) { m_out += '{'; }

  // Starts the field key; the caller appends its value.
  std::string& key(std::string_view key) {
    m_out += m_empty ? "\n" : ",\n";
    m_empty = false;
    m_out.append(m_indent + 2, ' ');
    append_string(m_out, key);
    m_out += ": ";
    return m_out;
  }

  void close() {
    if (!m_empty) {
      m_out += '\n';
      m_out.append(m_indent, ' ');
    }
    m_out += '}';
  }

private:
  std::string& m_out;
  std::size_t m_indent;
  bool m_empty = true;
};

std::string xml_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
    case '<': out += "&lt;"; break;
    case '>': out += "&gt;"; break;
    case '&': out += "&amp;"; break;
    case '"': out += "&quot;"; break;
    case '\'': out += "&apos;"; break;
    default:
      // XML 1.0 forbids most control characters, even escaped.
      if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t' && c != '\r') {
        out += "?";
      } else {
        out += c;
      }
    }
  }
  return out;
}

} // namespace

nlohmann::json counts(const RunReport& report) {
  nlohmann::json out = {{"checks", report.outcomes.size()}, {"ok", 0},     {"warning", 0},
                        {"critical", 0},                    {"unknown", 0}, {"muted", 0}};
  std::array<int, 4> by_status{};
  int muted = 0;
  for (const auto& o : report.outcomes) {
    if (o.muted_by) {
      ++muted;
    } else {
      ++by_status[static_cast<std::size_t>(o.effective)];
    }
  }
  for (auto status : {probe::Status::ok, probe::Status::warning, probe::Status::critical, probe::Status::unknown}) {
    out[std::string(probe::status_name(status))] = by_status[static_cast<std::size_t>(status)];
  }
  out["muted"] = muted;
  return out;
}

std::string render_json(const RunReport& report, bool with_values) {
  std::string out = "{\n  \"results\": [";
  constexpr std::size_t k_result_indent = 4;
  bool first = true;
  for (const auto& o : report.outcomes) {
    out += first ? "\n" : ",\n";
    first = false;
    out.append(k_result_indent, ' ');
    ObjectWriter r(out, k_result_indent);
    r.key("attempts") += std::to_string(o.attempts);
    r.key("elapsed_ms") += nlohmann::json(o.result.elapsed_ms).dump();
    if (o.event_id) {
      r.key("event_id") += std::to_string(*o.event_id);
    }
    r.key("fail_after") += std::to_string(o.fail_after);
    r.key("fail_streak") += std::to_string(o.fail_streak);
    append_json(r.key("findings"), findings_json(o.verdict.findings), k_result_indent + 2);
    r.key("flapping") += o.flapping ? "true" : "false";
    append_string(r.key("message"), core::redact(o.verdict.message));
    if (o.muted_by) {
      append_string(r.key("muted_by"), *o.muted_by);
    }
    r.key("pending") += o.raw != probe::Status::ok && o.effective == probe::Status::ok ? "true" : "false";
    append_string(r.key("raw_status"), probe::status_name(o.raw));
    append_string(r.key("rule"), o.rule);
    append_string(r.key("status"), probe::status_name(o.effective));
    append_string(r.key("target"), o.target);
    if (with_values) {
      if (core::has_secrets()) {
        auto redacted = nlohmann::json::parse(
          core::redact(o.result.values.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
        append_json(r.key("values"), redacted, k_result_indent + 2);
      } else {
        append_json(r.key("values"), o.result.values, k_result_indent + 2);
      }
    }
    r.close();
    if (&o == &report.outcomes.front()) {
      // Results are much alike: room for all of them at once, rather than a
      // fresh block each time the text doubles (every page of it a fault).
      out.reserve(out.size() * report.outcomes.size() * 9 / 8 + 4096);
    }
  }
  out += first ? "]" : "\n  ]";
  out += ",\n  \"run\": ";
  append_json(out, run_json(report, counts(report)), 2);
  out += "\n}\n";
  return out;
}

nlohmann::json to_document(const RunReport& report, bool with_values) {
  auto results = nlohmann::json::array();
  for (const auto& o : report.outcomes) {
    nlohmann::json r = {{"rule", o.rule},
                        {"target", o.target},
                        {"status", probe::status_name(o.effective)},
                        {"raw_status", probe::status_name(o.raw)},
                        {"message", core::redact(o.verdict.message)},
                        {"elapsed_ms", o.result.elapsed_ms},
                        {"attempts", o.attempts},
                        {"flapping", o.flapping},
                        {"pending", o.raw != probe::Status::ok && o.effective == probe::Status::ok},
                        {"fail_streak", o.fail_streak},
                        {"fail_after", o.fail_after},
                        {"findings", findings_json(o.verdict.findings)}};
    if (o.event_id) {
      r["event_id"] = *o.event_id;
    }
    if (o.muted_by) {
      r["muted_by"] = *o.muted_by;
    }
    if (with_values) {
      r["values"] = core::has_secrets()
                      ? nlohmann::json::parse(core::redact(o.result.values.dump(
                          -1, ' ', false, nlohmann::json::error_handler_t::replace)))
                      : o.result.values;
    }
    results.push_back(std::move(r));
  }
  auto run = run_json(report, counts(results));
  return {{"run", run}, {"results", results}};
}

nlohmann::json to_document(const state::Run& run, const std::vector<state::InspectResult>& rows,
                           bool with_values) {
  auto results = nlohmann::json::array();
  for (const auto& row : rows) {
    nlohmann::json r = {{"rule", row.rule},
                        {"target", row.target},
                        {"status", row.status},
                        {"raw_status", row.raw_status},
                        {"message", row.message},
                        {"elapsed_ms", row.elapsed_ms},
                        {"attempts", row.attempts},
                        {"flapping", row.flapping},
                        {"muted", row.muted},
                        {"pending", row.raw_status != "ok" && row.status == "ok"},
                        {"at", row.at},
                        {"findings", row.detail ? nlohmann::json::parse(*row.detail) : nlohmann::json::array()}};
    if (with_values && row.values_json) {
      r["values"] = nlohmann::json::parse(*row.values_json);
    }
    if (row.evidence && !row.evidence->empty()) {
      r["evidence"] = *row.evidence;
    }
    results.push_back(std::move(r));
  }
  nlohmann::json doc_run = {{"id", run.id},
                            {"started_at", run.started_at},
                            {"finished_at", run.finished_at ? nlohmann::json(*run.finished_at) : nullptr},
                            {"status", run.status},
                            {"host", run.host ? nlohmann::json(*run.host) : nullptr},
                            {"user", run.user ? nlohmann::json(*run.user) : nullptr},
                            {"has_version", HAS_VERSION},
                            {"git_commit", run.git_commit ? nlohmann::json(*run.git_commit) : nullptr},
                            {"git_dirty", run.git_dirty ? nlohmann::json(*run.git_dirty) : nullptr},
                            {"counts", counts(results)}};
  return {{"run", doc_run}, {"results", results}};
}

nlohmann::json diff(const nlohmann::json& previous, const nlohmann::json& current) {
  std::map<std::pair<std::string, std::string>, std::string> before;
  for (const auto& r : previous.value("results", nlohmann::json::array())) {
    before[{r["rule"].get<std::string>(), r["target"].get<std::string>()}] = r["status"].get<std::string>();
  }
  nlohmann::json out = {{"new", nlohmann::json::array()}, {"still", nlohmann::json::array()},
                        {"recovered", nlohmann::json::array()}};
  for (const auto& r : current.value("results", nlohmann::json::array())) {
    auto key = std::make_pair(r["rule"].get<std::string>(), r["target"].get<std::string>());
    auto name = fmt::format("{} on {}", key.first, key.second);
    auto it = before.find(key);
    bool was_failing = it != before.end() && it->second != "ok";
    bool failing = r["status"].get<std::string>() != "ok";
    if (failing && !was_failing) {
      out["new"].push_back(name);
    } else if (failing) {
      out["still"].push_back(name);
    } else if (was_failing) {
      out["recovered"].push_back(name);
    }
  }
  return out;
}

nlohmann::json report_extras(state::Store& store, const nlohmann::json& document, int runs) {
  nlohmann::json extras = nlohmann::json::object();
  auto run_id = document["run"]["id"].get<std::int64_t>();
  state::RunRepository run_repository(store);
  state::InspectRepository results(store);
  for (const auto& run : run_repository.list(std::string("inspect"), 200)) {
    if (run.id < run_id && run.status != "running" && run.status != "interrupted") {
      extras["diff"] = diff(to_document(run, results.results_of_run(run.id), false), document);
      extras["previous_run"] = run.id;
      break;
    }
  }
  auto trend = nlohmann::json::object();
  std::set<std::string> rules;
  for (const auto& r : document["results"]) {
    rules.insert(r["rule"].get<std::string>());
  }
  for (const auto& rule : rules) {
    auto list = nlohmann::json::array();
    auto rows = results.history(rule, std::nullopt, runs);
    for (auto it = rows.rbegin(); it != rows.rend(); ++it) {
      list.push_back(it->muted ? "muted" : it->status);
    }
    trend[rule] = list;
  }
  extras["trend"] = trend;
  return extras;
}

std::string render_junit(const nlohmann::json& document) {
  std::map<std::string, std::vector<const nlohmann::json*>> by_rule;
  for (const auto& r : document["results"]) {
    by_rule[r["rule"].get<std::string>()].push_back(&r);
  }
  std::size_t failures = 0, errors = 0;
  std::string suites;
  for (const auto& [rule, results] : by_rule) {
    std::size_t suite_failures = 0, suite_errors = 0;
    double seconds = 0;
    std::string cases;
    for (const auto* r : results) {
      auto status = (*r)["status"].get<std::string>();
      double time = (*r)["elapsed_ms"].get<double>() / 1000.0;
      seconds += time;
      cases += fmt::format("    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3f}\">", xml_escape(rule),
                           xml_escape((*r)["target"].get<std::string>()), time);
      auto message = xml_escape((*r)["message"].get<std::string>());
      bool muted = r->contains("muted_by") || r->value("muted", false);
      if (muted) {
        cases += "\n      <skipped message=\"muted\"/>\n    ";
      } else if (status == "warning" || status == "critical") {
        ++suite_failures;
        cases += fmt::format("\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    ", status, message, message);
      } else if (status == "unknown") {
        ++suite_errors;
        cases += fmt::format("\n      <error type=\"unknown\" message=\"{}\">{}</error>\n    ", message, message);
      }
      cases += "</testcase>\n";
    }
    failures += suite_failures;
    errors += suite_errors;
    suites += fmt::format("  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{:.3f}\">\n{}  </testsuite>\n",
                          xml_escape(rule), results.size(), suite_failures, suite_errors, seconds, cases);
  }
  const auto& run = document["run"];
  return fmt::format("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"has inspect\" tests=\"{}\" "
                     "failures=\"{}\" errors=\"{}\" timestamp=\"{}\">\n{}</testsuites>\n",
                     document["results"].size(), failures, errors,
                     xml_escape(run["started_at"].is_string() ? run["started_at"].get<std::string>() : ""), suites);
}

} // namespace has::inspect
