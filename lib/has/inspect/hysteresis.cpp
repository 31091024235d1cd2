#include <has/inspect/hysteresis.hpp>

namespace has::inspect {

Transition apply(state::RuleState& state, probe::Status raw, int fail_after, int recover_after,
                 const std::string& now) {
  bool failing = raw != probe::Status::ok;
  state.last_raw = std::string(probe::status_name(raw));
  state.updated_at = now;
  if (state.changed_at.empty()) {
    state.changed_at = now;
  }
  if (failing) {
    ++state.fail_streak;
    state.ok_streak = 0;
  } else {
    ++state.ok_streak;
    state.fail_streak = 0;
  }
  state.history.push_back(failing ? 'f' : 'o');
  if (state.history.size() > k_flap_window) {
    state.history.erase(0, state.history.size() - k_flap_window);
  }
  if (state.history.size() >= 4) {
    std::size_t changes = 0;
    for (std::size_t i = 1; i < state.history.size(); ++i) {
      changes += state.history[i] != state.history[i - 1] ? 1 : 0;
    }
    double share = static_cast<double>(changes) / static_cast<double>(state.history.size() - 1);
    if (!state.flapping && share >= k_flap_start) {
      state.flapping = true;
    } else if (state.flapping && share <= k_flap_stop) {
      state.flapping = false;
    }
  }

  bool was_failing = state.effective != "ok";
  auto raw_name = std::string(probe::status_name(raw));
  if (!was_failing && failing && state.fail_streak >= fail_after) {
    state.effective = raw_name;
    state.changed_at = now;
    return Transition::failing;
  }
  if (was_failing && !failing && state.ok_streak >= recover_after) {
    state.effective = "ok";
    state.changed_at = now;
    return Transition::recovered;
  }
  if (was_failing && failing && state.effective != raw_name) {
    state.effective = raw_name;
    return Transition::changed_severity;
  }
  return Transition::none;
}

} // namespace has::inspect
