#include <has/core/workspace.hpp>

#include <has/core/error.hpp>

#include <fmt/format.h>

#include <cstdlib>
#include <string_view>
#include <system_error>

namespace has::core {

namespace fs = std::filesystem;

Workspace find_workspace(const std::optional<fs::path>& dir, const fs::path& start) {
  if (dir) {
    std::error_code ec;
    if (!fs::is_directory(*dir, ec)) {
      throw Error(ExitCode::usage, fmt::format("workspace directory '{}' does not exist", dir->string()),
                  {}, "pass -C with a directory that holds has.yaml");
    }
    auto config = *dir / "has.yaml";
    if (!fs::exists(config, ec)) {
      throw Error(ExitCode::usage, fmt::format("no has.yaml in '{}'", dir->string()),
                  "-C must name the root of a workspace",
                  fmt::format("run 'has init {}' to create one", dir->string()));
    }
    return {fs::absolute(*dir).lexically_normal(), fs::absolute(config).lexically_normal()};
  }
  std::error_code ec;
  auto here = fs::absolute(start, ec).lexically_normal();
  for (auto current = here;; current = current.parent_path()) {
    auto config = current / "has.yaml";
    if (fs::exists(config, ec)) {
      return {current, config};
    }
    if (current == current.parent_path() || current.empty()) {
      break;
    }
  }
  throw Error(ExitCode::usage, "not inside a has workspace",
              fmt::format("no has.yaml in {} or any parent directory", here.string()),
              "run 'has init' to create a workspace, or pass -C DIR");
}

fs::path executable_path() {
  std::error_code ec;
  auto path = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : path;
}

std::vector<fs::path> plugin_dirs() {
  std::vector<fs::path> dirs;
  std::error_code ec;
  if (const char* env = std::getenv("HAS_PLUGINS"); env != nullptr) {
    std::string_view rest = env;
    while (!rest.empty()) {
      auto colon = rest.find(':');
      auto part = rest.substr(0, colon);
      if (!part.empty() && fs::is_directory(fs::path(part), ec)) {
        dirs.emplace_back(part);
      }
      if (colon == std::string_view::npos) {
        break;
      }
      rest.remove_prefix(colon + 1);
    }
    return dirs;
  }
  auto exe = executable_path();
  if (!exe.empty()) {
    auto candidate = exe.parent_path().parent_path() / "share" / "has" / "plugins";
    if (fs::is_directory(candidate, ec)) {
      dirs.push_back(fs::canonical(candidate, ec));
      return dirs;
    }
  }
  fs::path installed = fs::path(HAS_DATADIR) / "plugins";
  if (fs::is_directory(installed, ec)) {
    dirs.push_back(installed);
  }
  return dirs;
}

std::string display_path(const fs::path& path) {
  std::error_code ec;
  auto cwd = fs::current_path(ec);
  if (ec) {
    return path.string();
  }
  auto absolute = fs::absolute(path, ec).lexically_normal();
  auto relative = absolute.lexically_relative(cwd);
  if (!relative.empty() && *relative.begin() != "..") {
    return relative.string();
  }
  return absolute.string();
}

} // namespace has::core
