#pragma once

#include <has/probe/probe.hpp>
#include <has/state/inspect.hpp>

#include <string>

namespace has::inspect {

// How many raw outcomes the flapping detector looks back over, and the share
// of changes among them that starts and ends flapping (as Nagios does, with
// a gap between the two so the flag itself does not flap).
inline constexpr std::size_t k_flap_window = 20;
inline constexpr double k_flap_start = 0.5;
inline constexpr double k_flap_stop = 0.25;

// What a new raw outcome did to a rule on a target.
enum class Transition { none, failing, recovered, changed_severity };

// Applies one raw outcome to state (streaks, history, flapping, effective
// status after fail_after/recover_after) and returns the transition of the
// effective status. A rule seen for the first time starts from ok.
Transition apply(state::RuleState& state, probe::Status raw, int fail_after, int recover_after,
                 const std::string& now);

} // namespace has::inspect
