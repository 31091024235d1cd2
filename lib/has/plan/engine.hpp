#pragma once

// Runs plans: the step DAG with parallel independent steps, when/for_each,
// retries, timeouts, confirm gates, nested plans, rollback in reverse order,
// and a journal in the state file written before each step starts and when
// it ends, so that a run killed at any point can be resumed. The parts:
// schedule (which unit starts next), journal (rows and resume decisions),
// undo (rollback order), gates (approvals) and runner (ties them together);
// this header is the whole interface.

#include <has/defs/model.hpp>
#include <has/protect/protect.hpp>
#include <has/state/plan.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace has::plan {

// An operator's answer at a confirm gate.
enum class Answer { approve, reject, later };

// Progress, for the command line to show as it happens.
struct Event {
  enum class Type { started, retrying, finished, skipped, waiting, undo_started, undo_finished, note };
  Type type = Type::note;
  std::int64_t run_id = 0;
  int depth = 0; // 0: the plan run; 1+: plans and Actions it called
  std::string step;
  std::string kind;
  std::string state;   // finished: succeeded or failed
  std::string message;
  std::string detail;  // what is run: argv, URL, remote command (secrets redacted)
  int attempt = 0;
  double elapsed_ms = 0;
};

struct Options {
  // Approve every confirm gate (journaled as approved by --yes).
  bool yes = false;
  std::optional<std::int64_t> event_id;
  // Started by self-healing rather than by a person.
  bool automatic = false;
  // Protection rules a manual run breaks on purpose, and why (journaled).
  std::vector<std::string> overrides;
  std::string override_reason;
  // Asks at a confirm gate (a terminal prompt); unset or `later`: the run
  // waits for `has plan approve RUN STEP`.
  std::function<Answer(const std::string& step, const std::string& message)> ask;
  // Nobody will answer (--no-input, or stdin is not a terminal): a gate
  // that is not approved yet ends the run at once as waiting, its lock
  // released, instead of holding it while it waits.
  bool no_input = false;
  // Called with progress, one call at a time.
  std::function<void(const Event&)> on_event;
  // How often a waiting run looks for approvals and abort requests.
  std::chrono::milliseconds poll{500};
  // resume: steps that were cut short when the run stopped (their outcome
  // unknown), to run again or to count as done; journal keys or step ids.
  std::vector<std::string> retry_steps;
  std::vector<std::string> skip_steps;
};

// How a run ended, with its journal.
struct Report {
  std::int64_t run_id = 0;
  std::string plan;
  // succeeded, failed, rolled_back, rollback_failed, aborted, interrupted,
  // or waiting (stopped at a gate without input: `has plan approve`
  // continues it).
  std::string state;
  std::string reason;
  nlohmann::json params = nlohmann::json::object(); // secrets replaced
  std::vector<state::StepRecord> journal;
  // Completed steps whose rollback did not run because a rollback failed.
  std::vector<std::string> left_undone;
  // Completed steps with a rollback, when the run stopped without rolling
  // back (interrupted, aborted, on_failure: abort): what `has plan rollback`
  // would undo.
  std::vector<std::string> undoable;

  // Gates waiting for an approval (state waiting): journal keys.
  std::vector<std::string> waiting;

  // 0 succeeded; 75 waiting; 130 interrupted; 1 otherwise.
  int exit_code() const;
};

// Runs plan with params (already checked: params_from_text/json). Throws
// core::Error(ExitCode::tempfail) when the plan's lock is held by a live run
// (naming it) or a protection rule refuses it (the run is recorded as
// refused, which the circuit breaker does not count), core::Error(
// ExitCode::io) when the state file fails; a step that fails is not an
// exception but a Report.
Report run(const defs::Definitions& definitions, const std::filesystem::path& state_file,
           const defs::Plan& plan, const nlohmann::json& params, const Options& options);

// Continues run_id (stopped by a crash, a kill, a signal, a failure with
// on_failure: abort, or at a gate without input) from the first step not
// finished. A step cut short runs again only if it is idempotent or listed
// in options.retry_steps; listed in skip_steps it counts as done; otherwise
// resume throws core::Error(ExitCode::failure) naming it (decide_resume).
// Secret parameters are not stored: give them again in secrets. Throws
// core::Error(ExitCode::usage) for an unknown run or one that finished.
Report resume(const defs::Definitions& definitions, const std::filesystem::path& state_file,
              std::int64_t run_id, const nlohmann::json& secrets, const Options& options);

// Undoes the completed steps of a stopped run, newest first.
Report rollback(const defs::Definitions& definitions, const std::filesystem::path& state_file,
                std::int64_t run_id, const nlohmann::json& secrets, const Options& options);

// Stops run_id: a live run is asked to stop (what is running gets SIGTERM
// and its kill_grace, and the run ends as aborted); a dead one is marked
// aborted and its lock released. Returns whether the run's process was
// alive.
bool abort(const std::filesystem::path& state_file, std::int64_t run_id);

// How `approve` went.
enum class Approval { recorded, continued };

// Approves gate step of run_id. A run whose process is alive picks the
// approval up itself (recorded); a run that ended waiting at the gate, or
// whose process died, is resumed here with options (continued; report is
// set; secret parameters are given again in secrets). Throws
// core::Error(ExitCode::usage) for an unknown run or a step that is no gate
// it reached, and like resume() when it cannot go on.
Approval approve(const defs::Definitions& definitions, const std::filesystem::path& state_file,
                 std::int64_t run_id, const std::string& step, const std::string& by, const nlohmann::json& secrets,
                 const Options& options, std::optional<Report>& report);

// Whether a run of plan with params could start now, and if not why.
struct Explanation {
  std::string lock;
  std::optional<state::LockHolder> holder; // a live run holding the lock
  int targets = 0;                         // as far as the parameters tell
  std::vector<protect::Block> blocks;      // protection rules that block it
  std::vector<protect::Block> overridden;  // ...and those options.overrides lift
  bool allowed() const { return !holder && blocks.empty(); }
};

// Returns the explanation, reading the state file only.
Explanation explain(const defs::Definitions& definitions, const std::filesystem::path& state_file,
                    const defs::Plan& plan, const nlohmann::json& params, const Options& options);

// Returns the report of a run from the journal.
Report report_of(const std::filesystem::path& state_file, std::int64_t run_id);

// One resolved step, as --dry-run shows it.
struct DryStep {
  std::string id;
  std::string kind;
  std::vector<std::string> needs;
  std::string when;      // the condition, and whether it holds now
  std::string for_each;  // the items
  std::vector<std::string> detail;   // exactly what runs (per item for for_each)
  std::vector<std::string> rollback; // what undoes it
  std::vector<DryStep> called;       // steps of a plan or Action it calls
};

// Resolves every step with params, without running or writing anything.
// Values that only a run produces (steps.X.stdout) show as <steps.X.stdout>.
std::vector<DryStep> dry_run(const defs::Definitions& definitions, const defs::Plan& plan,
                             const nlohmann::json& params);

// Returns the key of the plan's lock for params: the plan's `lock:` template
// resolved, or the plan name with every parameter value.
std::string lock_key(const defs::Plan& plan, const nlohmann::json& params);

} // namespace has::plan
