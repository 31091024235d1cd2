#pragma once

#include <has/defs/diagnostics.hpp>
#include <has/defs/model.hpp>

namespace has::inspect {

// Builds the probe of every check the definitions hold, as a run would
// (probe::make_task), without running it, and records an error for each
// field value the probe kind refuses (`expect_status: "299-200"`, `engine:
// chromium`): for each rule instantiated as `inspect run` does (templates
// resolved per target, one error per rule at the rule; a probe without
// ${{ }} is the same on every target and is built once), and for the inline
// probes of tree nodes (also `collect`) and of `wait` steps whose fields
// hold no ${{ }} (the others are only known when they run). A probe whose
// ${env:} or ${{ }} cannot be resolved now is left to run time. Never throws.
void check_probes(const defs::Definitions& definitions, defs::Diagnostics& diagnostics);

} // namespace has::inspect
