#include <has/core/error.hpp>
#include <has/notify/digest.hpp>

#include <doctest/doctest.h>

using namespace has::notify;
using has::probe::Status;

namespace {

DigestItem item(std::string rule, std::string target, Status status, Change transition, std::string message = "") {
  DigestItem out;
  out.rule = std::move(rule);
  out.target = std::move(target);
  out.status = status;
  out.transition = transition;
  out.message = std::move(message);
  return out;
}

} // namespace

TEST_CASE("notify: a digest lists newly failing / changed / still failing and recovered - with counts") {
  std::vector<DigestItem> items = {
    item("api-health", "web1", Status::critical, Change::failing, "HTTP 503\nService Unavailable"),
    item("disk", "db1", Status::critical, Change::changed_severity, "/ is 97% full"),
    item("cert", "api", Status::warning, Change::none, "12 days left"),
    item("api-health", "web2", Status::ok, Change::recovered),
    item("ntp", "", Status::ok, Change::none),
    item("backup", "db1", Status::critical, Change::failing, "muted"),
  };
  items.back().muted = true;
  DigestOptions options;
  options.run_id = 42;
  options.link = "https://reports.example/run/42";
  const Message m = digest(items, options);
  CHECK(m.title == "[CRITICAL] has inspect: 1 newly failing, 1 changed severity, 1 still failing, 1 recovered");
  CHECK(m.status == Status::critical);
  CHECK(m.key == "inspect-run-42");
  CHECK(m.link == "https://reports.example/run/42");
  CHECK(m.text == "**Newly failing (1)**\n"
                  "- **CRITICAL** api-health on web1: HTTP 503 Service Unavailable\n"
                  "\n**Severity changed (1)**\n"
                  "- **CRITICAL** disk on db1: / is 97% full\n"
                  "\n**Still failing (1)**\n"
                  "- **WARNING** cert on api: 12 days left\n"
                  "\n**Recovered (1)**\n"
                  "- **OK** api-health on web2\n"
                  "\nChecks: 6 · ok 2 · warning 1 · critical 2 · unknown 0 · muted 1");
  CHECK(m.counts.at("newly_failing") == 1);
  CHECK(m.counts.at("severity_changed") == 1);
  CHECK(m.counts.at("still_failing") == 1);
  CHECK(m.counts.at("recovered") == 1);
  CHECK(m.counts.at("muted") == 1);
  CHECK(m.counts.at("checks") == 6);
}

TEST_CASE("notify: a quiet digest says all is ok - long sections are counted - not listed") {
  std::vector<DigestItem> ok = {item("a", "h", Status::ok, Change::none), item("b", "h", Status::ok, Change::none)};
  const Message quiet = digest(ok, {});
  CHECK(quiet.title == "[OK] has inspect: all 2 checks ok");
  CHECK(quiet.status == Status::ok);
  CHECK(quiet.key.empty());
  CHECK(quiet.text == "Checks: 2 · ok 2 · warning 0 · critical 0 · unknown 0 · muted 0");

  std::vector<DigestItem> many;
  for (int i = 0; i < 30; ++i) {
    many.push_back(item("r" + std::to_string(i), "h", Status::unknown, Change::failing, std::string(500, 'x')));
  }
  DigestOptions options;
  options.max_per_section = 5;
  const Message busy = digest(many, options);
  CHECK(busy.title == "[UNKNOWN] has inspect: 30 newly failing");
  CHECK(busy.text.find("- … and 25 more\n") != std::string::npos);
  CHECK(busy.text.find("r5 on") == std::string::npos);
  // One result's message is cut to one short line.
  CHECK(busy.text.find(std::string(201, 'x')) == std::string::npos);
}

TEST_CASE("notify: a digest is sent on changes unless the notifier wants every run") {
  std::vector<DigestItem> steady = {item("a", "h", Status::critical, Change::none)};
  std::vector<DigestItem> changed = {item("a", "h", Status::ok, Change::recovered)};
  std::vector<DigestItem> muted_change = {item("a", "h", Status::critical, Change::failing)};
  muted_change[0].muted = true;
  CHECK_FALSE(should_send(steady, has::defs::NotifyMode::changes));
  CHECK(should_send(changed, has::defs::NotifyMode::changes));
  CHECK_FALSE(should_send(muted_change, has::defs::NotifyMode::changes));
  CHECK(should_send(steady, has::defs::NotifyMode::always));
  CHECK(should_send({}, has::defs::NotifyMode::always));
}

TEST_CASE("notify: digest items come from an inspection document") {
  const auto document = nlohmann::json::parse(R"({
    "run": {"id": 7, "status": "critical"},
    "results": [
      {"rule": "api", "target": "web1", "status": "critical", "raw_status": "critical", "message": "down",
       "pending": false, "transition": "failing"},
      {"rule": "disk", "target": "db1", "status": "warning", "raw_status": "warning", "message": "91%",
       "muted_by": "maintenance"},
      {"rule": "ntp", "target": "local", "status": "ok", "raw_status": "ok", "message": "", "muted": false}
    ]})");
  const auto items = digest_items(document);
  REQUIRE(items.size() == 3);
  CHECK(items[0].rule == "api");
  CHECK(items[0].target == "web1");
  CHECK(items[0].status == Status::critical);
  CHECK(items[0].transition == Change::failing);
  CHECK(items[0].message == "down");
  CHECK(items[1].muted);
  CHECK(items[1].transition == Change::none);
  CHECK_FALSE(items[2].muted);
  CHECK_THROWS_AS(digest_items(nlohmann::json::object()), has::core::Error);
}
