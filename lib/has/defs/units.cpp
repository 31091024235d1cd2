#include <has/defs/units.hpp>

#include <has/core/error.hpp>

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>

namespace has::defs {

using core::Error;
using core::ExitCode;

namespace {

[[noreturn]] void fail(std::string_view what, std::string_view text, std::string_view expected) {
  throw Error(ExitCode::bad_definitions,
              fmt::format("invalid {} '{}': expected {}", what, text, expected));
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
    s.remove_suffix(1);
  }
  return s;
}

// Reads a non-negative decimal number at the start of s; returns the number of
// characters used (0 if none).
std::size_t read_number(std::string_view s, double& value) {
  std::size_t i = 0;
  bool digits = false;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
    ++i;
    digits = true;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      ++i;
      digits = true;
    }
  }
  if (!digits) {
    return 0;
  }
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + i, value);
  if (ec != std::errc() || ptr != s.data() + i) {
    return 0;
  }
  return i;
}

} // namespace

std::chrono::milliseconds parse_duration(std::string_view raw) {
  constexpr std::string_view expected =
    "a duration such as 500ms, 10s, 5m, 1h30m or 2d";
  auto text = trim(raw);
  if (text == "0") {
    return std::chrono::milliseconds(0);
  }
  if (text.empty()) {
    fail("duration", raw, expected);
  }
  struct Unit {
    std::string_view name;
    double ms;
  };
  // Order matters: "ms" before "m"; each unit may appear once, largest first.
  constexpr std::array<Unit, 5> units{{{"d", 86'400'000.0},
                                       {"h", 3'600'000.0},
                                       {"ms", 1.0},
                                       {"m", 60'000.0},
                                       {"s", 1'000.0}}};
  constexpr std::array<int, 5> rank{0, 1, 4, 2, 3}; // d > h > m > s > ms
  double total = 0;
  int last_rank = -1;
  while (!text.empty()) {
    double value = 0;
    auto used = read_number(text, value);
    if (used == 0) {
      fail("duration", raw, expected);
    }
    text.remove_prefix(used);
    bool matched = false;
    for (std::size_t i = 0; i < units.size(); ++i) {
      if (text.substr(0, units[i].name.size()) == units[i].name) {
        if (rank[i] <= last_rank) {
          fail("duration", raw, "units in decreasing order, each once (e.g. 1h30m)");
        }
        last_rank = rank[i];
        total += value * units[i].ms;
        text.remove_prefix(units[i].name.size());
        matched = true;
        break;
      }
    }
    if (!matched) {
      fail("duration", raw, text.empty() ? "a unit after the number (ms, s, m, h or d)"
                                         : expected);
    }
  }
  if (total > static_cast<double>(std::numeric_limits<std::int64_t>::max() / 2)) {
    fail("duration", raw, "a shorter duration");
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(total)));
}

std::string format_duration(std::chrono::milliseconds duration) {
  auto ms = duration.count();
  if (ms == 0) {
    return "0s";
  }
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  constexpr std::array<std::pair<std::int64_t, const char*>, 5> parts{
    {{86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1'000, "s"}, {1, "ms"}}};
  for (auto [size, name] : parts) {
    if (ms >= size) {
      out += fmt::format("{}{}", ms / size, name);
      ms %= size;
    }
  }
  return out;
}

std::uint64_t parse_size(std::string_view raw) {
  constexpr std::string_view expected = "a size such as 4096, 512MiB, 10kB or 2G";
  auto text = trim(raw);
  double value = 0;
  auto used = read_number(text, value);
  if (used == 0) {
    fail("size", raw, expected);
  }
  auto unit = trim(text.substr(used));
  struct Unit {
    std::string_view name;
    double factor;
  };
  constexpr std::array<Unit, 14> units{{{"", 1},
                                        {"B", 1},
                                        {"KiB", 1024.0},
                                        {"MiB", 1024.0 * 1024},
                                        {"GiB", 1024.0 * 1024 * 1024},
                                        {"TiB", 1024.0 * 1024 * 1024 * 1024},
                                        {"kB", 1e3},
                                        {"K", 1e3},
                                        {"MB", 1e6},
                                        {"M", 1e6},
                                        {"GB", 1e9},
                                        {"G", 1e9},
                                        {"TB", 1e12},
                                        {"T", 1e12}}};
  for (const auto& u : units) {
    if (unit == u.name) {
      double bytes = value * u.factor;
      if (bytes > 9.0e18) {
        fail("size", raw, "a smaller size");
      }
      return static_cast<std::uint64_t>(std::llround(bytes));
    }
  }
  fail("size", raw, "a unit of B, KiB, MiB, GiB, TiB, kB, MB, GB or TB");
}

double parse_percent(std::string_view raw) {
  auto text = trim(raw);
  if (text.empty() || text.back() != '%') {
    fail("percentage", raw, "a percentage such as 30% or 12.5%");
  }
  text.remove_suffix(1);
  double value = 0;
  auto used = read_number(trim(text), value);
  if (used == 0 || used != trim(text).size()) {
    fail("percentage", raw, "a percentage such as 30% or 12.5%");
  }
  if (value > 100.0) {
    fail("percentage", raw, "a value from 0% to 100%");
  }
  return value;
}

std::chrono::system_clock::time_point parse_time(std::string_view raw) {
  constexpr std::string_view expected = "an ISO-8601 time with a zone, such as 2026-11-25T02:00:00Z";
  auto text = trim(raw);
  int year = 0, month = 0, day = 0, hour = 0, minute = 0;
  double second = 0;
  int used = 0;
  std::string copy(text);
  if (std::sscanf(copy.c_str(), "%4d-%2d-%2dT%2d:%2d%n", &year, &month, &day, &hour, &minute, &used) != 5) {
    fail("time", raw, expected);
  }
  std::string_view rest = text.substr(static_cast<std::size_t>(used));
  if (!rest.empty() && rest.front() == ':') {
    rest.remove_prefix(1);
    auto n = read_number(rest, second);
    if (n == 0) {
      fail("time", raw, expected);
    }
    rest.remove_prefix(n);
  }
  int offset_minutes = 0;
  if (rest == "Z") {
    offset_minutes = 0;
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    int oh = 0, om = 0;
    if (std::sscanf(std::string(rest.substr(1)).c_str(), "%2d:%2d", &oh, &om) != 2) {
      fail("time", raw, expected);
    }
    offset_minutes = (rest[0] == '+' ? 1 : -1) * (oh * 60 + om);
  } else {
    fail("time", raw, expected);
  }
  // The clock counts nanoseconds in 64 bits: years past 2262 do not fit.
  if (year < 1970 || year > 2200 || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 ||
      minute > 59 || second >= 61) {
    fail("time", raw, expected);
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  auto seconds = timegm(&tm) - offset_minutes * 60;
  return std::chrono::system_clock::from_time_t(seconds) +
         std::chrono::milliseconds(static_cast<std::int64_t>(second * 1000));
}

int parse_clock(std::string_view raw) {
  auto text = trim(raw);
  int hour = 0, minute = 0, used = 0;
  std::string copy(text);
  if (std::sscanf(copy.c_str(), "%2d:%2d%n", &hour, &minute, &used) != 2 ||
      static_cast<std::size_t>(used) != text.size() || hour < 0 || minute < 0 || minute > 59 ||
      hour > 24 || (hour == 24 && minute != 0)) {
    fail("clock time", raw, "HH:MM, from 00:00 to 24:00");
  }
  return hour * 60 + minute;
}

} // namespace has::defs
