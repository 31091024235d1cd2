#pragma once

#include <string>
#include <utility>
#include <vector>

namespace has::core {

// Returns the version of has, e.g. "0.1.0".
const char* version();

// Returns the git commit the binary was built from ("unknown" outside git;
// "-dirty" appended when the tree had uncommitted changes).
const char* build_git_commit();

// Returns the name and version of every library core knows of (the state
// store's and the command line's are added by the has command).
std::vector<std::pair<std::string, std::string>> library_versions();

} // namespace has::core
