#pragma once

#include <chrono>
#include <string>

// Timestamps as the state file stores them. Belongs in util/time once that
// exists; the state store is its first user.
namespace has::state {

// Returns the time as ISO-8601 UTC with milliseconds, e.g.
// "2024-03-05T13:04:05.067Z"; fixed width, so the text sorts as time does.
// Does not fail for years 0000-9999.
std::string format_iso8601(std::chrono::system_clock::time_point time);

// Returns the current time, formatted as format_iso8601 does.
std::string now_iso8601();

} // namespace has::state
