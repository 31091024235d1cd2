#include <has/inspect/evaluate.hpp>

#include <doctest/doctest.h>

using has::inspect::Check;
using has::inspect::evaluate;
using has::inspect::referenced_names;
using has::probe::Status;

namespace {

Check make_check(std::vector<std::string> expectations) {
  Check check;
  check.rule = "r";
  check.target = "t";
  check.spec.kind = "http";
  for (auto& text : expectations) {
    check.expect.push_back({text, {"r.yaml", 3, 5}});
  }
  check.context = {{"target", {{"name", "t"}, {"address", "127.0.0.1"}}}};
  return check;
}

has::probe::Result http_result(int status, double elapsed) {
  has::probe::Result result;
  result.values = {{"status", status}, {"elapsed_ms", elapsed}, {"body", "all OK here"},
                   {"json", {{"data", {{"ready", true}}}}}};
  result.message = "HTTP";
  return result;
}

} // namespace

TEST_CASE("inspect: referenced names skip keywords / strings and methods") {
  CHECK(referenced_names("status == 200 and json.data.ready == true") ==
        std::vector<std::string>{"status", "json.data.ready"});
  CHECK(referenced_names("body:find(\"status\") ~= nil") == std::vector<std::string>{"body"});
  CHECK(referenced_names("exists(json, 'a.b') or len(body) > 3") == std::vector<std::string>{"json", "body"});
  CHECK(referenced_names("string.format('%d', x) == '1'") == std::vector<std::string>{"string", "x"});
}

TEST_CASE("inspect: passing expectations leave the result ok") {
  has::expr::Engine engine;
  auto check = make_check({"status == 200", "json.data.ready == true", "body:find('OK')"});
  auto verdict = evaluate(engine, check, http_result(200, 12), false);
  CHECK(verdict.status == Status::ok);
  CHECK(verdict.findings.empty());
  auto explained = evaluate(engine, check, http_result(200, 12), true);
  REQUIRE(explained.findings.size() == 4);
  CHECK(explained.findings[0].values["status"] == 200);
  CHECK(explained.findings[3].kind == "default"); // says the expectations decided
}

TEST_CASE("inspect: a failed expectation takes the rule's severity and shows the values") {
  has::expr::Engine engine;
  auto check = make_check({"status == 200"});
  check.severity = has::defs::RuleSeverity::warning;
  auto verdict = evaluate(engine, check, http_result(503, 12), false);
  CHECK(verdict.status == Status::warning);
  CHECK(verdict.message == "expected status == 200, got status=503");
  REQUIRE(verdict.findings.size() == 1);
  CHECK(verdict.findings[0].values["status"] == 503);
}

TEST_CASE("inspect: naming a value the probe did not produce is unknown - not false") {
  has::expr::Engine engine;
  auto check = make_check({"json.data.missing == 1"});
  auto verdict = evaluate(engine, check, http_result(200, 1), false);
  CHECK(verdict.status == Status::unknown);
  CHECK(verdict.message.find("has no field 'missing'") != std::string::npos);
}

TEST_CASE("inspect: critical thresholds are checked before warning ones") {
  has::expr::Engine engine;
  auto check = make_check({});
  check.warning.push_back({"elapsed_ms", has::defs::parse_range("~:300")});
  check.critical.push_back({"elapsed_ms", has::defs::parse_range("~:1000")});
  CHECK(evaluate(engine, check, http_result(200, 100), false).status == Status::ok);
  auto warn = evaluate(engine, check, http_result(200, 500), false);
  CHECK(warn.status == Status::warning);
  CHECK(warn.message == "elapsed_ms 500.0 is outside the warning range ~:300");
  auto crit = evaluate(engine, check, http_result(200, 5000), false);
  CHECK(crit.status == Status::critical);
  CHECK(crit.findings.size() == 1);
  check.warning.push_back({"nosuch", has::defs::parse_range("10")});
  CHECK(evaluate(engine, check, http_result(200, 1), false).status == Status::unknown);
}

TEST_CASE("inspect: the probe's own failure stands and expectations are not evaluated") {
  has::expr::Engine engine;
  auto check = make_check({"status == 200"});
  has::probe::Result down;
  down.status = Status::critical;
  down.message = "connection refused";
  auto verdict = evaluate(engine, check, down, false);
  CHECK(verdict.status == Status::critical);
  CHECK(verdict.message == "connection refused");
  check.severity = has::defs::RuleSeverity::warning;
  CHECK(evaluate(engine, check, down, false).status == Status::warning);
  down.status = Status::unknown;
  CHECK(evaluate(engine, check, down, false).status == Status::unknown);
}

TEST_CASE("inspect: without expectations the probe's default verdict decides") {
  has::expr::Engine engine;
  auto check = make_check({});
  auto result = http_result(503, 12);
  result.by_default = {Status::critical, "http status 503 is 5xx", {}};
  auto verdict = evaluate(engine, check, result, false);
  CHECK(verdict.status == Status::critical);
  CHECK(verdict.message == "default: http status 503 is 5xx -> critical");
  REQUIRE(verdict.findings.size() == 1);
  CHECK(verdict.findings[0].kind == "default");
  CHECK_FALSE(verdict.findings[0].passed);

  check.severity = has::defs::RuleSeverity::warning;
  CHECK(evaluate(engine, check, result, false).status == Status::warning);

  result.by_default = {Status::ok, "http status 200 is 2xx", {}};
  auto passed = evaluate(engine, check, result, true);
  CHECK(passed.status == Status::ok);
  REQUIRE(passed.findings.size() == 1);
  CHECK(passed.findings[0].text == "default: http status 200 is 2xx -> ok");
  CHECK(passed.findings[0].passed);
}

TEST_CASE("inspect: with expectations the default does not apply - and --explain says so") {
  has::expr::Engine engine;
  auto check = make_check({"status == 503"});
  auto result = http_result(503, 12);
  result.by_default = {Status::critical, "http status 503 is 5xx", {}};
  CHECK(evaluate(engine, check, result, false).status == Status::ok);
  auto explained = evaluate(engine, check, result, true);
  CHECK(explained.status == Status::ok);
  bool said = false;
  for (const auto& finding : explained.findings) {
    said = said || (finding.kind == "default" && finding.text.starts_with("not applied: the expectations decide"));
  }
  CHECK(said);
}

TEST_CASE("inspect: default limits judge a reading unless the rule has thresholds") {
  has::expr::Engine engine;
  auto check = make_check({});
  check.spec.kind = "system";
  has::probe::Result result;
  result.values = {{"used_percent", 96.3}, {"inodes_used_percent", 91.0}, {"days_left", 12}};
  using Bound = has::probe::DefaultLimit::Bound;
  result.by_default.limits = {{"used_percent", Bound::above, 90, 95}, {"inodes_used_percent", Bound::above, 90, 95}};
  auto verdict = evaluate(engine, check, result, false);
  CHECK(verdict.status == Status::critical);
  CHECK(verdict.message == "default: used_percent 96.3 is above 95 -> critical");
  CHECK(verdict.findings.size() == 2); // inodes: warning

  result.values["used_percent"] = 40;
  result.values["inodes_used_percent"] = 10;
  auto fine = evaluate(engine, check, result, true);
  CHECK(fine.status == Status::ok);
  REQUIRE(fine.findings.size() == 2);
  CHECK(fine.findings[0].text == "default: used_percent 40 is not above 90 -> ok");

  result.by_default.limits = {{"days_left", Bound::below, 30, 7}};
  CHECK(evaluate(engine, check, result, false).status == Status::warning);
  CHECK(evaluate(engine, check, result, false).message == "default: days_left 12 is below 30 -> warning");

  // The rule's own thresholds replace the default limits.
  result.values["used_percent"] = 96.3;
  result.by_default.limits = {{"used_percent", Bound::above, 90, 95}};
  check.warning.push_back({"used_percent", has::defs::parse_range("~:99")});
  CHECK(evaluate(engine, check, result, false).status == Status::ok);
}

namespace {

// Returns the texts of the findings of a kind.
std::vector<std::string> texts(const has::inspect::Verdict& verdict, std::string_view kind) {
  std::vector<std::string> out;
  for (const auto& finding : verdict.findings) {
    if (finding.kind == kind) {
      out.push_back(finding.text);
    }
  }
  return out;
}

} // namespace

TEST_CASE("inspect: --explain says which verdict applied - also where the probe's status is all of it") {
  has::expr::Engine engine;
  auto check = make_check({});
  check.spec.kind = "tcp";
  has::probe::Result connected;
  connected.values = {{"connected", true}, {"elapsed_ms", 1.5}};
  CHECK(evaluate(engine, check, connected, false).findings.empty());
  auto bare = evaluate(engine, check, connected, true);
  CHECK(bare.status == Status::ok);
  CHECK(texts(bare, "default") == std::vector<std::string>{"default: tcp probe's own status -> ok"});

  check.expect.push_back({"connected", {"r.yaml", 3, 5}});
  auto judged = evaluate(engine, check, connected, true);
  CHECK(texts(judged, "default") ==
        std::vector<std::string>{"the tcp probe's own status stands (ok); the expectations add conditions"});
}

TEST_CASE("inspect: --explain names expect_status when it judged an http answer") {
  has::expr::Engine engine;
  auto check = make_check({});
  auto result = http_result(204, 3);
  result.field_verdict = "http status 204 is in expect_status 200, 204";
  auto bare = evaluate(engine, check, result, true);
  CHECK(bare.status == Status::ok);
  CHECK(texts(bare, "probe") == std::vector<std::string>{"http status 204 is in expect_status 200, 204"});
  CHECK(texts(bare, "default").empty()); // no default applied, and no "own status" line either

  check.expect.push_back({"status == 204", {"r.yaml", 3, 5}});
  auto judged = evaluate(engine, check, result, true);
  CHECK(texts(judged, "probe") == std::vector<std::string>{"http status 204 is in expect_status 200, 204"});
  CHECK(texts(judged, "default") ==
        std::vector<std::string>{"not applied: the expectations decide, not the http probe's default verdict"});
}

TEST_CASE("inspect: when the probe failed --explain says the expectations were not evaluated") {
  has::expr::Engine engine;
  has::probe::Result down;
  down.status = Status::critical;
  down.message = "connection refused";
  auto check = make_check({"status == 200"});
  CHECK(texts(evaluate(engine, check, down, false), "probe") == std::vector<std::string>{"http probe: connection refused"});
  CHECK(texts(evaluate(engine, check, down, true), "probe") ==
        std::vector<std::string>{"http probe: connection refused; its expectations were not evaluated"});
  check.warning.push_back({"elapsed_ms", has::defs::parse_range("~:300")});
  CHECK(texts(evaluate(engine, check, down, true), "probe") ==
        std::vector<std::string>{"http probe: connection refused; its expectations and thresholds were not evaluated"});
  check.expect.clear();
  CHECK(texts(evaluate(engine, check, down, true), "probe") ==
        std::vector<std::string>{"http probe: connection refused; its thresholds were not evaluated"});
}
