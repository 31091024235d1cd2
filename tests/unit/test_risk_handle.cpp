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
