#include <has/risk/handle.hpp>
#include <has/state/inspect.hpp>

#include <doctest/doctest.h>

namespace {

has::state::Event event_of(std::string source, std::string severity, std::string labels, std::string title = "t") {
  has::state::Event event;
  event.source = std::move(source);
  event.severity = std::move(severity);
  event.labels = std::move(labels);
  event.title = std::move(title);
  return event;
}

} // namespace

TEST_CASE("risk: a scenario's match needs every part it gives") {
  has::defs::ScenarioMatch match;
  CHECK(has::risk::matches(match, event_of("inspect", "warning", "{}"))); // an empty match covers everything
  match.source = "inspect";
  match.severities = {"critical"};
  match.labels = {{"rule", "web*"}, {"target", "db1"}};
  CHECK(has::risk::matches(match, event_of("inspect", "critical", R"({"rule": "web-health", "target": "db1"})")));
  CHECK(has::risk::matches(match, event_of("inspect", "critical", R"({"rule": "web", "target": "db1"})")));
  CHECK_FALSE(has::risk::matches(match, event_of("json", "critical", R"({"rule": "web", "target": "db1"})")));
  CHECK_FALSE(has::risk::matches(match, event_of("inspect", "warning", R"({"rule": "web", "target": "db1"})")));
  CHECK_FALSE(has::risk::matches(match, event_of("inspect", "critical", R"({"rule": "api", "target": "db1"})")));
  CHECK_FALSE(has::risk::matches(match, event_of("inspect", "critical", R"({"rule": "web", "target": "db10"})")));
  CHECK_FALSE(has::risk::matches(match, event_of("inspect", "critical", R"({"rule": "web"})")));
  CHECK_FALSE(has::risk::matches(match, event_of("inspect", "critical", "not json")));
  has::defs::ScenarioMatch titled;
  titled.title = "disk";
  CHECK(has::risk::matches(titled, event_of("x", "warning", "{}", "root disk full on db1")));
  CHECK_FALSE(has::risk::matches(titled, event_of("x", "warning", "{}", "memory low")));
}

TEST_CASE("risk: the first scenario that matches covers the event") {
  has::defs::Definitions definitions;
  has::defs::Scenario narrow;
  narrow.header.name = "narrow";
  narrow.match.labels = {{"rule", "web"}};
  has::defs::Scenario wide;
  wide.header.name = "wide";
  definitions.scenarios = {narrow, wide};
  CHECK(has::risk::find_scenario(definitions, event_of("inspect", "critical", R"({"rule": "web"})"))->header.name ==
        "narrow");
  CHECK(has::risk::find_scenario(definitions, event_of("inspect", "critical", R"({"rule": "db"})"))->header.name ==
        "wide");
  definitions.scenarios = {narrow};
  CHECK(has::risk::find_scenario(definitions, event_of("inspect", "critical", R"({"rule": "db"})")) == nullptr);
}

#include <has/risk/review.hpp>

TEST_CASE("risk: a review's figures come from the timeline") {
  has::state::Event event;
  event.id = 1;
  event.first_seen = "2026-11-25T10:00:00.000Z";
  event.status = "resolved";
  event.resolved_at = "2026-11-25T10:30:00.000Z";
  auto line = [](std::string at, std::string kind, std::string text, std::optional<std::int64_t> run = {},
                 std::optional<std::string> data = {}) {
    has::state::TimelineEntry entry;
    entry.at = std::move(at);
    entry.kind = std::move(kind);
    entry.text = std::move(text);
    entry.run_id = run;
    entry.data = std::move(data);
    entry.user = "ann";
    return entry;
  };
  std::vector<has::state::TimelineEntry> timeline{
    line("2026-11-25T10:00:00.000Z", "opened", "opened: x (critical)"),
    line("2026-11-25T10:02:00.000Z", "acknowledged", "acknowledged by ann"),
    line("2026-11-25T10:05:00.000Z", "diagnosis", "tree t: disk full (critical)", 2),
    line("2026-11-25T10:06:00.000Z", "plan", "plan clean started", 3, R"({"state": "running"})"),
    line("2026-11-25T10:07:00.000Z", "plan", "plan clean failed: step x", 3, R"({"state": "failed"})"),
    line("2026-11-25T10:10:00.000Z", "plan", "plan restart started", 4, R"({"state": "running"})"),
    line("2026-11-25T10:12:00.000Z", "plan", "plan restart succeeded", 4, R"({"state": "succeeded"})"),
    line("2026-11-25T10:12:00.000Z", "heal", "self-healing ran plan restart (run 4): succeeded", 4),
  };
  auto review = has::risk::review(event, timeline);
  using std::chrono::minutes;
  CHECK(review.to_acknowledge == minutes(2));
  CHECK(review.to_diagnose == minutes(5));
  CHECK(review.to_mitigate == minutes(12));
  CHECK(review.to_resolve == minutes(30));
  REQUIRE(review.actions.size() == 2);
  CHECK(review.actions[0].plan == "clean");
  CHECK(review.actions[0].state == "failed");
  CHECK_FALSE(review.actions[0].automatic);
  CHECK(review.actions[1].plan == "restart");
  CHECK(review.actions[1].automatic);
  CHECK(review.healed);
  CHECK(review.diagnoses == std::vector<std::string>{"tree t: disk full (critical)"});
  event.status = "open";
  CHECK_FALSE(has::risk::review(event, {}).to_resolve);
}

TEST_CASE("risk: stats count events and summarize their times") {
  auto event_of = [](std::string source, std::string severity, std::string status, std::optional<std::string> level) {
    has::state::Event event;
    event.source = std::move(source);
    event.severity = std::move(severity);
    event.status = std::move(status);
    event.level = std::move(level);
    return event;
  };
  using std::chrono::milliseconds;
  has::risk::Review quick;
  quick.to_resolve = milliseconds(1000);
  quick.to_acknowledge = milliseconds(100);
  quick.healed = true;
  has::risk::Review slow;
  slow.to_resolve = milliseconds(5000);
  has::risk::Review open;
  auto stats = has::risk::stats({event_of("inspect", "critical", "resolved", "P1"),
                                 event_of("inspect", "warning", "resolved", std::nullopt),
                                 event_of("alertmanager", "critical", "open", "P1")},
                                {quick, slow, open});
  CHECK(stats.events == 3);
  CHECK(stats.open == 1);
  CHECK(stats.healed == 1);
  CHECK(stats.by_source == std::map<std::string, std::size_t>{{"alertmanager", 1}, {"inspect", 2}});
  CHECK(stats.by_level == std::map<std::string, std::size_t>{{"-", 1}, {"P1", 2}});
  CHECK(stats.to_resolve.count == 2);
  CHECK(stats.to_resolve.mean == milliseconds(3000));
  CHECK(stats.to_resolve.median == milliseconds(5000));
  CHECK(stats.to_resolve.worst == milliseconds(5000));
  CHECK(stats.to_acknowledge.count == 1);
  CHECK(stats.to_mitigate.count == 0);
  CHECK_FALSE(stats.to_mitigate.mean);
}
