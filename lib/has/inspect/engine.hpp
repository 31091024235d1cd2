#pragma once

#include <has/core/provenance.hpp>
#include <has/defs/model.hpp>
#include <has/inspect/evaluate.hpp>
#include <has/inspect/expand.hpp>
#include <has/inspect/hysteresis.hpp>
#include <has/probe/runner.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace has::state {
class Store;
}

namespace has::inspect {

struct RunReport;

struct RunOptions {
  Selection selection;
  probe::RunLimits limits;
  bool explain = false;
  // Called after each check completes (for a progress bar): done, total.
  std::function<void(std::size_t, std::size_t)> progress;
  // Called once, from another thread, when every outcome of the run is final
  // (statuses after hysteresis, events), while the results are written to
  // the state file; it may read the report but not change it. Its exception
  // is thrown by run() once the results are written.
  std::function<void(const RunReport&)> on_outcomes;
};

// One check's full outcome.
struct Outcome {
  std::string rule;
  std::string target;
  probe::Status raw = probe::Status::ok;       // this run's judgement
  probe::Status effective = probe::Status::ok; // after fail_after / recover_after
  Verdict verdict;
  probe::Result result;
  int attempts = 1;
  int fail_streak = 0;
  int fail_after = 1;
  bool flapping = false;
  std::optional<std::string> muted_by; // the silence that mutes it
  Transition transition = Transition::none;
  std::optional<std::int64_t> event_id;
};

struct RunReport {
  std::int64_t run_id = 0;
  std::string started_at;
  std::string finished_at;
  probe::Status worst = probe::Status::ok; // of the effective statuses, muted ones left out
  core::Provenance provenance;
  std::vector<Outcome> outcomes;
};

// Runs the selected checks concurrently, retries failures within the run,
// judges each result, carries hysteresis across runs, records the run, every
// result and the risk events it raises or resolves in the state store, and
// returns the whole report. Throws core::Error for a bad selection (usage)
// and SqliteError when the state file cannot be written.
RunReport run(const defs::Definitions& definitions, state::Store& store, const RunOptions& options);

} // namespace has::inspect
