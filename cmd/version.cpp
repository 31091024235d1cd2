#include "cli.hpp"

#include <has/core/version.hpp>
#include <has/state/version.hpp>

#include <fmt/format.h>

namespace has::cmd {

void register_version(CLI::App& command, Globals& globals) {
  command.description("Print the version of has, the git commit it was built from, and the "
                      "versions of the libraries it uses.");
  command.callback([&globals] {
    auto format = output_format(globals, {report::Format::table, report::Format::json,
                                          report::Format::yaml});
    auto libraries = core::library_versions();
    libraries.insert(libraries.begin(), state::library_version());
    libraries.emplace(libraries.begin() + 1, "CLI11", CLI11_VERSION);
    if (format == report::Format::table) {
      out(fmt::format("has {} (commit {})\n", core::version(), core::build_git_commit()));
      for (const auto& [name, version] : libraries) {
        out(fmt::format("  {:<14} {}\n", name, version));
      }
      return;
    }
    nlohmann::json doc = {{"version", core::version()}, {"commit", core::build_git_commit()}};
    for (const auto& [name, version] : libraries) {
      doc["libraries"][name] = version;
    }
    out(format == report::Format::json ? report::render_json(doc) : report::render_yaml(doc));
  });
}

} // namespace has::cmd
