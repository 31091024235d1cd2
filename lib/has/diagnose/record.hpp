#pragma once

// A walk of a tree for real, recorded in the state file: its run (who,
// where, which commit), the path with its evidence, and the conclusion on
// the timeline of the event it was for.

#include <has/diagnose/walk.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>

namespace has::state {
class Store;
}

namespace has::diagnose {

struct Recorded {
  std::int64_t run_id = 0;
  Outcome outcome;
  nlohmann::json doc; // to_json(outcome) with tree, run_id, event_id, workspace
  int exit_code = 0;  // the severity (0-3), or 130 when interrupted
};

// Walks tree with real probes. The run is recorded before anything is
// observed (on_start gets its id) and finished with the outcome; a walk that
// throws is recorded as failed and the exception passes on.
Recorded walk_recorded(const defs::Definitions& definitions, const defs::Tree& tree, state::Store& store,
                       const WalkOptions& options, const std::function<void(std::int64_t run_id)>& on_start = {});

} // namespace has::diagnose
