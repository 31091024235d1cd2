#include <has/defs/silence.hpp>

#include <has/core/error.hpp>
#include <has/defs/units.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <set>

namespace has::defs {

namespace {

constexpr std::array<std::string_view, 7> k_days{"sunday", "monday", "tuesday", "wednesday",
                                                 "thursday", "friday", "saturday"};

} // namespace

bool Silence::active(std::chrono::system_clock::time_point now) const {
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

bool Silence::matches(const std::string& rule, const std::map<std::string, std::string>& rule_labels,
                      const std::string& target) const {
  if (!rules.empty() && std::find(rules.begin(), rules.end(), rule) == rules.end()) {
    return false;
  }
  if (!targets.empty() && std::find(targets.begin(), targets.end(), target) == targets.end()) {
    return false;
  }
  return std::all_of(labels.begin(), labels.end(), [&](const auto& item) {
    auto it = rule_labels.find(item.first);
    return it != rule_labels.end() && it->second == item.second;
  });
}

Silence parse_silence(MapReader& reader, Header header) {
  const auto& context = reader.context();
  Silence silence;
  silence.header = std::move(header);
  silence.starts = reader.parsed("starts", parse_time);
  silence.ends = reader.parsed("ends", parse_time);
  if (auto daily = reader.get("daily"); daily.IsDefined()) {
    MapReader fields(context, daily, "daily");
    for (auto [key, out] : {std::pair{"from", &silence.daily_from}, std::pair{"to", &silence.daily_to}}) {
      auto node = fields.get(key, Need::required);
      if (auto text = node.IsDefined() ? scalar(context, node, fmt::format("daily.{}", key)) : std::nullopt) {
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
        silence.weekdays.push_back(static_cast<int>(it - k_days.begin()));
      }
    }
    fields.finish();
  }
  silence.rules = reader.string_list("rules");
  silence.targets = reader.string_list("targets");
  silence.labels = reader.string_map("labels");
  silence.reason = reader.string("reason", Need::required).value_or("");
  if (reader.valid()) {
    if (!silence.starts && !silence.ends && !silence.daily_from) {
      context.error(reader.node(), fmt::format("silence '{}' needs a window: 'starts' and 'ends', or 'daily'",
                                               silence.header.name));
    }
    if (silence.starts && silence.ends && *silence.ends <= *silence.starts) {
      context.error(reader.get("ends"), "'ends' must be after 'starts'");
    }
    if (silence.rules.empty() && silence.targets.empty() && silence.labels.empty()) {
      context.error(reader.node(), fmt::format("silence '{}' must say what it mutes: 'rules', 'targets' or "
                                               "'labels'", silence.header.name));
    }
  }
  return silence;
}

void resolve_silences(Definitions& definitions, Diagnostics& diagnostics) {
  std::set<std::string> hosts{"local"};
  for (const auto& host : definitions.config.hosts) {
    hosts.insert(host.name);
  }
  for (const auto& silence : definitions.silences) {
    for (const auto& rule : silence.rules) {
      if (definitions.find_rule(rule) == nullptr) {
        diagnostics.error(silence.header.where,
                          fmt::format("silence '{}' names rule '{}', which does not exist", silence.header.name, rule));
      }
    }
    for (const auto& target : silence.targets) {
      if (hosts.count(target) == 0) {
        diagnostics.error(silence.header.where,
                          fmt::format("silence '{}' names target '{}', which is not in the inventory",
                                      silence.header.name, target));
      }
    }
  }
}

} // namespace has::defs
