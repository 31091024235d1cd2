#include <has/core/workspace.hpp>
#include <has/defs/loader.hpp>
#include <has/diagnose/replay.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>

namespace {

has::defs::Definitions load(const has::test::TempDir& dir, const std::string& expect_second) {
  dir.write("has.yaml", "");
  dir.write("tree.yaml", R"(kind: Tree
name: t
start: probe
tests:
  - name: down
    nodes: {probe: {status: critical, values: {exit_code: 2}}}
    expect: down
  - name: other
    nodes: {probe: {status: ok}}
    expect: )" + expect_second + R"(
  - name: missing
    expect: broken
nodes:
  probe:
    probe: {exec: {command: ["false"]}}
    branches: [{status: critical, next: down}, {status: unknown, next: broken}, {else: fine}]
  down:
    diagnosis: {cause: down, severity: critical}
  broken:
    diagnosis: {cause: broken, severity: unknown}
  fine:
    diagnosis: {cause: fine, severity: ok}
)");
  has::core::Workspace workspace{dir.path(), dir.path() / "has.yaml"};
  has::defs::Diagnostics diagnostics;
  auto definitions = has::defs::load(workspace, {}, diagnostics);
  REQUIRE(diagnostics.sorted().empty());
  return definitions;
}

} // namespace

TEST_CASE("diagnose: test cases replay recorded results and count branch coverage") {
  has::test::TempDir dir;
  auto definitions = load(dir, "fine");
  auto report = has::diagnose::test_tree(definitions.trees.front());
  REQUIRE(report.cases.size() == 3);
  CHECK(report.passed());
  CHECK(report.cases[0].outcome.path.front().seen.exit_code == 2);
  // A node with no recorded result is a probe error: the unknown branch.
  CHECK(report.cases[2].outcome.node == "broken");
  CHECK(report.branches == 3);
  CHECK(report.covered == 3);
  CHECK(report.uncovered.empty());
}

TEST_CASE("diagnose: a case ending elsewhere fails and its branch stays uncovered") {
  has::test::TempDir dir;
  auto definitions = load(dir, "down");
  auto report = has::diagnose::test_tree(definitions.trees.front());
  CHECK_FALSE(report.passed());
  CHECK_FALSE(report.cases[1].passed);
  CHECK(report.cases[1].outcome.node == "fine");
  CHECK(report.covered == 3);
}
