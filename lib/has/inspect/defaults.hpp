#pragma once

#include <has/defs/diagnostics.hpp>
#include <has/defs/model.hpp>

namespace has::inspect {

// Adds a note for each rule and tree node of the workspace (not the shipped
// library) whose verdict comes from its probe's default (has-definitions(5),
// "Default verdicts"), as probe::relies_on_default says for the probe's
// fields and what the rule writes (its template's parts filled in, as
// expand does): a rule without the expectations that would judge instead,
// or a probe node with a branch that reads its verdict (`status`, `equals`,
// an `if:` naming `verdict` or `value`). Each note says what to write
// instead. Kinds whose status is the verdict either way are never noted.
// Never throws.
void note_default_verdicts(const defs::Definitions& definitions, defs::Diagnostics& diagnostics);

} // namespace has::inspect
