#pragma once

// Rollback order: which journal rows of a run are undone, newest first. A
// step is undone by its `rollback:` action, or, for a call (plan, use), by
// rolling back the run it made. Pure: the runner carries the undos out.

#include <has/defs/model.hpp>
#include <has/state/plan.hpp>

#include <string>
#include <vector>

namespace has::plan {

// Returns whether the row has something to undo: a succeeded do-row of a
// step with a rollback or of a call kind. A for_each's own row has nothing
// (its items are undone one by one).
bool undoable(const defs::Plan& plan, const state::StepRecord& row);

// Returns the rows to undo, newest first: undoable rows not yet undone
// (no succeeded undo-row for the same key).
std::vector<state::StepRecord> undo_order(const defs::Plan& plan, const std::vector<state::StepRecord>& rows);

} // namespace has::plan
