#pragma once

// What has does with a risk event on its own: find the scenario that covers
// it, walk the scenario's tree for it, recommend the plans that fit, and heal
// it with the scenario's plan under that plan's protection rules. Every step
// goes on the event's timeline.

#include <has/defs/model.hpp>
#include <has/diagnose/walk.hpp>
#include <has/notify/message.hpp>
#include <has/plan/engine.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace has::state {
struct Event;
}

namespace has::risk {

// Returns whether every part of match holds for the event.
bool matches(const defs::ScenarioMatch& match, const state::Event& event);

// Returns the first scenario, in the order they were loaded, covering the
// event, or nullptr.
const defs::Scenario* find_scenario(const defs::Definitions& definitions, const state::Event& event);

// Returns the level the first of scenario's grading rules that holds gives
// the event (their expressions see event.*, open_minutes and open_events:
// how many open events the scenario covers), or nullopt when none holds.
// Throws core::Error for an expression that fails.
std::optional<std::string> grade(const defs::Definitions& definitions, const defs::Scenario& scenario,
                                 const state::Event& event, std::int64_t open_events);

// Grades every open event its scenario has grading rules for; a change is
// a `graded` line on the timeline. Returns the ids of the events whose
// level changed.
std::vector<std::int64_t> regrade(const defs::Definitions& definitions, const std::filesystem::path& state_file);

struct HandleOptions {
  bool heal = true;          // false: never run a heal plan (--no-heal)
  bool claim = false;        // only an event nobody handled yet (--new, serve --handle)
  diagnose::WalkOptions walk; // timeouts, on_step, cancelled; the event is filled in
  plan::Options plan;         // on_event, poll; automatic and the event are filled in
};

struct Recommendation {
  std::string plan;
  nlohmann::json params = nlohmann::json::object();
  std::string from; // "scenario" or "diagnosis"
};

struct Handled {
  std::int64_t event_id = 0;
  std::string scenario; // empty: no scenario covers the event
  std::string impact;
  std::optional<std::string> level; // from the scenario's grading rules
  std::optional<std::int64_t> diagnosis_run;
  std::string diagnosis; // the cause, or how the walk ended
  std::vector<Recommendation> plans;
  bool claimed_elsewhere = false; // options.claim: another handler had it
  // none (no heal), ran, dry_run, blocked, not_recommended, skipped.
  std::string heal = "none";
  std::string heal_text;
  std::optional<plan::Report> heal_report;
  std::optional<std::int64_t> heal_run; // the heal's plan run, also one refused by a protection rule
  // The scenario's notifiers, and the message for them (enqueued in the
  // outbox by handle(); the caller delivers it).
  std::vector<std::string> notified;
};

// Returns the chat message that says how the event was handled: the
// scenario and its impact, the diagnosis, the plans that fit, self-healing.
// Keyed by the event and what happened, so a message is not sent twice.
notify::Message handled_message(const state::Event& event, const Handled& handled);

// Handles the event (see above) and marks it handled. Throws
// core::Error(ExitCode::usage) for an unknown event; errors of the walk or
// the plan other than a protection rule's or a lock's refusal pass on.
Handled handle(const defs::Definitions& definitions, const std::filesystem::path& state_file, std::int64_t event_id,
               const HandleOptions& options);

} // namespace has::risk
