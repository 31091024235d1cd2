#pragma once

// Plans (kind: Plan) and atomic operation templates (kind: Action): typed
// parameters and steps forming a DAG. An Action has the same shape as a Plan
// and is run by a step's `use:`.

#include <has/defs/model.hpp>
#include <has/defs/reader.hpp>

#include <vector>

namespace has::defs {

// Reads the kind-specific fields of a Plan or Action document.
Plan parse_plan(MapReader& reader, Header header);

// Checks what needs every document loaded: step graphs (unknown needs,
// cycles), plans called and Action templates used (names and their
// parameters), hosts named, notifiers and rules referred to.
void resolve_plans(Definitions& definitions, Diagnostics& diagnostics);

// Returns the steps in an order where each comes after what it needs (the
// order written, where free); throws core::Error(bad_definitions) naming a
// cycle.
std::vector<const Step*> topological_order(const Plan& plan);

} // namespace has::defs
