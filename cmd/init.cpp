#include "cli.hpp"

#include <has/core/error.hpp>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace has::cmd {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view k_config = R"(# has workspace settings. Every other *.yaml file below this directory holds
# definitions (rules, trees, plans, ...); see has-definitions(5).

# The state file (runs, results, events), relative to this directory.
state: .has/state.db

# Hosts that rules select by name or by labels.
inventory:
  hosts:
    - name: localhost
      address: 127.0.0.1
      labels: {role: local}

defaults:
  timeout: 10s
  concurrency: 64
)";

constexpr std::string_view k_rule = R"(# A first inspection rule: the root filesystem has room left.
kind: Rule
name: root-disk
description: The root filesystem is not close to full.
severity: warning
probe:
  system:
    disk: /
warning: {used_percent: "~:80"}
critical: {used_percent: "~:90"}
)";

constexpr std::string_view k_gitignore = R"(# has state (runs, results, events) is local to each machine.
.has/
)";

struct InitOptions {
  std::string dir = ".";
  bool force = false;
};

void write_file(const fs::path& path, std::string_view content) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << content;
  file.close();
  if (!file) {
    throw core::Error(core::ExitCode::io, fmt::format("cannot write {}", path.string()),
                      std::strerror(errno));
  }
}

void run(const Globals& globals, const InitOptions& options) {
  auto format = output_format(globals, {report::Format::table, report::Format::json});
  fs::path root = options.dir;
  std::error_code ec;
  fs::create_directories(root / "rules", ec);
  if (ec) {
    throw core::Error(core::ExitCode::io, fmt::format("cannot create {}", root.string()),
                      ec.message());
  }
  struct File {
    fs::path path;
    std::string_view content;
  };
  std::vector<File> files{{root / "has.yaml", k_config},
                          {root / "rules" / "root-disk.yaml", k_rule},
                          {root / ".gitignore", k_gitignore}};
  if (!options.force) {
    for (const auto& file : files) {
      if (fs::exists(file.path, ec)) {
        throw core::Error(core::ExitCode::failure,
                          fmt::format("{} already exists", file.path.string()),
                          "has init does not overwrite files",
                          "pass --force to overwrite, or choose another directory");
      }
    }
  }
  auto created = nlohmann::json::array();
  for (const auto& file : files) {
    write_file(file.path, file.content);
    created.push_back(file.path.lexically_normal().string());
  }
  if (format == report::Format::json) {
    out(report::render_json({{"workspace", root.lexically_normal().string()}, {"created", created}}));
    return;
  }
  for (const auto& path : created) {
    out(fmt::format("created {}\n", path.get<std::string>()));
  }
  note(globals, fmt::format("next: has -C {} validate", root.lexically_normal().string()));
}

} // namespace

void register_init(CLI::App& command, Globals& globals) {
  static InitOptions options;
  command.description("Create a starter workspace in DIR (default: the current directory): "
                      "has.yaml with an inventory, one rule, and a .gitignore for the state "
                      "directory. Existing files are kept unless --force.");
  command.add_option("DIR", options.dir, "directory to create the workspace in")->type_name("DIR");
  command.add_flag("--force", options.force, "overwrite existing files");
  command.callback([&globals] { run(globals, options); });
}

} // namespace has::cmd
