#pragma once

#include <has/core/workspace.hpp>
#include <has/defs/loader.hpp>
#include <has/report/render.hpp>

#include <CLI/CLI.hpp>

#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace has::cmd {

// The global flags, shared by every subcommand, and the exit code the chosen
// subcommand leaves behind.
struct Globals {
  std::optional<std::filesystem::path> workspace_dir; // -C
  std::string state;                                  // --state, HAS_STATE
  std::string format;                                 // -o
  int verbose = 0;
  bool quiet = false;
  bool no_color = false;
  bool no_input = false; // never wait for a person: gates end the run as waiting
  int exit_code = 0;
};

// Returns the output format: -o when given, else table on a terminal and
// json otherwise. Throws core::Error(ExitCode::usage) when the command does
// not support the format asked for.
report::Format output_format(const Globals& globals, std::initializer_list<report::Format> allowed);

// Returns whether stdout gets colours: a terminal, and neither --no-color nor
// NO_COLOR.
bool use_color(const Globals& globals);

// Returns the workspace from -C or the current directory upwards.
core::Workspace find_workspace(const Globals& globals);

// Returns the state file: --state / HAS_STATE, else has.yaml's `state`, else
// .has/state.db in the workspace.
std::filesystem::path state_path(const Globals& globals, const core::Workspace& workspace,
                                 const std::optional<std::string>& configured);

// Returns the state file for a command that needs no definitions: --state /
// HAS_STATE, else has.yaml's `state` (only has.yaml is read), else
// .has/state.db in the workspace.
std::filesystem::path workspace_state_path(const Globals& globals);

// Loads and validates the workspace's definitions. Throws
// core::Error(ExitCode::bad_definitions) listing the first errors (and how
// many there are) when the definitions do not validate.
defs::Definitions load_definitions(const Globals& globals, const core::Workspace& workspace);

// Writes text to stdout as is (results only).
void out(std::string_view text);
// Writes a line to stderr unless -q (progress, summaries, hints).
void note(const Globals& globals, std::string_view line);

// Wraps text in an ANSI colour when enabled: "red", "yellow", "green", "bold", "dim".
std::string paint(const Globals& globals, std::string_view colour, std::string_view text);

// One registration function per subcommand file; each fills in the
// subcommand that main() created from its table.
void register_validate(CLI::App& command, Globals& globals);
void register_init(CLI::App& command, Globals& globals);
void register_version(CLI::App& command, Globals& globals);
void register_completion(CLI::App& command, Globals& globals);
void register_state(CLI::App& command, Globals& globals);
void register_notify(CLI::App& command, Globals& globals);
void register_inspect(CLI::App& command, Globals& globals);
void register_diagnose(CLI::App& command, Globals& globals);
void register_plan(CLI::App& command, Globals& globals);
void register_drill(CLI::App& command, Globals& globals);
void register_failover(CLI::App& command, Globals& globals);
void register_risk(CLI::App& command, Globals& globals);

// Makes command a placeholder for a module this version does not have yet:
// it accepts any arguments and fails with exit 69.
void not_yet_available(CLI::App& command, Globals& globals);

} // namespace has::cmd
