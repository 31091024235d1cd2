#include <has/core/error.hpp>
#include <has/defs/range.hpp>
#include <has/defs/units.hpp>

#include <doctest/doctest.h>

using namespace std::chrono_literals;
using has::defs::format_duration;
using has::defs::parse_duration;
using has::defs::parse_percent;
using has::defs::parse_range;
using has::defs::parse_size;

TEST_CASE("defs: durations in every unit and combined") {
  CHECK(parse_duration("500ms") == 500ms);
  CHECK(parse_duration("10s") == 10s);
  CHECK(parse_duration("5m") == 5min);
  CHECK(parse_duration("1h30m") == 90min);
  CHECK(parse_duration("2d") == 48h);
  CHECK(parse_duration("1.5s") == 1500ms);
  CHECK(parse_duration("1m30s250ms") == 90250ms);
  CHECK(parse_duration("0") == 0ms);
  CHECK(parse_duration(" 3s ") == 3s);
}

TEST_CASE("defs: bad durations are refused with the expected form") {
  for (auto text : {"", "10", "s", "10x", "5m1h", "1s1s", "-5s", "1h 30m", "abc"}) {
    CAPTURE(text);
    CHECK_THROWS_AS(parse_duration(text), has::core::Error);
  }
  try {
    parse_duration("10x");
    FAIL("no error");
  } catch (const has::core::Error& e) {
    CHECK(std::string(e.what()) == "invalid duration '10x': expected a duration such as 500ms, 10s, 5m, 1h30m or 2d");
    CHECK(e.code() == has::core::ExitCode::bad_definitions);
  }
  CHECK_THROWS_WITH(parse_duration("10"),
                    "invalid duration '10': expected a unit after the number (ms, s, m, h or d)");
}

TEST_CASE("defs: durations format back to the shortest exact text") {
  CHECK(format_duration(90min) == "1h30m");
  CHECK(format_duration(250ms) == "250ms");
  CHECK(format_duration(0ms) == "0s");
  CHECK(format_duration(parse_duration("1h30m5s")) == "1h30m5s");
}

TEST_CASE("defs: sizes in binary and decimal units") {
  CHECK(parse_size("4096") == 4096);
  CHECK(parse_size("512MiB") == 512ull * 1024 * 1024);
  CHECK(parse_size("1GiB") == 1024ull * 1024 * 1024);
  CHECK(parse_size("10kB") == 10'000);
  CHECK(parse_size("2G") == 2'000'000'000ull);
  CHECK(parse_size("1.5KiB") == 1536);
  CHECK(parse_size("100B") == 100);
  CHECK_THROWS_WITH(parse_size("12XB"),
                    "invalid size '12XB': expected a unit of B, KiB, MiB, GiB, TiB, kB, MB, GB or TB");
  CHECK_THROWS_AS(parse_size("MiB"), has::core::Error);
  CHECK_THROWS_AS(parse_size("-1"), has::core::Error);
}

TEST_CASE("defs: percentages need the sign and stay in range") {
  CHECK(parse_percent("30%") == doctest::Approx(30.0));
  CHECK(parse_percent("12.5%") == doctest::Approx(12.5));
  CHECK(parse_percent("0%") == doctest::Approx(0.0));
  CHECK_THROWS_AS(parse_percent("30"), has::core::Error);
  CHECK_THROWS_AS(parse_percent("101%"), has::core::Error);
  CHECK_THROWS_AS(parse_percent("x%"), has::core::Error);
}

TEST_CASE("defs: Nagios ranges alert exactly where the plugin guidelines say") {
  auto plain = parse_range("10");
  CHECK(plain.alerts(-1));
  CHECK_FALSE(plain.alerts(0));
  CHECK_FALSE(plain.alerts(10));
  CHECK(plain.alerts(10.5));

  auto at_least = parse_range("10:");
  CHECK(at_least.alerts(9.9));
  CHECK_FALSE(at_least.alerts(10));
  CHECK_FALSE(at_least.alerts(1e9));

  auto at_most = parse_range("~:10");
  CHECK(at_most.alerts(11));
  CHECK_FALSE(at_most.alerts(-1e9));

  auto between = parse_range("10:20");
  CHECK(between.alerts(9));
  CHECK_FALSE(between.alerts(15));
  CHECK(between.alerts(21));

  auto inside = parse_range("@10:20");
  CHECK(inside.alerts(10));
  CHECK(inside.alerts(20));
  CHECK_FALSE(inside.alerts(9));
  CHECK_FALSE(inside.alerts(21));

  CHECK_THROWS_AS(parse_range("20:10"), has::core::Error);
  CHECK_THROWS_AS(parse_range("abc"), has::core::Error);
  CHECK_THROWS_AS(parse_range(""), has::core::Error);
  CHECK_THROWS_AS(parse_range("1:2:3"), has::core::Error);
}
