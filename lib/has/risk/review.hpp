#pragma once

// The retrospective of one risk event: its time figures and the actions
// taken, from its timeline.

#include <has/state/inspect.hpp>

#include <chrono>
#include <map>
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

// One time figure over many events: of those where it happened.
struct Figure {
  std::size_t count = 0;
  std::optional<std::chrono::milliseconds> mean;
  std::optional<std::chrono::milliseconds> median;
  std::optional<std::chrono::milliseconds> worst;
};

// The figures of many events (`has risk stats`).
struct Stats {
  std::size_t events = 0;
  std::size_t open = 0;
  std::size_t healed = 0; // a self-healing plan succeeded
  std::map<std::string, std::size_t> by_source;
  std::map<std::string, std::size_t> by_severity;
  std::map<std::string, std::size_t> by_level;
  Figure to_acknowledge;
  Figure to_diagnose;
  Figure to_mitigate;
  Figure to_resolve;
};

// Returns the figures of the events with their reviews (the same order).
Stats stats(const std::vector<state::Event>& events, const std::vector<Review>& reviews);

} // namespace has::risk
