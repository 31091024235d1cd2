#pragma once

// The counters behind the protection rules (protect/): runs admitted per
// scope, each scope's last start and finish and failures in a row, and the
// pauses in force. Only storage: what the counters allow is protect/'s call.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace has::state {

class Store;

// A run admitted and not finished yet, with the process that runs it.
struct ProtectOpenRun {
  std::int64_t run_id = 0;
  std::string host;
  std::int64_t pid = 0;
  std::optional<std::string> pid_start; // util::process_start_id of pid
};

// The start of an admitted run, and the limits in force when it started.
struct ProtectStart {
  std::string scope;
  std::int64_t run_id = 0;
  std::string host;
  std::int64_t pid = 0;
  std::optional<std::string> pid_start;
  bool automatic = false;
  int targets = 0;
  std::chrono::system_clock::time_point at;
  // The rate window and breaker threshold in force, kept for listings.
  std::optional<std::chrono::milliseconds> rate_window;
  std::optional<int> breaker_failures;
  // Finished runs of the scope started at or before this are forgotten.
  std::chrono::system_clock::time_point forget_finished_before;
};

// The counters of one scope; all empty or zero for a scope never seen.
struct ProtectCounters {
  std::optional<std::chrono::system_clock::time_point> last_start;
  std::optional<std::chrono::system_clock::time_point> last_finish;
  std::optional<bool> last_succeeded;
  int consecutive_failures = 0;
  // As recorded by the last start (ProtectStart).
  std::optional<std::chrono::milliseconds> rate_window;
  std::optional<int> breaker_failures;
};

// A pause in force.
struct ProtectPause {
  std::optional<std::string> scope; // nullopt: all runs
  std::string reason;
  std::optional<std::string> by;
  std::chrono::system_clock::time_point at;
};

// Reads and writes the protection counters. Like the other repositories, no
// method opens a transaction: protect/ groups a check and a start in one
// Store::transaction. Every method throws SqliteError when the state file
// cannot be read or written.
class ProtectRepository {
public:
  // Keeps a reference: the store must outlive the repository.
  explicit ProtectRepository(Store& store) noexcept : m_store(store) {}

  // Returns the scope's runs not finished yet, by run id, leaving out
  // except_run when given.
  std::vector<ProtectOpenRun> open_runs(std::string_view scope, std::optional<std::int64_t> except_run);

  // Returns the start times of the scope's runs after `after`, oldest first,
  // leaving out except_run when given.
  std::vector<std::chrono::system_clock::time_point> starts_after(std::string_view scope,
                                                                  std::chrono::system_clock::time_point after,
                                                                  std::optional<std::int64_t> except_run);

  // Returns the counters of the scope.
  ProtectCounters counters(std::string_view scope);

  // Records the start of a run (a run id started before is started again,
  // keeping nothing of how it ended), makes it the scope's last start, and
  // forgets the scope's finished runs started by start.forget_finished_before.
  void record_start(const ProtectStart& start);

  // Marks the open runs of the scope among run_ids as finished at `at` with
  // outcome "died": their process is gone. Runs already finished stay as
  // they are.
  void close_dead(std::string_view scope, const std::vector<std::int64_t>& run_ids,
                  std::chrono::system_clock::time_point at);

  // Records that run_id of scope finished at `at`: the run's outcome, the
  // scope's last finish and outcome, its failures in a row counted up (or
  // back to zero on success). Returns false, changing nothing, when the run
  // already finished (other than by dying): an end counts once. A run never
  // started is counted each time.
  bool record_finish(std::string_view scope, std::int64_t run_id, bool succeeded,
                     std::chrono::system_clock::time_point at);

  // Sets the scope's failures in a row back to zero, which closes its
  // circuit breaker; a scope never seen stays unseen.
  void close_breaker(std::string_view scope);

  // Records a pause of scope (nullopt: of every run), replacing one there was.
  void set_pause(const ProtectPause& pause);

  // Removes the pause of scope (nullopt: the pause of every run); removing
  // none does nothing.
  void clear_pause(const std::optional<std::string>& scope);

  // Returns the pause of scope (nullopt: the pause of every run), if any.
  std::optional<ProtectPause> pause(const std::optional<std::string>& scope);

  // Returns every pause, the one of every run first, then by scope.
  std::vector<ProtectPause> pauses();

  // Returns every scope with counters, runs or a pause of its own, sorted.
  std::vector<std::string> scopes();

private:
  Store& m_store;
};

} // namespace has::state
