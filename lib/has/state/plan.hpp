#pragma once

// The plan journal: runs of plans, each step's state written before it
// starts and when it ends, approvals, overrides, and the locks that keep two
// runs off one target.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace has::state {

class Store;

// A plan run (its row in runs holds who, where, when and the exit code).
struct PlanRun {
  std::int64_t run_id = 0;
  std::string plan;
  std::string params = "{}"; // JSON, secrets replaced
  // running, waiting, succeeded, failed, rolling_back, rolled_back,
  // rollback_failed, aborted, interrupted or refused.
  std::string state = "running";
  std::optional<std::int64_t> parent_run;
  std::optional<std::string> parent_step;
  std::optional<std::int64_t> event_id;
  std::optional<std::string> lock_key;
  std::optional<std::string> pid_start;
  bool abort_requested = false;
  std::optional<std::string> reason;
};

// One journal row: a step (or a for_each item, "id[item]") in one phase.
struct StepRecord {
  std::int64_t run_id = 0;
  std::string step;
  std::string phase = "do"; // do, undo
  std::int64_t seq = 0;     // order of first start within the run
  std::string kind;
  // running, waiting, succeeded, failed, skipped, interrupted or unknown.
  std::string state = "running";
  bool idempotent = false;
  int attempts = 0;
  std::optional<std::string> started_at;
  std::optional<std::string> finished_at;
  std::optional<int> exit_code;
  std::optional<std::string> detail;  // what was run, secrets redacted
  std::optional<std::string> message;
  std::optional<std::string> outputs; // JSON
};

struct Override {
  std::string rule;
  std::string reason;
  std::optional<std::string> by;
  std::string at;
};

// Who holds a lock.
struct LockHolder {
  std::string key;
  std::int64_t run_id = 0;
  std::string host;
  std::int64_t pid = 0;
  std::optional<std::string> pid_start;
  std::string acquired_at;
};

// Reads and writes the journal; every write is one short transaction, done
// before the thing it records happens (for starts) or right after (for ends).
// Throws SqliteError if the state file cannot be read or written.
class PlanRepository {
public:
  explicit PlanRepository(Store& store) noexcept : m_store(store) {}

  void create(const PlanRun& run);
  // Sets the run's state (and the reason, when given).
  void set_state(std::int64_t run_id, std::string_view state, std::optional<std::string> reason = {});
  std::optional<PlanRun> get(std::int64_t run_id);
  // Newest first; only of plan when given; all if limit <= 0; with the runs
  // that plans called only when called is set.
  std::vector<PlanRun> list(std::optional<std::string> plan, int limit, bool called = false);
  // The runs a run called through `plan:` and `use:` steps.
  std::vector<PlanRun> children(std::int64_t run_id);

  // Writes the step's row as it starts an attempt (state running, started_at
  // now the first time, attempts as given).
  void step_started(const StepRecord& record);
  // Writes how the step ended: state, exit code, message, outputs, attempts.
  void step_finished(const StepRecord& record);
  // Writes a state without touching the rest (waiting, skipped, interrupted).
  void step_state(std::int64_t run_id, std::string_view step, std::string_view phase,
                  std::string_view state, std::optional<std::string> message = {});
  // Every row of the run, in seq order (do before undo of the same seq).
  std::vector<StepRecord> steps(std::int64_t run_id);

  void approve(std::int64_t run_id, std::string_view step, std::optional<std::string> by);
  bool approved(std::int64_t run_id, std::string_view step);

  void request_abort(std::int64_t run_id);
  // Makes a stopped run live again in the process pid (resume, approve): its
  // runs row running again, its abort request cleared.
  void reopen(std::int64_t run_id, std::int64_t pid, const std::optional<std::string>& pid_start);
  bool abort_requested(std::int64_t run_id);

  void add_override(std::int64_t run_id, const Override& item);
  std::vector<Override> overrides(std::int64_t run_id);

  // Takes the lock for run_id, or returns who holds it. A holder whose
  // process is gone (on this host: pid not running, or running with another
  // start id) loses the lock, which is then taken.
  std::optional<LockHolder> acquire(const LockHolder& wanted, std::string_view this_host);
  // Releases the lock if run_id holds it.
  void release(std::string_view key, std::int64_t run_id);
  std::vector<LockHolder> locks();

private:
  Store& m_store;
};

} // namespace has::state
