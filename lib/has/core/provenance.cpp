#include <has/core/provenance.hpp>

#include <has/util/process.hpp>

#include <pwd.h>
#include <unistd.h>

#include <array>
#include <cstdlib>

namespace has::core {

namespace {

std::optional<std::string> git(const std::filesystem::path& root, std::vector<std::string> args) {
  util::ProcessSpec spec;
  spec.argv = {"git", "-C", root.string()};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.timeout = std::chrono::seconds(5);
  try {
    auto result = util::run_process(spec);
    if (result.exit_code != 0) {
      return std::nullopt;
    }
    auto out = result.out;
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) {
      out.pop_back();
    }
    return out;
  } catch (...) {
    return std::nullopt; // git not installed: no commit to record
  }
}

} // namespace

std::string current_user() {
  if (const auto* pw = getpwuid(geteuid()); pw != nullptr) {
    return pw->pw_name;
  }
  if (const char* user = std::getenv("USER"); user != nullptr) {
    return user;
  }
  return {};
}

Provenance provenance(const std::filesystem::path& root) {
  Provenance p;
  std::array<char, 256> name{};
  if (gethostname(name.data(), name.size() - 1) == 0) {
    p.host = name.data();
  }
  p.user = current_user();
  p.git_commit = git(root, {"rev-parse", "HEAD"});
  if (p.git_commit) {
    auto status = git(root, {"status", "--porcelain", "--untracked-files=no", "--", "."});
    p.git_dirty = status && !status->empty();
  }
  return p;
}

} // namespace has::core
