#include "cli.hpp"

#include <has/core/error.hpp>
#include <has/defs/loader.hpp>
#include <has/inspect/defaults.hpp>
#include <has/inspect/prepare.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace has::cmd {

namespace {

struct ValidateOptions {
  bool no_library = false;
  bool strict = false;
};

nlohmann::json to_json(const defs::Diagnostic& d) {
  return {{"file", d.where.file},     {"line", d.where.line},
          {"column", d.where.column}, {"severity", defs::severity_name(d.severity)},
          {"message", d.message}};
}

std::string_view colour_of(defs::Severity severity) {
  switch (severity) {
  case defs::Severity::error: return "red";
  case defs::Severity::warning: return "yellow";
  case defs::Severity::note: return "cyan";
  }
  return "red";
}

// Returns ", 2 warnings, 1 note" for the counts that are not zero.
std::string counts_text(std::size_t warnings, std::size_t notes) {
  std::string out;
  if (warnings > 0) {
    out += fmt::format(", {} warning{}", warnings, warnings == 1 ? "" : "s");
  }
  if (notes > 0) {
    out += fmt::format(", {} note{}", notes, notes == 1 ? "" : "s");
  }
  return out;
}

void run(const Globals& globals, const ValidateOptions& options, int& exit_code) {
  auto format = output_format(globals, {report::Format::table, report::Format::json,
                                        report::Format::ndjson, report::Format::yaml,
                                        report::Format::markdown});
  auto workspace = find_workspace(globals);
  defs::LoadOptions load_options;
  if (!options.no_library) {
    load_options.plugin_dirs = core::plugin_dirs();
  }
  defs::Diagnostics diagnostics;
  auto definitions = defs::load(workspace, load_options, diagnostics);
  // Both instantiate the definitions, which only holds for ones that loaded.
  if (!diagnostics.has_errors()) {
    inspect::check_probes(definitions, diagnostics);
    inspect::note_default_verdicts(definitions, diagnostics);
  }
  auto items = diagnostics.sorted();
  if (options.strict) {
    for (auto& d : items) {
      if (d.severity == defs::Severity::note) {
        d.severity = defs::Severity::error;
        d.message += " (an error under --strict)";
      }
    }
  }
  auto count = [&](defs::Severity severity) {
    return static_cast<std::size_t>(
      std::count_if(items.begin(), items.end(), [&](const auto& d) { return d.severity == severity; }));
  };
  auto errors = count(defs::Severity::error);
  auto warnings = count(defs::Severity::warning);
  auto notes = count(defs::Severity::note);
  exit_code = errors > 0 ? core::to_int(core::ExitCode::bad_definitions) : 0;

  auto list = nlohmann::json::array();
  for (const auto& d : items) {
    list.push_back(to_json(d));
  }
  switch (format) {
  case report::Format::json:
  case report::Format::yaml: {
    nlohmann::json doc = {{"valid", errors == 0},      {"workspace", workspace.root.string()},
                          {"files", definitions.files}, {"documents", definitions.documents},
                          {"errors", errors},          {"warnings", warnings},
                          {"notes", notes},            {"diagnostics", list}};
    out(format == report::Format::json ? report::render_json(doc) : report::render_yaml(doc));
    break;
  }
  case report::Format::ndjson:
    out(report::render_ndjson(list));
    break;
  case report::Format::markdown: {
    report::Table table{{{"location"}, {"severity"}, {"message"}}, {}};
    for (const auto& d : items) {
      table.rows.push_back({d.where.str(), std::string(defs::severity_name(d.severity)), d.message});
    }
    out(report::render_markdown(table));
    break;
  }
  default:
    for (const auto& d : items) {
      out(fmt::format("{}: {}: {}\n", d.where.str(), paint(globals, colour_of(d.severity), defs::severity_name(d.severity)),
                      d.message));
    }
    if (errors > 0) {
      note(globals, fmt::format("has: {} error{} in {} document{} ({} file{})", errors,
                                errors == 1 ? "" : "s", definitions.documents,
                                definitions.documents == 1 ? "" : "s", definitions.files,
                                definitions.files == 1 ? "" : "s"));
    } else if (!globals.quiet) {
      out(fmt::format("{}: {} document{} in {} file{} valid{}\n", paint(globals, "green", "ok"),
                      definitions.documents, definitions.documents == 1 ? "" : "s",
                      definitions.files, definitions.files == 1 ? "" : "s", counts_text(warnings, notes)));
    }
    break;
  }
}

} // namespace

void register_validate(CLI::App& command, Globals& globals) {
  static ValidateOptions options;
  command.description(
    "Check every definition of the workspace (has.yaml and all *.yaml/*.yml below it, plus the "
    "shipped library): YAML syntax, kinds, unknown or mistyped fields, duplicate names, "
    "references between documents, expressions, durations and ranges, and every probe's field "
    "values (each rule's probe as inspect run builds it, and the inline probes of tree nodes and "
    "wait steps without ${{ }}). Reports every problem as file:line:col, exits 65 if there is any "
    "error, 0 otherwise. Notes name the rules and tree nodes that rely on their probe's default "
    "verdict, and what to write instead.");
  command.add_flag("--no-library", options.no_library, "do not load the shipped rule library");
  command.add_flag("--strict", options.strict,
                   "make notes errors: every rule and tree node must judge its probe itself");
  command.callback([&globals] { run(globals, options, globals.exit_code); });
}

} // namespace has::cmd
