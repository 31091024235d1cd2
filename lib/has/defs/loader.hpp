#pragma once

#include <has/core/workspace.hpp>
#include <has/defs/diagnostics.hpp>
#include <has/defs/model.hpp>

#include <filesystem>
#include <string_view>
#include <vector>

namespace has::defs {

struct LoadOptions {
  // Directories of the shipped library; loaded unless has.yaml turns it off.
  std::vector<std::filesystem::path> plugin_dirs;
};

// Reads has.yaml alone (for a command that needs only its settings, such as
// the state file); problems go to diagnostics.
Config load_config(const core::Workspace& workspace, Diagnostics& diagnostics);

// Loads has.yaml and every *.yaml / *.yml below the workspace root (hidden
// directories skipped) plus the shipped library, validates each document
// against its kind, and resolves references between documents. Never throws
// for problems in the definitions: every one goes to diagnostics, and the
// returned model holds what could be read.
Definitions load(const core::Workspace& workspace, const LoadOptions& options,
                 Diagnostics& diagnostics);

// One kind of document: its name, a one-line summary, and whether this
// version of has can use it.
struct KindInfo {
  std::string_view name;
  std::string_view summary;
  bool available;
};

// Returns the table of document kinds, in the order has-definitions(5) lists them.
const std::vector<KindInfo>& kinds();

} // namespace has::defs
