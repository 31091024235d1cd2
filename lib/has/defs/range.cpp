#include <has/defs/range.hpp>

#include <has/core/error.hpp>

#include <fmt/format.h>

#include <charconv>

namespace has::defs {

namespace {

[[noreturn]] void fail(std::string_view text) {
  throw core::Error(core::ExitCode::bad_definitions,
                    fmt::format("invalid threshold range '{}'", text),
                    "expected the Nagios range syntax: 10, 10:, ~:10, 10:20 or @10:20");
}

double number(std::string_view part, std::string_view whole) {
  double value = 0;
  if (part.empty()) {
    fail(whole);
  }
  auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
  if (ec != std::errc() || ptr != part.data() + part.size()) {
    fail(whole);
  }
  return value;
}

} // namespace

bool Range::alerts(double value) const noexcept {
  bool above_low = low_infinite || value >= low;
  bool below_high = high_infinite || value <= high;
  bool within = above_low && below_high;
  return inside ? within : !within;
}

Range parse_range(std::string_view text) {
  Range range;
  range.text = std::string(text);
  auto rest = text;
  if (!rest.empty() && rest.front() == '@') {
    range.inside = true;
    rest.remove_prefix(1);
  }
  auto colon = rest.find(':');
  if (colon == std::string_view::npos) {
    range.low = 0;
    range.high = number(rest, text);
  } else {
    auto low = rest.substr(0, colon);
    auto high = rest.substr(colon + 1);
    if (low == "~") {
      range.low_infinite = true;
    } else {
      range.low = low.empty() ? 0 : number(low, text);
    }
    if (high.empty()) {
      range.high_infinite = true;
    } else {
      range.high = number(high, text);
    }
  }
  if (!range.low_infinite && !range.high_infinite && range.low > range.high) {
    throw core::Error(core::ExitCode::bad_definitions,
                      fmt::format("invalid threshold range '{}'", text),
                      "the start of a range must not be greater than its end");
  }
  return range;
}

} // namespace has::defs
