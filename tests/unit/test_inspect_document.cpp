#include <has/core/redact.hpp>
#include <has/inspect/document.hpp>
#include <has/report/render.hpp>

#include <doctest/doctest.h>

using has::inspect::Outcome;
using has::inspect::RunReport;
using has::probe::Status;

namespace {

RunReport sample_report() {
  RunReport report;
  report.run_id = 42;
  report.started_at = "2026-11-25T10:00:00Z";
  report.finished_at = "2026-11-25T10:00:01Z";
  report.worst = Status::critical;
  report.provenance.host = "box";
  report.provenance.user = "ops";
  report.provenance.git_commit = "abc123";
  report.provenance.git_dirty = true;

  Outcome ok;
  ok.rule = "page-1";
  ok.target = "local";
  ok.verdict.message = "HTTP 200 in 4 ms";
  ok.result.elapsed_ms = 3.959;
  ok.result.values = {{"status", 200},
                      {"elapsed_ms", 3.959},
                      {"url", "http://127.0.0.1/?i=1"},
                      {"headers", {{"content-type", "text/html"}, {"x-quote", "say \"hi\"\\now"}}},
                      {"body", "<h1>Service is UP</h1>\n\ttabbed\x01 and caf\xc3\xa9"},
                      {"broken", std::string("bad \xff\xfe utf-8")},
                      {"empty", nlohmann::json::object()},
                      {"list", {1, 2.5, nullptr, false, nlohmann::json::array()}},
                      {"json", {{"data", {{"ready", true}, {"ratio", 5.0}, {"tiny", 1e-7}}}}}};
  report.outcomes.push_back(ok);

  Outcome failing;
  failing.rule = "api \"health\"";
  failing.target = "web-1";
  failing.raw = Status::critical;
  failing.effective = Status::critical;
  failing.verdict.status = Status::critical;
  failing.verdict.message = "expected status == 200, got status=503";
  failing.verdict.findings.push_back({"expect", "status == 200", false, {{"status", 503}}, {}});
  failing.verdict.findings.push_back({"warning", "elapsed_ms ~:300", false, nlohmann::json::object(), "no value"});
  failing.result.elapsed_ms = 12;
  failing.result.values = {{"status", 503}};
  failing.attempts = 3;
  failing.fail_streak = 2;
  failing.fail_after = 3;
  failing.flapping = true;
  failing.event_id = 7;
  report.outcomes.push_back(failing);

  Outcome pending = failing;
  pending.rule = "muted";
  pending.effective = Status::ok;
  pending.event_id.reset();
  pending.muted_by = "maintenance";
  pending.verdict.findings.clear();
  report.outcomes.push_back(pending);
  return report;
}

std::string via_document(const RunReport& report, bool with_values) {
  return has::report::render_json(has::inspect::to_document(report, with_values));
}

} // namespace

TEST_CASE("inspect: the JSON of a run is the text of its document") {
  auto report = sample_report();
  CHECK(has::inspect::render_json(report, true) == via_document(report, true));
  CHECK(has::inspect::render_json(report, false) == via_document(report, false));
}

TEST_CASE("inspect: the JSON of a run without checks is the text of its document") {
  RunReport report;
  report.run_id = 1;
  CHECK(has::inspect::render_json(report, true) == via_document(report, true));
}

TEST_CASE("inspect: the counts of a run are those of its document") {
  auto report = sample_report();
  CHECK(has::inspect::counts(report) == has::inspect::to_document(report, false)["run"]["counts"]);
  CHECK(has::inspect::counts(report)["muted"] == 1);
  CHECK(has::inspect::counts(report)["critical"] == 1);
}

TEST_CASE("inspect: the JSON of a run hides secrets in values as its document does") {
  has::core::register_secret("s3cret-document-token");
  auto report = sample_report();
  report.outcomes[0].result.values["headers"]["authorization"] = "Bearer s3cret-document-token";
  auto text = has::inspect::render_json(report, true);
  CHECK(text == via_document(report, true));
  CHECK(text.find("s3cret-document-token") == std::string::npos);
}
