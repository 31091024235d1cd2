#include <has/core/provenance.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace {

// Runs a shell command in dir; returns its exit status.
int sh(const std::filesystem::path& dir, const std::string& command) {
  return std::system(("cd '" + dir.string() + "' && { " + command + "; } >/dev/null 2>&1").c_str());
}

std::string read_line(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  return line;
}

} // namespace

TEST_CASE("core: provenance names the host and the user and no commit outside git") {
  has::test::TempDir dir;
  const auto p = has::core::provenance(dir.path());
  CHECK_FALSE(p.host.empty());
  CHECK(p.user == has::core::current_user());
  CHECK(p.git_commit == std::nullopt);
  CHECK(p.git_dirty == std::nullopt);
}

TEST_CASE("core: provenance records the workspace's commit and whether tracked files changed") {
  has::test::TempDir dir;
  if (sh(dir.path(), "git --version") != 0) {
    HAS_SKIP("git is not installed");
  }
  dir.write("defs/has.yaml", "state: x\n");
  REQUIRE(sh(dir.path(), "git init -q && git add -A && git -c user.name=t -c user.email=t@t "
                         "-c commit.gpgsign=false commit -q -m one && git rev-parse HEAD > .git/test-head") == 0);
  const auto head = read_line(dir.path() / ".git" / "test-head");
  REQUIRE(head.size() == 40);

  auto p = has::core::provenance(dir.path() / "defs");
  CHECK(p.git_commit == head);
  CHECK(p.git_dirty == false);

  // An untracked file is not a change; an edit of a tracked one is.
  dir.write("defs/new.yaml", "kind: Rule\n");
  CHECK(has::core::provenance(dir.path() / "defs").git_dirty == false);
  dir.write("defs/has.yaml", "state: y\n");
  p = has::core::provenance(dir.path() / "defs");
  CHECK(p.git_commit == head);
  CHECK(p.git_dirty == true);
}
