#pragma once

// Risk scenarios (kind: Scenario): which events one covers, the tree that
// diagnoses them, the plans that fit, the business impact, self-healing.

#include <has/defs/model.hpp>
#include <has/defs/reader.hpp>

namespace has::defs {

// Reads the kind-specific fields of a Scenario document.
Scenario parse_scenario(MapReader& reader, Header header);

// Checks the tree and plans a scenario names, and that the plan it heals
// with is one it recommends (or its tree does).
void resolve_scenarios(Definitions& definitions, Diagnostics& diagnostics);

} // namespace has::defs
