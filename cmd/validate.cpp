#include "cli.hpp"

#include <has/core/error.hpp>
#include <has/defs/loader.hpp>

#include <fmt/format.h>

namespace has::cmd {

namespace {

struct ValidateOptions {
  bool no_library = false;
};

std::string_view severity_name(defs::Severity severity) {
  return severity == defs::Severity::error ? "error" : "warning";
}

nlohmann::json to_json(const defs::Diagnostic& d) {
  return {{"file", d.where.file},     {"line", d.where.line},
          {"column", d.where.column}, {"severity", severity_name(d.severity)},
          {"message", d.message}};
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
  auto items = diagnostics.sorted();
  auto errors = diagnostics.error_count();
  auto warnings = items.size() - errors;
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
                          {"diagnostics", list}};
    out(format == report::Format::json ? report::render_json(doc) : report::render_yaml(doc));
    break;
  }
  case report::Format::ndjson:
    out(report::render_ndjson(list));
    break;
  case report::Format::markdown: {
    report::Table table{{{"location"}, {"severity"}, {"message"}}, {}};
    for (const auto& d : items) {
      table.rows.push_back({d.where.str(), std::string(severity_name(d.severity)), d.message});
    }
    out(report::render_markdown(table));
    break;
  }
  default:
    for (const auto& d : items) {
      out(fmt::format("{}: {}: {}\n", d.where.str(),
                      paint(globals, d.severity == defs::Severity::error ? "red" : "yellow",
                            severity_name(d.severity)),
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
                      definitions.files, definitions.files == 1 ? "" : "s",
                      warnings > 0 ? fmt::format(", {} warning{}", warnings, warnings == 1 ? "" : "s")
                                   : ""));
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
    "references between documents, expressions, durations and ranges. Reports every problem "
    "as file:line:col, exits 65 if there is any error, 0 otherwise.");
  command.add_flag("--no-library", options.no_library, "do not load the shipped rule library");
  command.callback([&globals] { run(globals, options, globals.exit_code); });
}

} // namespace has::cmd
