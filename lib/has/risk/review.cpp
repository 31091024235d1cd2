#include <has/risk/review.hpp>

#include <has/defs/units.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>

namespace has::risk {

namespace {

std::optional<std::chrono::milliseconds> between(const std::string& from, const std::string& to) {
  try {
    return std::chrono::duration_cast<std::chrono::milliseconds>(defs::parse_time(to) - defs::parse_time(from));
  } catch (...) {
    return std::nullopt; // a time written by hand that is not ISO-8601
  }
}

} // namespace

Review review(const state::Event& event, const std::vector<state::TimelineEntry>& timeline) {
  Review out;
  auto since_start = [&](const std::string& at) { return between(event.first_seen, at); };
  for (const auto& line : timeline) {
    if (line.kind == "acknowledged" && !out.to_acknowledge) {
      out.to_acknowledge = since_start(line.at);
    } else if (line.kind == "diagnosis") {
      out.diagnoses.push_back(line.text);
      if (!out.to_diagnose) {
        out.to_diagnose = since_start(line.at);
      }
    } else if (line.kind == "scenario" && !out.scenario) {
      out.scenario = line.text;
    } else if (line.kind == "plan" && line.run_id) {
      auto data = line.data ? nlohmann::json::parse(*line.data, nullptr, false) : nlohmann::json();
      const auto state = data.is_object() ? data.value("state", std::string()) : std::string();
      auto it = std::find_if(out.actions.begin(), out.actions.end(),
                             [&](const ActionTaken& a) { return a.run_id == *line.run_id; });
      if (it == out.actions.end()) {
        ActionTaken action;
        action.run_id = *line.run_id;
        // "plan NAME started"
        auto rest = line.text.substr(std::min<std::size_t>(5, line.text.size()));
        action.plan = rest.substr(0, rest.find(' '));
        action.by = line.user.value_or("");
        action.started_at = line.at;
        action.state = state;
        out.actions.push_back(action);
        it = std::prev(out.actions.end());
      } else {
        it->state = state;
        it->ended_at = line.at;
      }
      if (state == "succeeded" && !out.to_mitigate) {
        out.to_mitigate = since_start(line.at);
      }
    } else if (line.kind == "heal" && line.run_id) {
      for (auto& action : out.actions) {
        if (action.run_id == *line.run_id) {
          action.automatic = true;
          out.healed = out.healed || action.state == "succeeded";
        }
      }
    }
  }
  if (event.status == "resolved" && event.resolved_at) {
    out.to_resolve = since_start(*event.resolved_at);
  }
  return out;
}

namespace {

Figure figure_of(std::vector<std::chrono::milliseconds> values) {
  Figure out;
  out.count = values.size();
  if (values.empty()) {
    return out;
  }
  std::sort(values.begin(), values.end());
  std::chrono::milliseconds total{0};
  for (auto value : values) {
    total += value;
  }
  out.mean = total / static_cast<long>(values.size());
  out.median = values[values.size() / 2];
  out.worst = values.back();
  return out;
}

} // namespace

Stats stats(const std::vector<state::Event>& events, const std::vector<Review>& reviews) {
  Stats out;
  std::vector<std::chrono::milliseconds> ack, diagnose, mitigate, resolve;
  for (std::size_t i = 0; i < events.size() && i < reviews.size(); ++i) {
    const auto& event = events[i];
    const auto& r = reviews[i];
    ++out.events;
    out.open += event.status == "open" ? 1 : 0;
    out.healed += r.healed ? 1 : 0;
    ++out.by_source[event.source];
    ++out.by_severity[event.severity];
    ++out.by_level[event.level.value_or("-")];
    for (auto [value, list] : {std::pair{r.to_acknowledge, &ack}, std::pair{r.to_diagnose, &diagnose},
                               std::pair{r.to_mitigate, &mitigate}, std::pair{r.to_resolve, &resolve}}) {
      if (value && value->count() >= 0) {
        list->push_back(*value);
      }
    }
  }
  out.to_acknowledge = figure_of(std::move(ack));
  out.to_diagnose = figure_of(std::move(diagnose));
  out.to_mitigate = figure_of(std::move(mitigate));
  out.to_resolve = figure_of(std::move(resolve));
  return out;
}

} // namespace has::risk
