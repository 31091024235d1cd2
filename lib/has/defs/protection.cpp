#include <has/defs/protection.hpp>

#include <has/core/error.hpp>
#include <has/defs/units.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <ctime>

namespace has::defs {

namespace {

constexpr std::array<std::string_view, 7> k_days{"sunday", "monday", "tuesday", "wednesday",
                                                 "thursday", "friday", "saturday"};

std::vector<TimeWindow> parse_windows(const FileContext& context, const yaml::Node& node, std::string_view what) {
  std::vector<TimeWindow> out;
  if (!node.is_defined() || node.is_null()) {
    return out;
  }
  if (!node.is_sequence()) {
    context.error(node, fmt::format("'{}' must be a list of windows ({{starts, ends}} or {{daily}})", what));
    return out;
  }
  for (const auto& item : node) {
    MapReader reader(context, item, fmt::format("a window of '{}'", what));
    if (!reader.valid()) {
      continue;
    }
    auto window = parse_window(reader);
    reader.finish();
    if (!window.starts && !window.ends && !window.daily_from) {
      context.error(item, fmt::format("a window of '{}' needs 'starts'/'ends' or 'daily'", what));
      continue;
    }
    out.push_back(std::move(window));
  }
  return out;
}

} // namespace

bool TimeWindow::active(std::chrono::system_clock::time_point now) const {
  if (starts && now < *starts) {
    return false;
  }
  if (ends && now >= *ends) {
    return false;
  }
  if (!daily_from || !daily_to) {
    return starts.has_value() || ends.has_value();
  }
  auto seconds = std::chrono::system_clock::to_time_t(now);
  std::tm local{};
  localtime_r(&seconds, &local);
  int minute = local.tm_hour * 60 + local.tm_min;
  int day = local.tm_wday;
  bool inside = false;
  if (*daily_from <= *daily_to) {
    inside = minute >= *daily_from && minute < *daily_to;
  } else {
    // Spans midnight: the part after midnight belongs to the previous day.
    if (minute >= *daily_from) {
      inside = true;
    } else if (minute < *daily_to) {
      inside = true;
      day = (day + 6) % 7;
    }
  }
  return inside && (weekdays.empty() || std::find(weekdays.begin(), weekdays.end(), day) != weekdays.end());
}

std::optional<std::chrono::system_clock::time_point>
TimeWindow::next_change(std::chrono::system_clock::time_point now) const {
  using namespace std::chrono;
  const bool current = active(now);
  auto next = time_point_cast<minutes>(now) + minutes(1);
  if (starts && now < *starts && current != active(*starts)) {
    // An absolute start can fall between minutes.
    bool earlier = false;
    for (auto t = next; t < *starts; t += minutes(1)) {
      if (active(t) != current) {
        earlier = true;
        break;
      }
      if (t - now > hours(24 * 8)) {
        break;
      }
    }
    if (!earlier) {
      return *starts;
    }
  }
  if (ends && now < *ends && !daily_from && current) {
    return *ends;
  }
  for (auto t = next; t - now <= hours(24 * 8); t += minutes(1)) {
    if (active(t) != current) {
      return time_point_cast<system_clock::duration>(t);
    }
  }
  return std::nullopt;
}

TimeWindow parse_window(MapReader& reader) {
  const auto& context = reader.context();
  TimeWindow window;
  window.where = context.at(reader.node());
  window.starts = reader.parsed("starts", parse_time);
  window.ends = reader.parsed("ends", parse_time);
  if (window.starts && window.ends && *window.ends <= *window.starts) {
    context.error(reader.get("ends"), "'ends' must be after 'starts'");
  }
  if (auto daily = reader.get("daily"); daily.is_defined()) {
    MapReader fields(context, daily, "daily");
    for (auto [key, out] : {std::pair{"from", &window.daily_from}, std::pair{"to", &window.daily_to}}) {
      auto node = fields.get(key, Need::required);
      if (auto text = node.is_defined() ? scalar(context, node, fmt::format("daily.{}", key)) : std::nullopt) {
        try {
          *out = parse_clock(*text);
        } catch (const core::Error& e) {
          context.error(node, fmt::format("daily.{}: {}", key, e.what()));
        }
      }
    }
    auto days_node = fields.get("days");
    for (const auto& day : fields.string_list("days")) {
      auto it = std::find(k_days.begin(), k_days.end(), day);
      if (it == k_days.end()) {
        context.error(days_node, fmt::format("unknown day '{}': use monday ... sunday", day));
      } else {
        window.weekdays.push_back(static_cast<int>(it - k_days.begin()));
      }
    }
    fields.finish();
  }
  return window;
}

Protection parse_protection(const FileContext& context, const yaml::Node& node) {
  Protection protection;
  protection.where = context.at(node);
  MapReader reader(context, node, "protection");
  if (!reader.valid()) {
    return protection;
  }
  if (auto rate = reader.get("rate"); rate.is_defined()) {
    MapReader fields(context, rate, "rate");
    protection.rate_runs = static_cast<int>(fields.integer("runs", 1, 1'000'000, Need::required).value_or(1));
    protection.rate_window = fields.duration("per", Need::required).value_or(std::chrono::hours(1));
    fields.finish();
  }
  protection.cooldown = reader.duration("cooldown");
  if (auto value = reader.integer("max_concurrent", 1, 100'000)) {
    protection.max_concurrent = static_cast<int>(*value);
  }
  if (auto value = reader.integer("blast_radius", 1, 1'000'000)) {
    protection.blast_radius = static_cast<int>(*value);
  }
  protection.windows = parse_windows(context, reader.get("windows"), "windows");
  protection.freezes = parse_windows(context, reader.get("freeze"), "freeze");
  if (auto breaker = reader.get("breaker"); breaker.is_defined()) {
    MapReader fields(context, breaker, "breaker");
    protection.breaker_failures =
      static_cast<int>(fields.integer("failures", 1, 1000, Need::required).value_or(3));
    fields.finish();
  }
  reader.finish();
  return protection;
}

} // namespace has::defs
