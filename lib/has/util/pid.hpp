#pragma once

#include <optional>
#include <string>
#include <sys/types.h>

namespace has::util {

// Returns an identifier of when process pid started (its start time in clock
// ticks since boot, from /proc), or nullopt if there is no such process or
// /proc cannot tell. Together with the pid it names one process even after
// the pid is reused.
std::optional<std::string> process_start_id(pid_t pid);

// Returns whether process pid is running and, when start_id is given, is the
// same process that had that start id. A process we may not signal counts as
// running; one that ended but was not reaped yet (a zombie) does not.
bool process_alive(pid_t pid, const std::optional<std::string>& start_id);

} // namespace has::util
