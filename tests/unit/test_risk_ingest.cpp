#include <has/core/error.hpp>
#include <has/risk/ingest.hpp>
#include <has/state/inspect.hpp>
#include <has/state/store.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>

using has::risk::Format;
using has::risk::parse;

namespace {

// The shape of Alertmanager's webhook (version 4), as its documentation gives it.
constexpr const char* k_webhook = R"({
  "version": "4", "groupKey": "{}:{alertname=\"Disk\"}", "truncatedAlerts": 0, "status": "firing",
  "receiver": "has", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am",
  "alerts": [
    {"status": "firing", "labels": {"alertname": "Disk", "instance": "db1", "severity": "page"},
     "annotations": {"summary": "disk 95% on db1", "description": "/var"},
     "startsAt": "2026-11-25T12:00:00.5+02:00", "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "g",
     "fingerprint": "ab12"},
    {"status": "resolved", "labels": {"alertname": "Load", "severity": "weird"}, "annotations": {},
     "startsAt": "2026-11-25T09:00:00Z", "endsAt": "2026-11-25T09:05:00Z", "generatorURL": "g"}
  ]})";

int exit_of(const std::string& body, Format format = Format::automatic) {
  try {
    parse(body, format);
  } catch (const has::core::Error& e) {
    return has::core::to_int(e.code());
  }
  return 0;
}

} // namespace

TEST_CASE("risk: an Alertmanager webhook gives one alert per entry") {
  auto alerts = parse(k_webhook, Format::automatic);
  REQUIRE(alerts.size() == 2);
  CHECK(alerts[0].fingerprint == "alertmanager:ab12");
  CHECK(alerts[0].source == "alertmanager");
  CHECK(alerts[0].action == "firing");
  CHECK(alerts[0].title == "disk 95% on db1");
  CHECK(alerts[0].message == "/var");
  CHECK(alerts[0].severity == "critical");
  CHECK(alerts[0].at == "2026-11-25T10:00:00.500Z");
  CHECK(alerts[0].labels["instance"] == "db1");
  // No fingerprint: one made from the labels, the same every time.
  CHECK(alerts[1].fingerprint.rfind("alertmanager:", 0) == 0);
  CHECK(alerts[1].fingerprint == parse(k_webhook, Format::alertmanager)[1].fingerprint);
  CHECK(alerts[1].action == "resolved");
  CHECK(alerts[1].title == "Load");
  CHECK(alerts[1].severity == "unknown");
  CHECK(alerts[1].at == "2026-11-25T09:05:00.000Z");
}

TEST_CASE("risk: PagerDuty v2 trigger / acknowledge / resolve") {
  auto trigger = parse(R"({"routing_key": "r", "event_action": "trigger", "dedup_key": "k1",
    "payload": {"summary": "s", "source": "h", "severity": "warning", "group": "g",
                "timestamp": "2026-11-25T08:00:00Z", "custom_details": "details"}})",
                       Format::automatic);
  REQUIRE(trigger.size() == 1);
  CHECK(trigger[0].fingerprint == "pagerduty:k1");
  CHECK(trigger[0].action == "firing");
  CHECK(trigger[0].severity == "warning");
  CHECK(trigger[0].labels == nlohmann::json{{"group", "g"}, {"source", "h"}});
  CHECK(trigger[0].message == "details");
  CHECK(trigger[0].at == "2026-11-25T08:00:00.000Z");
  // Without a dedup_key the summary and source name the event.
  auto a = parse(R"({"event_action": "trigger", "payload": {"summary": "s", "source": "h"}})", Format::pagerduty);
  auto b = parse(R"({"event_action": "trigger", "payload": {"summary": "s", "source": "h"}})", Format::pagerduty);
  CHECK(a[0].fingerprint == b[0].fingerprint);
  CHECK(parse(R"({"event_action": "acknowledge", "dedup_key": "k1"})", Format::automatic)[0].action == "acknowledged");
  CHECK(parse(R"({"event_action": "resolve", "dedup_key": "k1"})", Format::automatic)[0].action == "resolved");
}

TEST_CASE("risk: has's JSON events are checked field by field") {
  auto events = parse(R"([{"title": "t", "labels": {"a": "1", "n": 2}}, {"title": "u", "status": "resolved",
                          "fingerprint": "f", "source": "cron", "severity": "CRITICAL"}])",
                      Format::json);
  REQUIRE(events.size() == 2);
  CHECK(events[0].source == "json");
  CHECK(events[0].severity == "warning");
  CHECK(events[0].labels == nlohmann::json{{"a", "1"}, {"n", "2"}});
  CHECK(events[1].fingerprint == "json:cron:f");
  CHECK(events[1].severity == "critical");
  CHECK(events[1].action == "resolved");

  CHECK(exit_of("{") == 65);
  CHECK(exit_of(R"({"title": "t", "unknown": 1})") == 65);
  CHECK(exit_of(R"({"title": 5})") == 65);
  CHECK(exit_of(R"({"title": "t", "status": "maybe"})") == 65);
  CHECK(exit_of(R"({"title": "t", "labels": {"a": {"b": 1}}})") == 65);
  CHECK(exit_of(R"({"title": "t", "at": "noon"})") == 65);
  CHECK(exit_of(R"({"status": "resolved", "fingerprint": "f"})") == 0);
  CHECK(exit_of(R"({"status": "firing", "fingerprint": "f"})") == 65);
  CHECK(exit_of(R"({"alerts": {}})") == 65);
  CHECK(exit_of(R"({"alerts": [{"status": "pending"}]})") == 65);
  CHECK(exit_of(R"({"event_action": "resolve"})") == 65);
  CHECK(exit_of(R"({"event_action": "trigger", "payload": {}})") == 65);
  CHECK(exit_of("[1]", Format::alertmanager) == 65);
}

TEST_CASE("risk: applying alerts opens / updates / resolves / acknowledges events") {
  has::test::TempDir dir;
  auto store = has::state::Store::open(dir.path() / "state.db");
  auto first = has::risk::apply(store, parse(k_webhook, Format::automatic));
  REQUIRE(first.size() == 2);
  CHECK(first[0].outcome == "opened");
  CHECK(first[1].outcome == "not_open"); // resolved, and nothing was open
  CHECK(has::risk::apply(store, parse(k_webhook, Format::automatic))[0].outcome == "updated");
  has::state::EventRepository events(store);
  auto event = events.get(*first[0].event_id);
  REQUIRE(event);
  CHECK(event->count == 2);
  CHECK(event->first_seen == "2026-11-25T10:00:00.500Z");
  CHECK(event->source == "alertmanager");

  auto opened = has::risk::apply(
    store, parse(R"({"event_action": "trigger", "dedup_key": "q", "payload": {"summary": "s"}})", Format::automatic));
  auto acked = has::risk::apply(store, parse(R"({"event_action": "acknowledge", "dedup_key": "q"})", Format::automatic));
  CHECK(acked[0].outcome == "acknowledged");
  CHECK(acked[0].event_id == opened[0].event_id);
  CHECK(events.get(*opened[0].event_id)->acknowledged_by == "pagerduty");
  auto resolved = has::risk::apply(store, parse(R"({"event_action": "resolve", "dedup_key": "q"})", Format::automatic));
  CHECK(resolved[0].outcome == "resolved");
  CHECK(events.get(*opened[0].event_id)->status == "resolved");
  auto lines = events.timeline(*opened[0].event_id);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].kind == "opened");
  CHECK(lines[1].kind == "acknowledged");
  CHECK(lines[2].kind == "resolved");
}
