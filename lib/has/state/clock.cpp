#include <has/state/clock.hpp>

#include <fmt/format.h>

namespace has::state {

std::string format_iso8601(std::chrono::system_clock::time_point time) {
  using namespace std::chrono;
  // Floor, not truncate, so times before 1970 keep a positive millisecond part.
  const auto ms = floor<milliseconds>(time);
  const auto day = floor<days>(ms);
  const year_month_day date{day};
  const hh_mm_ss clock{ms - day};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", static_cast<int>(date.year()),
                     static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                     clock.hours().count(), clock.minutes().count(), clock.seconds().count(),
                     clock.subseconds().count());
}

std::string now_iso8601() { return format_iso8601(std::chrono::system_clock::now()); }

} // namespace has::state
