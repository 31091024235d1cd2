#include <has/risk/dispatcher.hpp>
#include <has/state/clock.hpp>
#include <has/state/inspect.hpp>
#include <has/state/store.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>

#include <atomic>

TEST_CASE("risk: the dispatcher handles each queued event once on its own thread") {
  has::test::TempDir dir;
  const auto file = dir.path() / "state.db";
  std::int64_t id = 0;
  {
    auto store = has::state::Store::open(file);
    has::state::Event event;
    event.fingerprint = "f";
    event.source = "json";
    event.title = "t";
    event.severity = "warning";
    event.first_seen = event.last_seen = has::state::now_iso8601();
    id = has::state::EventRepository(store).raise(event).first;
  }
  has::defs::Definitions definitions;
  has::defs::Scenario scenario;
  scenario.header.name = "all";
  definitions.scenarios = {scenario};

  std::atomic<int> done{0};
  std::string seen_scenario;
  has::risk::Dispatcher dispatcher(definitions, file, {},
                                   [&](std::int64_t handled_id, const has::risk::Handled* handled, const std::string&) {
                                     CHECK(handled_id == id);
                                     REQUIRE(handled != nullptr);
                                     seen_scenario = handled->scenario;
                                     ++done;
                                   });
  dispatcher.add({{"json:json:f", id, "opened"}, {"json:json:g", std::nullopt, "not_open"}});
  dispatcher.wait_idle();
  CHECK(done == 1);
  CHECK(seen_scenario == "all");
  // Reported again (updated, still a warning): it was handled, so it is skipped.
  dispatcher.add({{"json:json:f", id, "updated"}});
  dispatcher.wait_idle();
  CHECK(done == 1);
  auto store = has::state::Store::open(file);
  auto event = has::state::EventRepository(store).get(id);
  REQUIRE(event);
  CHECK(event->handled_at);
}
