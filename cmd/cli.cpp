#include "cli.hpp"

#include <has/core/error.hpp>
#include <has/core/redact.hpp>

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <unistd.h>

namespace has::cmd {

using core::Error;
using core::ExitCode;

report::Format output_format(const Globals& globals, std::initializer_list<report::Format> allowed) {
  report::Format format = isatty(STDOUT_FILENO) ? report::Format::table : report::Format::json;
  if (!globals.format.empty()) {
    auto parsed = report::parse_format(globals.format);
    if (!parsed) {
      throw Error(ExitCode::usage, fmt::format("unknown output format '{}'", globals.format), {},
                  "use one of: table, json, ndjson, yaml, markdown, html, junit");
    }
    format = *parsed;
  }
  for (auto candidate : allowed) {
    if (candidate == format) {
      return format;
    }
  }
  std::string list;
  for (auto candidate : allowed) {
    list += list.empty() ? "" : ", ";
    list += report::format_name(candidate);
  }
  throw Error(ExitCode::usage,
              fmt::format("this command cannot write the '{}' format", report::format_name(format)),
              {}, fmt::format("use -o with one of: {}", list));
}

bool use_color(const Globals& globals) {
  const char* no_color = std::getenv("NO_COLOR");
  return !globals.no_color && (no_color == nullptr || *no_color == '\0') && isatty(STDOUT_FILENO);
}

core::Workspace find_workspace(const Globals& globals) {
  std::error_code ec;
  return core::find_workspace(globals.workspace_dir, std::filesystem::current_path(ec));
}

std::filesystem::path state_path(const Globals& globals, const core::Workspace& workspace,
                                 const std::optional<std::string>& configured) {
  if (!globals.state.empty()) {
    return globals.state;
  }
  if (configured && !configured->empty()) {
    std::filesystem::path path(*configured);
    return path.is_absolute() ? path : workspace.root / path;
  }
  return workspace.root / ".has" / "state.db";
}

std::filesystem::path workspace_state_path(const Globals& globals) {
  auto workspace = find_workspace(globals);
  std::optional<std::string> configured;
  if (globals.state.empty()) {
    defs::Diagnostics diagnostics;
    configured = defs::load_config(workspace, diagnostics).state;
  }
  return state_path(globals, workspace, configured);
}

defs::Definitions load_definitions(const Globals& globals, const core::Workspace& workspace) {
  (void)globals;
  defs::LoadOptions options;
  options.plugin_dirs = core::plugin_dirs();
  defs::Diagnostics diagnostics;
  auto definitions = defs::load(workspace, options, diagnostics);
  if (!diagnostics.has_errors()) {
    return definitions;
  }
  std::string list;
  std::size_t shown = 0;
  for (const auto& d : diagnostics.sorted()) {
    if (d.severity != defs::Severity::error) {
      continue;
    }
    if (++shown > 5) {
      break;
    }
    list += fmt::format("\n  {}: {}", d.where.str(), d.message);
  }
  auto count = diagnostics.error_count();
  throw Error(ExitCode::bad_definitions,
              fmt::format("the definitions have {} error{}:{}", count, count == 1 ? "" : "s", list),
              {}, "run 'has validate' to see every problem");
}

void out(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
}

void note(const Globals& globals, std::string_view line) {
  if (!globals.quiet) {
    std::cerr << core::redact(line) << '\n';
  }
}

std::string paint(const Globals& globals, std::string_view colour, std::string_view text) {
  if (!use_color(globals)) {
    return std::string(text);
  }
  std::string_view code = colour == "red"      ? "31"
                          : colour == "yellow" ? "33"
                          : colour == "green"  ? "32"
                          : colour == "cyan"   ? "36"
                          : colour == "bold"   ? "1"
                          : colour == "dim"    ? "2"
                                               : "0";
  return fmt::format("\033[{}m{}\033[0m", code, text);
}

void not_yet_available(CLI::App& command, Globals& globals) {
  command.fallthrough(false);
  command.allow_extras();
  command.footer("This module is not yet available in this version of has; every use "
                 "exits with status 69.");
  command.callback([&command, &globals] {
    (void)globals;
    throw Error(ExitCode::unavailable,
                fmt::format("'has {}' is not yet available in this version", command.get_name()),
                fmt::format("this build of has ({}) does not include the {} module yet", HAS_VERSION,
                            command.get_name()),
                "see 'has --help' for the commands this version has");
  });
}

} // namespace has::cmd
