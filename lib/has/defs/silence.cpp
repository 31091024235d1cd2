#include <has/defs/silence.hpp>

#include <has/core/error.hpp>
#include <has/defs/protection.hpp>
#include <has/defs/units.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <set>

namespace has::defs {

bool Silence::active(std::chrono::system_clock::time_point now) const { return window.active(now); }

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
  silence.window = parse_window(reader);
  silence.rules = reader.string_list("rules");
  silence.targets = reader.string_list("targets");
  silence.labels = reader.string_map("labels");
  silence.reason = reader.string("reason", Need::required).value_or("");
  if (reader.valid()) {
    if (!silence.window.starts && !silence.window.ends && !silence.window.daily_from) {
      context.error(reader.node(), fmt::format("silence '{}' needs a window: 'starts' and 'ends', or 'daily'",
                                               silence.header.name));
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
