#pragma once

// Which step (or for_each item) starts next: the DAG's `needs`, the plan's
// max_parallel over steps, each for_each's own max_parallel and max_fail,
// and the items a resumed run already finished. Pure bookkeeping: the runner
// evaluates `when` and for_each lists (for_each_items), runs the units and
// reports back.

#include <has/defs/model.hpp>
#include <has/expr/expr.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace has::plan {

// One thing to run: a step, or one item of a for_each ("drain[web1]").
struct Unit {
  std::string key;
  std::optional<nlohmann::json> item;
};

// A unit the runner should start now.
struct Launch {
  const defs::Step* step = nullptr;
  Unit unit;
  // Finished by an earlier process (resume): count it, do not run it.
  bool done_before = false;
};

// How a for_each step ended, once its last item did.
struct Tally {
  int succeeded = 0;
  int failed = 0;
  std::size_t total = 0;
  std::size_t not_started = 0;
  int allowed_failures = 0;
  nlohmann::json items = nlohmann::json::array(); // each item's values, in finishing order
  bool ok() const { return failed <= allowed_failures && not_started == 0; }
};

// Returns the items a for_each step runs over: inventory hosts (as {name,
// address, labels}), a list written in the step, or what its expression
// gives over values; throws core::Error when they cannot be known from
// values or are not a list.
nlohmann::json for_each_items(const defs::Definitions& definitions, expr::Engine& engine, const defs::Step& step,
                              const nlohmann::json& values);

class Schedule {
public:
  // order: the plan's steps in topological order (defs::topological_order).
  Schedule(const defs::Plan& plan, std::vector<const defs::Step*> order);

  // Counts these journal keys as finished (a resumed run): a step id
  // finishes the step, "id[item]" one of its items.
  void done_before(const std::set<std::string>& keys);

  // Returns the steps whose needs are all done and that have not started,
  // in topological order: the runner skips, fails or activates each.
  std::vector<const defs::Step*> ready() const;

  // The step is done without running (when: false, or failed before it
  // could start).
  void settle(const defs::Step& step, bool ok);

  // The step starts: one unit for a plain step, one per item for a
  // for_each, of which allowed_failures may fail.
  void activate(const defs::Step& step, std::vector<Unit> units, int allowed_failures = 0);

  // Returns the next unit to start within the limits, or nullopt. Every
  // launch counts as running until finished() is called for it (done_before
  // units too).
  std::optional<Launch> next();

  // A unit ended. Returns the for_each's tally when this ended the whole
  // for_each step (its last item, or a failure beyond max_fail once nothing
  // of it runs, or stopping once nothing runs); nullopt otherwise.
  std::optional<Tally> finished(const defs::Step& step, const Unit& unit, bool ok, const nlohmann::json& values,
                                bool stopping);

  // A for_each with no items ends at once; returns its (empty) tally.
  Tally finish_empty(const defs::Step& step);

  // Returns whether the step is done and succeeded.
  bool done(const defs::Step& step) const;
  // Returns the units in flight (gates included).
  int running() const noexcept { return m_running; }
  // Returns whether anything could still start (ignoring the limits).
  bool more() const;
  // Returns whether exactly one unit can run now and nothing else runs:
  // the runner may run it on its own thread.
  bool alone() const;

private:
  struct Progress {
    enum class Phase { waiting, active, done } phase = Phase::waiting;
    bool ok = true;
    bool repeated = false;
    std::vector<Unit> units;
    std::size_t next = 0;
    int running = 0;
    int allowed_failures = 0;
    Tally tally;
    std::set<std::string> done_keys;
  };
  std::size_t index_of(const defs::Step& step) const;
  bool needs_met(std::size_t index) const;
  Tally close(Progress& progress);

  const defs::Plan& m_plan;
  std::vector<const defs::Step*> m_order;
  std::vector<Progress> m_progress;           // by the step's index in the plan
  std::vector<std::vector<std::size_t>> m_needs; // the indexes each step needs
  int m_running = 0;                          // units in flight
  int m_running_steps = 0;                    // plain steps in flight (max_parallel)
};

} // namespace has::plan
