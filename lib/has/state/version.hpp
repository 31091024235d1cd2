#pragma once

#include <string>
#include <utility>

namespace has::state {

// Returns the name and version of the database library behind the state
// store, e.g. {"SQLite", "3.40.1"}, for `has version`. Does not fail.
std::pair<std::string, std::string> library_version();

} // namespace has::state
