#include <has/state/clock.hpp>

#include <doctest/doctest.h>

#include <chrono>

using namespace std::chrono;

TEST_CASE("state: format_iso8601 is UTC with milliseconds") {
  const sys_days day = 2024y / March / 5;
  CHECK(has::state::format_iso8601(day + 13h + 4min + 5s + 67ms) == "2024-03-05T13:04:05.067Z");
  CHECK(has::state::format_iso8601(system_clock::time_point{}) == "1970-01-01T00:00:00.000Z");
  // Sub-millisecond parts are dropped, never rounded up.
  CHECK(has::state::format_iso8601(day + 999999us) == "2024-03-05T00:00:00.999Z");
  CHECK(has::state::format_iso8601(system_clock::time_point{} - 1ms) ==
        "1969-12-31T23:59:59.999Z");
}

TEST_CASE("state: now_iso8601 is the current time") {
  const auto before = has::state::format_iso8601(system_clock::now());
  const auto now = has::state::now_iso8601();
  const auto after = has::state::format_iso8601(system_clock::now());
  CHECK(now.size() == 24);
  CHECK(before <= now);
  CHECK(now <= after);
}
