#include <has/risk/handle.hpp>

#include <has/core/error.hpp>
#include <has/core/provenance.hpp>
#include <has/core/redact.hpp>
#include <has/defs/template.hpp>
#include <has/defs/units.hpp>
#include <has/diagnose/record.hpp>
#include <has/expr/expr.hpp>
#include <has/notify/clock.hpp>
#include <has/notify/deliver.hpp>
#include <has/plan/params.hpp>
#include <has/state/clock.hpp>
#include <has/state/inspect.hpp>
#include <has/state/risk.hpp>
#include <has/state/store.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace has::risk {

namespace {

void note(state::Store& store, std::int64_t event_id, const std::string& kind, const std::string& text,
          std::optional<std::int64_t> run_id = {}, std::optional<std::string> data = {}) {
  state::TimelineEntry entry;
  entry.event_id = event_id;
  entry.at = state::now_iso8601();
  entry.kind = kind;
  entry.source = "handle";
  entry.text = core::redact(text);
  entry.run_id = run_id;
  entry.user = core::current_user();
  entry.data = std::move(data);
  store.transaction([&] { state::EventRepository(store).note(entry); });
}

} // namespace

bool matches(const defs::ScenarioMatch& match, const state::Event& event) {
  if (match.source && *match.source != event.source) {
    return false;
  }
  if (!match.severities.empty() &&
      std::find(match.severities.begin(), match.severities.end(), event.severity) == match.severities.end()) {
    return false;
  }
  if (match.title && event.title.find(*match.title) == std::string::npos) {
    return false;
  }
  if (!match.labels.empty()) {
    auto labels = event.labels ? nlohmann::json::parse(*event.labels, nullptr, false) : nlohmann::json::object();
    if (!labels.is_object()) {
      return false;
    }
    for (const auto& [key, wanted] : match.labels) {
      if (!labels.contains(key) || !labels[key].is_string()) {
        return false;
      }
      const auto& value = labels[key].get_ref<const std::string&>();
      if (!wanted.empty() && wanted.back() == '*') {
        if (value.compare(0, wanted.size() - 1, wanted, 0, wanted.size() - 1) != 0) {
          return false;
        }
      } else if (value != wanted) {
        return false;
      }
    }
  }
  return true;
}

const defs::Scenario* find_scenario(const defs::Definitions& definitions, const state::Event& event) {
  for (const auto& scenario : definitions.scenarios) {
    if (matches(scenario.match, event)) {
      return &scenario;
    }
  }
  return nullptr;
}

std::optional<std::string> grade(const defs::Definitions& definitions, const defs::Scenario& scenario,
                                 const state::Event& event, std::int64_t open_events) {
  (void)definitions;
  if (scenario.grade.empty()) {
    return std::nullopt;
  }
  double open_minutes = 0;
  try {
    open_minutes = std::chrono::duration<double, std::ratio<60>>(std::chrono::system_clock::now() -
                                                                 defs::parse_time(event.first_seen))
                     .count();
  } catch (const core::Error&) {
    // a first_seen written by hand that is not ISO-8601: counts as new
  }
  const nlohmann::json values{
    {"event", state::event_values(event)}, {"open_minutes", open_minutes}, {"open_events", open_events}};
  expr::Engine engine;
  for (const auto& rule : scenario.grade) {
    if (rule.when.empty() ||
        engine.condition(rule.when, values, expr::Source{rule.where.file, rule.where.line, rule.where.column})) {
      return rule.level;
    }
  }
  return std::nullopt;
}

namespace {

std::int64_t open_covered(const defs::Definitions& definitions, const defs::Scenario& scenario,
                          const std::vector<state::Event>& open) {
  std::int64_t count = 0;
  for (const auto& other : open) {
    if (find_scenario(definitions, other) == &scenario) {
      ++count;
    }
  }
  return count;
}

// Grades one event; a change is a line on its timeline. Returns the level.
std::optional<std::string> apply_grade(const defs::Definitions& definitions, state::Store& store,
                                       const defs::Scenario& scenario, const state::Event& event,
                                       const std::vector<state::Event>& open, bool* changed = nullptr) {
  auto level = grade(definitions, scenario, event, open_covered(definitions, scenario, open));
  if (!level) {
    return std::nullopt;
  }
  bool did = false;
  store.transaction([&] { did = state::EventRepository(store).set_level(event.id, *level); });
  if (did) {
    note(store, event.id, "graded",
         event.level ? fmt::format("graded {} (was {})", *level, *event.level) : fmt::format("graded {}", *level));
  }
  if (changed != nullptr) {
    *changed = did;
  }
  return level;
}

} // namespace

std::vector<std::int64_t> regrade(const defs::Definitions& definitions, const std::filesystem::path& state_file) {
  auto store = state::Store::open(state_file);
  auto open = state::EventRepository(store).list(std::string("open"), 0);
  std::vector<std::int64_t> changed;
  for (const auto& event : open) {
    const auto* scenario = find_scenario(definitions, event);
    bool did = false;
    if (scenario != nullptr && apply_grade(definitions, store, *scenario, event, open, &did) && did) {
      changed.push_back(event.id);
    }
  }
  return changed;
}

notify::Message handled_message(const state::Event& event, const Handled& handled) {
  notify::Message message;
  message.title = fmt::format("risk event {}: {}", event.id, event.title);
  message.status = probe::parse_status(event.severity).value_or(probe::Status::unknown);
  message.key = fmt::format("risk-handle:{}:{}", event.id, handled.heal_report ? handled.heal_report->run_id : 0);
  std::string text = fmt::format("**{}** ({}, {})\n\n", event.title, event.severity, event.source);
  text += fmt::format("- scenario: {}\n", handled.scenario.empty() ? "none covers it" : handled.scenario);
  if (handled.level) {
    text += fmt::format("- level: {}\n", *handled.level);
  }
  if (!handled.impact.empty()) {
    text += fmt::format("- impact: {}\n", handled.impact);
  }
  if (!handled.diagnosis.empty()) {
    text += fmt::format("- diagnosis: {}\n", handled.diagnosis);
  }
  for (const auto& plan : handled.plans) {
    text += fmt::format("- recommended: `has plan run {} --event {}`\n", plan.plan, event.id);
  }
  if (!handled.heal_text.empty()) {
    text += fmt::format("- {}\n", handled.heal_text);
  }
  message.text = text;
  return message;
}

namespace {

Handled handle_event(const defs::Definitions& definitions, const std::filesystem::path& state_file,
                     state::Store& store, const state::Event& event_row, const HandleOptions& options);

} // namespace

Handled handle(const defs::Definitions& definitions, const std::filesystem::path& state_file, std::int64_t event_id,
               const HandleOptions& options) {
  auto store = state::Store::open(state_file);
  state::EventRepository events(store);
  auto event = events.get(event_id);
  if (!event) {
    throw state::unknown_event(event_id);
  }
  if (options.claim) {
    bool mine = false;
    store.transaction([&] { mine = events.claim(event_id, state::now_iso8601()); });
    if (!mine) {
      Handled out;
      out.event_id = event_id;
      out.claimed_elsewhere = true;
      return out;
    }
  }
  try {
    return handle_event(definitions, state_file, store, *event, options);
  } catch (const std::exception& e) {
    // Say so on the timeline and let the next `--new` try again.
    try {
      note(store, event_id, "scenario", fmt::format("handling failed: {}", e.what()));
      store.transaction([&] { events.release(event_id); });
    } catch (...) {
      // the state file itself failed: the first error says more
    }
    throw;
  }
}

namespace {

Handled handle_event(const defs::Definitions& definitions, const std::filesystem::path& state_file,
                     state::Store& store, const state::Event& event_row, const HandleOptions& options) {
  state::EventRepository events(store);
  const auto event_id = event_row.id;
  const auto* event = &event_row;
  Handled out;
  out.event_id = event_id;
  const auto values = state::event_values(*event);
  const auto* scenario = find_scenario(definitions, *event);
  if (scenario == nullptr) {
    note(store, event_id, "scenario", "no scenario covers this event");
    store.transaction([&] { events.mark_handled(event_id, state::now_iso8601()); });
    return out;
  }
  out.scenario = scenario->header.name;
  expr::Engine engine;
  const nlohmann::json scope{{"event", values}};
  const auto& where = scenario->header.where;
  out.impact = engine.interpolate(scenario->impact, scope, expr::Source{where.file, where.line, where.column});
  note(store, event_id, "scenario",
       fmt::format("scenario {}{}", scenario->header.name, out.impact.empty() ? "" : ": " + out.impact));
  out.level = apply_grade(definitions, store, *scenario, *event, events.list(std::string("open"), 0));

  // The scenario's own plans, their parameters resolved against the event.
  for (const auto& plan : scenario->plans) {
    out.plans.push_back({plan.name, defs::resolve_template(engine, plan.params, scope, plan.where), "scenario"});
  }
  bool diagnosed = true;
  if (!scenario->tree.empty()) {
    const auto* tree = definitions.find_tree(scenario->tree);
    auto walk = options.walk;
    walk.event_id = event_id;
    walk.event = values;
    auto recorded = diagnose::walk_recorded(definitions, *tree, store, walk);
    out.diagnosis_run = recorded.run_id;
    const auto& outcome = recorded.outcome;
    if (outcome.end == diagnose::End::diagnosis) {
      out.diagnosis = outcome.diagnosis.cause;
      // The diagnosis's plans come first and replace the scenario's of the same name.
      std::vector<Recommendation> plans;
      for (const auto& plan : outcome.diagnosis.plans) {
        plans.push_back({plan.name, plan.params, "diagnosis"});
      }
      for (auto& plan : out.plans) {
        if (std::none_of(plans.begin(), plans.end(), [&](const Recommendation& r) { return r.plan == plan.plan; })) {
          plans.push_back(std::move(plan));
        }
      }
      out.plans = std::move(plans);
    } else {
      diagnosed = false;
      out.diagnosis = fmt::format("{} at node {}", diagnose::end_name(outcome.end), outcome.node);
    }
  }

  if (scenario->heal && options.heal) {
    const auto& heal = *scenario->heal;
    // With a tree, only a diagnosis that recommends the plan heals.
    auto chosen = std::find_if(out.plans.begin(), out.plans.end(), [&](const Recommendation& r) {
      return r.plan == heal.plan && (scenario->tree.empty() || r.from == "diagnosis");
    });
    auto current = events.get(event_id);
    if (current && current->status != "open") {
      out.heal = "skipped";
      out.heal_text = fmt::format("self-healing not run: the event was {} meanwhile", current->status);
    } else if (!diagnosed || chosen == out.plans.end()) {
      out.heal = "not_recommended";
      out.heal_text = fmt::format("self-healing not run: the diagnosis ({}) does not recommend plan {}",
                                  out.diagnosis.empty() ? "none" : out.diagnosis, heal.plan);
    } else {
      const auto* plan = definitions.find_plan(heal.plan);
      auto params = plan::params_from_json(*plan, chosen->params);
      auto shown = core::redact(plan::redacted_params(*plan, params).dump());
      if (!heal.on) {
        plan::dry_run(definitions, *plan, params); // it must at least resolve
        out.heal = "dry_run";
        out.heal_text = fmt::format("self-healing dry run: would run plan {} with {} (heal.mode: on lets it run)",
                                    heal.plan, shown);
      } else {
        auto plan_options = options.plan;
        plan_options.automatic = true;
        plan_options.event_id = event_id;
        plan_options.yes = false;
        // The newest run of the plan for this event: a refused run is recorded
        // too, and its line must name it.
        auto last_run = [&] { return state::last_plan_run_for_event(store, event_id, heal.plan).value_or(0); };
        const auto before = last_run();
        try {
          out.heal_report = plan::run(definitions, state_file, *plan, params, plan_options);
          out.heal = "ran";
          out.heal_text = fmt::format("self-healing ran plan {} (run {}): {}", heal.plan, out.heal_report->run_id,
                                      out.heal_report->state);
        } catch (const core::Error& e) {
          if (e.code() != core::ExitCode::tempfail) {
            throw;
          }
          out.heal = "blocked";
          out.heal_text = fmt::format("self-healing blocked: {}{}", e.what(), e.reason().empty() ? "" : " (" + e.reason() + ")");
          if (auto refused = last_run(); refused > before) {
            out.heal_run = refused;
          }
        }
      }
    }
    if (out.heal_report) {
      out.heal_run = out.heal_report->run_id;
    }
    note(store, event_id, "heal", out.heal_text, out.heal_run);
  }
  if (!scenario->notify.empty()) {
    auto message = handled_message(*events.get(event_id), out);
    notify::SystemClock clock;
    for (const auto& notifier : scenario->notify) {
      notify::enqueue(store, notifier, message, clock);
      out.notified.push_back(notifier);
    }
  }
  store.transaction([&] { events.mark_handled(event_id, state::now_iso8601()); });
  return out;
}

} // namespace

} // namespace has::risk
