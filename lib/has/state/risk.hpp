#pragma once

// What handling a risk event (risk/handle) reads besides the event itself.

#include <cstdint>
#include <optional>
#include <string_view>

namespace has::state {

class Store;

// Returns the id of the newest run of plan started for the event (at its
// top, not called by another plan), recorded even when a protection rule
// refused it, or nullopt when there is none. Throws SqliteError if the
// state file cannot be read.
std::optional<std::int64_t> last_plan_run_for_event(Store& store, std::int64_t event_id, std::string_view plan);

} // namespace has::state
