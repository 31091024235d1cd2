#pragma once

#include <has/defs/diagnostics.hpp>
#include <has/defs/model.hpp>

namespace has::inspect {

// Adds a note for each rule and tree node of the workspace (not the shipped
// library) whose verdict comes from its probe's default rather than from
// expectations or thresholds it writes (a rule), or whose branches read the
// status its probe's default decides (a tree node): a reviewer sees which
// checks judge by the probe's own reading (has-definitions(5), "Default
// verdicts"). Only kinds whose default judges beyond their status count
// (probe::judges_beyond_status): a plugin's exit code is its verdict either
// way. Never throws.
void note_default_verdicts(const defs::Definitions& definitions, defs::Diagnostics& diagnostics);

} // namespace has::inspect
