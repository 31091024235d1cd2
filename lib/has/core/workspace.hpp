#pragma once

#include <filesystem>
#include <optional>
#include <vector>

namespace has::core {

// A definitions workspace: a directory with has.yaml at its root.
struct Workspace {
  std::filesystem::path root;
  std::filesystem::path config_file;
};

// Returns the workspace in dir when given (-C), else the first directory from
// start upwards that holds has.yaml. Throws Error(ExitCode::usage) naming the
// directories searched, with a help line pointing at `has init` and -C.
Workspace find_workspace(const std::optional<std::filesystem::path>& dir,
                         const std::filesystem::path& start);

// Returns the directories of the shipped library that exist: $HAS_PLUGINS
// (colon-separated) when set, else share/has/plugins next to the running
// binary's prefix, else the compiled-in data directory.
std::vector<std::filesystem::path> plugin_dirs();

// Returns the path of the running executable.
std::filesystem::path executable_path();

// Returns path relative to the current directory when it lies below it,
// else path unchanged; used to print file names the way compilers do.
std::string display_path(const std::filesystem::path& path);

} // namespace has::core
