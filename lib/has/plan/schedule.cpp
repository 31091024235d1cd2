#include <has/plan/schedule.hpp>

#include <has/core/error.hpp>
#include <has/defs/template.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <unordered_map>

namespace has::plan {

nlohmann::json for_each_items(const defs::Definitions& definitions, expr::Engine& engine, const defs::Step& step,
                              const nlohmann::json& values) {
  nlohmann::json items = nlohmann::json::array();
  if (step.for_each_hosts) {
    for (const auto& host : definitions.config.hosts) {
      bool match = std::all_of(step.for_each_hosts->labels.begin(), step.for_each_hosts->labels.end(),
                               [&](const auto& label) {
                                 auto it = host.labels.find(label.first);
                                 return it != host.labels.end() && it->second == label.second;
                               });
      if (match) {
        items.push_back({{"name", host.name}, {"address", host.address}, {"labels", host.labels}});
      }
    }
  } else if (step.for_each_list) {
    items = defs::resolve_template(engine, *step.for_each_list, values, step.where);
  } else if (step.for_each) {
    expr::Source source{step.for_each->where.file, step.for_each->where.line, step.for_each->where.column};
    items = engine.evaluate(step.for_each->text, values, source);
    if (items.is_null()) {
      items = nlohmann::json::array();
    }
  }
  if (!items.is_array()) {
    throw core::Error(core::ExitCode::failure,
                      fmt::format("for_each of step '{}' is not a list: {}", step.id, items.dump()));
  }
  return items;
}

Schedule::Schedule(const defs::Plan& plan, std::vector<const defs::Step*> order)
  : m_plan(plan), m_order(std::move(order)), m_progress(plan.steps.size()) {
  std::unordered_map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < plan.steps.size(); ++i) {
    index[plan.steps[i].id] = i;
  }
  for (const auto& step : plan.steps) {
    auto& needs = m_needs.emplace_back();
    for (const auto& need : step.needs) {
      needs.push_back(index.at(need));
    }
  }
}

std::size_t Schedule::index_of(const defs::Step& step) const {
  return static_cast<std::size_t>(&step - m_plan.steps.data());
}

bool Schedule::needs_met(std::size_t index) const {
  for (auto need : m_needs[index]) {
    if (m_progress[need].phase != Progress::Phase::done) {
      return false;
    }
  }
  return true;
}

void Schedule::done_before(const std::set<std::string>& keys) {
  for (std::size_t i = 0; i < m_plan.steps.size(); ++i) {
    auto& progress = m_progress[i];
    const auto& id = m_plan.steps[i].id;
    for (const auto& key : keys) {
      if (key == id) {
        progress.phase = Progress::Phase::done;
      } else if (key.size() > id.size() && key.compare(0, id.size(), id) == 0 && key[id.size()] == '[') {
        progress.done_keys.insert(key);
      }
    }
  }
}

std::vector<const defs::Step*> Schedule::ready() const {
  std::vector<const defs::Step*> out;
  for (const auto* step : m_order) {
    auto index = index_of(*step);
    if (m_progress[index].phase == Progress::Phase::waiting && needs_met(index)) {
      out.push_back(step);
    }
  }
  return out;
}

void Schedule::settle(const defs::Step& step, bool ok) {
  auto& progress = m_progress[index_of(step)];
  progress.phase = Progress::Phase::done;
  progress.ok = ok;
}

void Schedule::activate(const defs::Step& step, std::vector<Unit> units, int allowed_failures) {
  auto& progress = m_progress[index_of(step)];
  progress.phase = Progress::Phase::active;
  progress.repeated = step.repeated();
  progress.units = std::move(units);
  progress.allowed_failures = allowed_failures;
}

std::optional<Launch> Schedule::next() {
  for (const auto& step : m_plan.steps) {
    auto& progress = m_progress[index_of(step)];
    if (progress.phase != Progress::Phase::active || progress.next >= progress.units.size()) {
      continue;
    }
    if (progress.repeated) {
      if (progress.running >= step.max_parallel || progress.tally.failed > progress.allowed_failures) {
        continue;
      }
    } else if (m_running_steps >= m_plan.max_parallel) {
      return std::nullopt;
    }
    Launch launch{&step, progress.units[progress.next++], false};
    launch.done_before = progress.done_keys.count(launch.unit.key) != 0;
    ++progress.running;
    ++m_running;
    if (!progress.repeated) {
      ++m_running_steps;
    }
    return launch;
  }
  return std::nullopt;
}

Tally Schedule::close(Progress& progress) {
  progress.phase = Progress::Phase::done;
  progress.tally.total = progress.units.size();
  progress.tally.not_started = progress.units.size() - progress.next;
  progress.tally.allowed_failures = progress.allowed_failures;
  progress.ok = progress.tally.ok();
  return progress.tally;
}

std::optional<Tally> Schedule::finished(const defs::Step& step, const Unit&, bool ok, const nlohmann::json& values,
                                        bool stopping) {
  auto& progress = m_progress[index_of(step)];
  --progress.running;
  --m_running;
  if (!progress.repeated) {
    --m_running_steps;
    progress.phase = Progress::Phase::done;
    progress.ok = ok;
    return std::nullopt;
  }
  progress.tally.items.push_back(values);
  ok ? ++progress.tally.succeeded : ++progress.tally.failed;
  bool over = progress.next >= progress.units.size() || progress.tally.failed > progress.allowed_failures || stopping;
  if (progress.running == 0 && over) {
    return close(progress);
  }
  return std::nullopt;
}

Tally Schedule::finish_empty(const defs::Step& step) { return close(m_progress[index_of(step)]); }

bool Schedule::done(const defs::Step& step) const {
  const auto& progress = m_progress[index_of(step)];
  return progress.phase == Progress::Phase::done && progress.ok;
}

bool Schedule::more() const {
  for (std::size_t i = 0; i < m_progress.size(); ++i) {
    const auto& progress = m_progress[i];
    if (progress.phase == Progress::Phase::waiting && needs_met(i)) {
      return true;
    }
    if (progress.phase == Progress::Phase::active && progress.next < progress.units.size()) {
      return true;
    }
  }
  return false;
}

bool Schedule::alone() const { return m_running == 1 && !more(); }

} // namespace has::plan
