#pragma once

// Protection rules: whether something that changes production (a plan run,
// a self-healing action, a failover) may start now, and the counters that
// decide it. The counters live in the state file, so they hold across
// separate has processes (cron jobs, terminals) that share it.

#include <has/defs/model.hpp>
#include <has/state/protect.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace has::protect {

using Clock = std::chrono::system_clock;

// The names of the rules, as they appear in Block::rule and in overrides.
inline constexpr std::string_view k_rule_paused = "paused";
inline constexpr std::string_view k_rule_breaker = "breaker";
inline constexpr std::string_view k_rule_freeze = "freeze";
inline constexpr std::string_view k_rule_window = "window";
inline constexpr std::string_view k_rule_rate = "rate";
inline constexpr std::string_view k_rule_cooldown = "cooldown";
inline constexpr std::string_view k_rule_concurrency = "concurrency";
inline constexpr std::string_view k_rule_blast_radius = "blast_radius";

// A run that wants to start.
struct Request {
  std::string scope;  // what the counters are kept for, e.g. "plan:restart-web"
  int targets = 0;    // targets this run will touch (blast radius)
  bool automatic = false; // started by self-healing, not by a person
  // Rules a manual run may break (the caller journals the reason). Ignored
  // for automatic runs: self-healing never breaks a rule.
  std::vector<std::string> overrides;
  // Who runs it: the host, and the process with its start id
  // (util::process_start_id), so a run whose process died stops counting.
  std::string host;
  std::int64_t pid = 0;
  std::optional<std::string> pid_start;
};

// One rule that stands in the way.
struct Block {
  std::string rule;   // one of the k_rule_* names
  std::string reason; // a sentence for an operator: the limit and what the counters say
  // When the rule would allow the run; none where a person must act
  // (resume, reset the breaker) or it never would.
  std::optional<Clock::time_point> allowed_at;
};

struct Decision {
  std::vector<Block> blocks;
  // Rules that would block but were overridden by the request.
  std::vector<Block> overridden;

  bool allowed() const noexcept { return blocks.empty(); }
  // Returns the latest allowed_at of the blocks (when waiting is all it
  // takes), or nullopt if allowed or if any block needs a person.
  std::optional<Clock::time_point> allowed_at() const;
};

// Returns what would block the request now and what it overrides, reading
// the state file only (for `has plan run --explain`). Throws
// core::Error(ExitCode::usage) for an empty scope, SqliteError if the state
// file cannot be read.
Decision check(state::Store& store, const defs::Protection& protection, const Request& request,
               Clock::time_point now);

// Checks as check() does and, when allowed, records the start of run_id for
// the scope, all in one BEGIN IMMEDIATE transaction: of processes racing for
// the last free slot, exactly one gets in. Open runs of the scope on this host
// (request.host) whose process is gone are closed on the way. Admitting a
// run_id again (a resumed run) replaces its record instead of counting twice.
// Throws as check() does, and SqliteError if the state file cannot be written.
Decision admit(state::Store& store, const defs::Protection& protection, const Request& request,
               std::int64_t run_id, Clock::time_point now);

// Records how run_id ended: its finish starts the cooldown; a failure counts
// towards the circuit breaker, a success resets the count. Finishing an
// admitted run twice counts once (a run never admitted counts each time).
// Throws core::Error(ExitCode::usage) for an empty scope, SqliteError if the
// state file cannot be written.
void finish(state::Store& store, const std::string& scope, std::int64_t run_id, bool succeeded,
            Clock::time_point now);

// Pauses every run (scope nullopt, the global kill switch) or the runs of
// scope, until resume(); pausing again replaces the reason. Throws
// core::Error(ExitCode::usage) for an empty scope, SqliteError if the state
// file cannot be written.
void pause(state::Store& store, std::optional<std::string> scope, std::string reason,
           std::optional<std::string> by);

// Lifts the pause of scope, or the global one (nullopt; pauses of single
// scopes stay). Lifting what is not paused does nothing. Throws as pause().
void resume(state::Store& store, std::optional<std::string> scope);

// Closes the circuit breaker of scope (the failure count starts again at
// zero). Throws core::Error(ExitCode::usage) for an empty scope, SqliteError
// if the state file cannot be written.
void reset_breaker(state::Store& store, const std::string& scope);

// A pause in force: its scope (nullopt: all runs), reason, who and when.
using Pause = state::ProtectPause;

// Returns the pauses in force, the global one first. Throws SqliteError if
// the state file cannot be read.
std::vector<Pause> pauses(state::Store& store);

// What the counters of one scope say.
struct ScopeState {
  std::string scope;
  // Starts within `window`: the rate window in force at the scope's last
  // admission, or the last 24 hours where there was no rate rule.
  int starts_in_window = 0;
  std::chrono::milliseconds window{0};
  // Runs admitted and not finished whose process is alive (other hosts'
  // runs count as alive).
  std::vector<std::int64_t> running;
  std::optional<Clock::time_point> last_start;
  std::optional<Clock::time_point> last_finish;
  std::optional<bool> last_succeeded;
  int consecutive_failures = 0;
  // The breaker's threshold in force at the last admission, and whether the
  // failures have reached it.
  std::optional<int> breaker_failures;
  bool breaker_open = false;
  // The pause that stops the scope: its own, else the global one.
  std::optional<Pause> paused;
};

// Returns the state of every scope the state file knows, by scope name;
// this_host decides whose processes can be checked. Throws SqliteError if
// the state file cannot be read.
std::vector<ScopeState> states(state::Store& store, Clock::time_point now, std::string_view this_host);

} // namespace has::protect
