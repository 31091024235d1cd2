#pragma once

// The journal's side of the engine: the rows it writes before a step starts
// and when it ends (bounded, secrets redacted), and what resume makes of the
// rows of a stopped run. Pure functions: the runner writes the rows.

#include <has/defs/model.hpp>
#include <has/state/plan.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace has::plan {

// Step states in the journal beyond running/succeeded/failed/skipped:
// interrupted (stopped by a signal or an abort; runs again on resume) and
// unknown (a step that is not idempotent was cut short: whether it took
// effect is not known, so resume waits for --retry or --skip).
inline constexpr std::string_view k_interrupted = "interrupted";
inline constexpr std::string_view k_unknown = "unknown";

// Returns the step id of a journal key: "drain[web1]" -> "drain".
std::string base_id(const std::string& key);

// Returns the journal key part of a for_each item: a string item itself, a
// number as written, an object's "name", else its index.
std::string item_key(const nlohmann::json& item, std::size_t index);

// Returns value with every string longer than 64 KiB cut, with a note.
nlohmann::json bounded(const nlohmann::json& value);

// Returns value as journal text: bounded, invalid UTF-8 replaced, secrets
// redacted.
std::string journal_json(const nlohmann::json& value);

// Returns a journal row with the given fields and the rest empty.
state::StepRecord make_record(std::int64_t run_id, std::string step, std::string phase, std::string kind,
                              std::string state, bool idempotent = false, int attempts = 0);

// A step's values for later steps: its outputs and its state.
nlohmann::json step_values(const nlohmann::json& outputs, std::string_view state);

// What resuming a stopped run does with each journal key.
struct ResumeDecision {
  std::set<std::string> done;        // finished before, or counted as done now
  std::vector<std::string> skipped;  // counted as done now by the operator (--skip)
  std::vector<std::string> retried;  // cut short, and run again (idempotent or --retry)
  std::vector<std::string> unknown;  // cut short, not idempotent, no decision: resume must not go on
};

// Returns the decision for the rows of a stopped run of plan. retry and skip
// name journal keys or step ids. Throws core::Error(ExitCode::failure) for a
// row of a step the plan no longer has, and core::Error(ExitCode::usage) for
// a --retry/--skip naming no step of the run that is unknown or in flight.
ResumeDecision decide_resume(const defs::Plan& plan, const std::vector<state::StepRecord>& rows,
                             const std::vector<std::string>& retry, const std::vector<std::string>& skip);

} // namespace has::plan
