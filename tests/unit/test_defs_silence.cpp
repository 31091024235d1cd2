#include <has/core/error.hpp>
#include <has/defs/loader.hpp>
#include <has/defs/units.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <ctime>

using has::defs::parse_clock;
using has::defs::parse_time;

namespace {

std::time_t seconds(std::chrono::system_clock::time_point t) { return std::chrono::system_clock::to_time_t(t); }

} // namespace

TEST_CASE("defs: ISO-8601 times need a zone and honour offsets") {
  CHECK(seconds(parse_time("1970-01-01T00:00:00Z")) == 0);
  CHECK(seconds(parse_time("2026-11-25T02:00:00Z")) == 1795572000);
  CHECK(seconds(parse_time("2026-11-25T04:00:00+02:00")) == 1795572000);
  CHECK(seconds(parse_time("2026-11-25T02:00Z")) == 1795572000);
  CHECK(parse_time("2026-11-25T02:00:00.500Z") - parse_time("2026-11-25T02:00:00Z") ==
        std::chrono::milliseconds(500));
  for (auto text : {"2026-11-25T02:00:00", "2026-11-25", "2026-13-01T00:00:00Z", "tomorrow", "2026-11-25T02:00:00+2", "2999-01-01T00:00:00Z"}) {
    CAPTURE(text);
    CHECK_THROWS_AS(parse_time(text), has::core::Error);
  }
  CHECK(parse_clock("02:30") == 150);
  CHECK(parse_clock("24:00") == 1440);
  CHECK_THROWS_AS(parse_clock("25:00"), has::core::Error);
  CHECK_THROWS_AS(parse_clock("2:3x"), has::core::Error);
}

TEST_CASE("defs: silences are windows over rules / targets and labels") {
  has::test::TempDir dir;
  dir.write("has.yaml", "inventory: {hosts: [{name: db1}]}\n");
  dir.write("r.yaml", R"(kind: Rule
name: api
labels: {team: web}
probe: {tcp: {port: 1}}
---
kind: Silence
name: upgrade
starts: 2026-11-25T02:00:00Z
ends: 2026-11-25T04:00:00Z
rules: [api]
reason: planned upgrade
---
kind: Silence
name: nightly
daily: {from: "23:00", to: "01:00", days: [monday]}
labels: {team: web}
reason: backups
)");
  has::defs::Diagnostics diagnostics;
  auto definitions = has::defs::load({dir.path(), dir.path() / "has.yaml"}, {}, diagnostics);
  REQUIRE_FALSE(diagnostics.has_errors());
  REQUIRE(definitions.silences.size() == 2);
  const auto& upgrade = definitions.silences[0];
  CHECK_FALSE(upgrade.active(parse_time("2026-11-25T01:59:59Z")));
  CHECK(upgrade.active(parse_time("2026-11-25T02:00:00Z")));
  CHECK(upgrade.active(parse_time("2026-11-25T03:59:59Z")));
  CHECK_FALSE(upgrade.active(parse_time("2026-11-25T04:00:00Z")));
  CHECK(upgrade.matches("api", {}, "local"));
  CHECK_FALSE(upgrade.matches("other", {}, "local"));

  // Daily windows are in local time; pin the zone for the test.
  ::setenv("TZ", "UTC", 1);
  ::tzset();
  const auto& nightly = definitions.silences[1];
  CHECK(nightly.active(parse_time("2026-11-23T23:30:00Z")));   // Monday night
  CHECK(nightly.active(parse_time("2026-11-24T00:30:00Z")));   // ... past midnight
  CHECK_FALSE(nightly.active(parse_time("2026-11-24T23:30:00Z"))); // Tuesday
  CHECK_FALSE(nightly.active(parse_time("2026-11-23T22:59:00Z")));
  CHECK(nightly.matches("api", {{"team", "web"}}, "db1"));
  CHECK_FALSE(nightly.matches("api", {{"team", "db"}}, "db1"));
  ::unsetenv("TZ");
  ::tzset();
}

TEST_CASE("defs: a silence without a window / a matcher or valid names is an error") {
  has::test::TempDir dir;
  dir.write("has.yaml", "");
  dir.write("s.yaml", R"(kind: Silence
name: a
reason: x
rules: [ghost]
---
kind: Silence
name: b
starts: 2026-11-25T04:00:00Z
ends: 2026-11-25T02:00:00Z
reason: x
---
kind: Silence
name: c
daily: {from: "25:00", to: "01:00", days: [funday]}
targets: [nowhere]
)");
  has::defs::Diagnostics diagnostics;
  has::defs::load({dir.path(), dir.path() / "has.yaml"}, {}, diagnostics);
  std::string all;
  for (const auto& d : diagnostics.sorted()) {
    all += d.where.str() + ": " + d.message + "\n";
  }
  INFO(all);
  CHECK(all.find("s.yaml:1:1: silence 'a' needs a window") != std::string::npos);
  CHECK(all.find("silence 'a' names rule 'ghost', which does not exist") != std::string::npos);
  CHECK(all.find("s.yaml:9:7: 'ends' must be after 'starts'") != std::string::npos);
  CHECK(all.find("silence 'b' must say what it mutes") != std::string::npos);
  CHECK(all.find("daily.from: invalid clock time '25:00'") != std::string::npos);
  CHECK(all.find("unknown day 'funday'") != std::string::npos);
  CHECK(all.find("a Silence is missing the required field 'reason'") == std::string::npos);
  CHECK(all.find("is missing the required field 'reason'") != std::string::npos);
  CHECK(all.find("names target 'nowhere'") != std::string::npos);
}
