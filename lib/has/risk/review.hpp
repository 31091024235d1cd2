#pragma once

// The retrospective of one risk event: its time figures and the actions
// taken, from its timeline.

#include <has/state/inspect.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace has::risk {

// A plan run for the event and how it ended.
struct ActionTaken {
  std::int64_t run_id = 0;
  std::string plan;
  std::string state; // the last state the timeline gives
  std::string by;    // who ran it
  bool automatic = false; // started by self-healing
  std::string started_at;
  std::string ended_at;
};

struct Review {
  // From the first sighting to the first acknowledgement, the first
  // diagnosis, the first plan that succeeded, and resolution (when they
  // happened).
  std::optional<std::chrono::milliseconds> to_acknowledge;
  std::optional<std::chrono::milliseconds> to_diagnose;
  std::optional<std::chrono::milliseconds> to_mitigate;
  std::optional<std::chrono::milliseconds> to_resolve;
  std::optional<std::string> scenario; // the scenario line's text
  std::vector<std::string> diagnoses;  // the diagnosis lines' text
  std::vector<ActionTaken> actions;
  bool healed = false; // a self-healing plan succeeded
};

// Returns the review of event from its timeline (oldest line first).
Review review(const state::Event& event, const std::vector<state::TimelineEntry>& timeline);

} // namespace has::risk
