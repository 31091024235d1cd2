#include "cli.hpp"

#include <has/defs/loader.hpp>
#include <has/state/runs.hpp>
#include <has/state/store.hpp>

#include <fmt/format.h>

namespace has::cmd {

namespace {

void info(const Globals& globals) {
  auto format = output_format(globals, {report::Format::table, report::Format::json,
                                        report::Format::yaml});
  auto path = workspace_state_path(globals);
  auto store = state::Store::open(path);
  state::RunRepository runs(store);
  auto all = runs.list(std::nullopt, 1);
  auto count = runs.count();
  std::error_code ec;
  auto bytes = std::filesystem::file_size(path, ec);
  nlohmann::json doc = {{"path", path.string()},
                        {"schema_version", store.schema_version()},
                        {"size_bytes", ec ? 0 : bytes},
                        {"runs", count}};
  if (!all.empty()) {
    doc["last_run"] = {{"id", all.front().id},
                       {"command", all.front().command},
                       {"started_at", all.front().started_at},
                       {"status", all.front().status}};
  }
  if (format == report::Format::table) {
    out(fmt::format("state file      {}\nschema version  {}\nsize            {} bytes\nruns            {}\n",
                    path.string(), doc["schema_version"].get<int>(), doc["size_bytes"].get<std::uintmax_t>(),
                    count));
    if (!all.empty()) {
      out(fmt::format("last run        #{} {} at {} ({})\n", all.front().id, all.front().command,
                      all.front().started_at, all.front().status));
    }
    return;
  }
  out(format == report::Format::json ? report::render_json(doc) : report::render_yaml(doc));
}

} // namespace

void register_state(CLI::App& command, Globals& globals) {
  command.description("Show the state file: where it is, its schema version, its size and the "
                      "runs it holds. The file is created (with its schema) if missing.");
  command.require_subcommand(1);
  command.add_subcommand("info", "path, schema version, size and runs of the state file")
    ->callback([&globals] { info(globals); });
  command.add_subcommand("path", "print the path of the state file")->callback([&globals] {
    out(workspace_state_path(globals).string() + "\n");
  });
}

} // namespace has::cmd
