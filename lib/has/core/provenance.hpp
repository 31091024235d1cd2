#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace has::core {

// Who ran has, where, and on which version of the definitions: recorded
// with every run and printed in every report.
struct Provenance {
  std::string host;
  std::string user;
  std::optional<std::string> git_commit; // of the workspace; none outside git
  std::optional<bool> git_dirty;
};

// Returns the name of the user running has (its effective uid's, else
// $USER), or an empty string.
std::string current_user();

// Returns the provenance of a run on the workspace at root. Never throws:
// what cannot be found stays empty.
Provenance provenance(const std::filesystem::path& root);

} // namespace has::core
