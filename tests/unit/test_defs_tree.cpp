#include <has/core/workspace.hpp>
#include <has/defs/loader.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>

#include <algorithm>

using has::defs::Diagnostic;
using has::defs::Diagnostics;

namespace {

struct Loaded {
  has::defs::Definitions definitions;
  std::vector<Diagnostic> diagnostics;
};

Loaded load_tree(const std::string& yaml) {
  has::test::TempDir dir;
  dir.write("has.yaml", "");
  dir.write("plans.yaml", R"(kind: Plan
name: restart-web
params: {host: {type: string}}
steps:
  - id: go
    exec: {command: ["true"]}
---
kind: Rule
name: web-up
probe: {exec: {command: ["true"]}}
)");
  dir.write("tree.yaml", yaml);
  has::core::Workspace workspace{dir.path(), dir.path() / "has.yaml"};
  Diagnostics diagnostics;
  auto definitions = has::defs::load(workspace, {}, diagnostics);
  return {std::move(definitions), diagnostics.sorted()};
}

std::string dump(const Loaded& loaded) {
  std::string out;
  for (const auto& d : loaded.diagnostics) {
    out += d.where.str() + ": " + d.message + "\n";
  }
  return out;
}

// Returns whether an error at tree.yaml:line holds text.
bool has_error(const Loaded& loaded, int line, std::string_view text) {
  return std::any_of(loaded.diagnostics.begin(), loaded.diagnostics.end(), [&](const Diagnostic& d) {
    return d.where.file.ends_with("tree.yaml") && d.where.line == line && d.message.find(text) != std::string::npos;
  });
}

constexpr const char* k_good = R"(kind: Tree
name: web-down
start: up
timeout: 30s
nodes:
  up:
    probe: {exec: {shell: "exit 0"}}
    timeout: 5s
    collect: {disk: {exec: {command: [df, -h]}}}
    branches:
      - {status: critical, next: operator}
      - {if: "json.load > 0.9 * json.max", next: busy}
      - {equals: ok, next: fine}
      - {else: rule}
  rule:
    use: web-up
    branches: [{else: fine}]
  operator:
    ask: {question: "Was there a deploy?", choices: [yes, no]}
    branches:
      - {equals: "yes", next: ratio}
      - {else: down}
  ratio:
    expr: "vars.x or 1"
    branches: [{else: busy}]
  busy:
    diagnosis:
      cause: overloaded
      severity: warning
      confidence: 0.8
      explanation: "load is ${{ nodes.up.values.json.load }}"
      plans: [{name: restart-web, params: {host: web1}}]
  down:
    diagnosis: {cause: down, severity: critical}
  fine:
    diagnosis: {cause: nothing wrong, severity: ok}
)";

} // namespace

TEST_CASE("a good tree loads with its nodes and branches") {
  auto loaded = load_tree(k_good);
  REQUIRE_MESSAGE(loaded.diagnostics.empty(), dump(loaded));
  REQUIRE(loaded.definitions.trees.size() == 1);
  const auto& tree = loaded.definitions.trees.front();
  CHECK(tree.start == "up");
  CHECK(tree.timeout == std::chrono::seconds(30));
  CHECK(tree.nodes.size() == 7);
  const auto* up = tree.find_node("up");
  REQUIRE(up != nullptr);
  CHECK(up->kind == has::defs::NodeKind::probe);
  CHECK(up->probe->kind == "exec");
  CHECK(up->collect.size() == 1);
  CHECK(up->branches.size() == 4);
  CHECK(up->branches[0].test == has::defs::BranchTest::status);
  CHECK(up->branches[1].test == has::defs::BranchTest::condition);
  CHECK(up->branches[2].test == has::defs::BranchTest::equals);
  CHECK(up->branches[3].test == has::defs::BranchTest::otherwise);
  CHECK(up->branches[3].next == "rule");
  const auto* busy = tree.find_node("busy");
  REQUIRE(busy != nullptr);
  CHECK(busy->leaf());
  CHECK(busy->diagnosis.severity == "warning");
  CHECK(busy->diagnosis.confidence == doctest::Approx(0.8));
  REQUIRE(busy->diagnosis.plans.size() == 1);
  CHECK(busy->diagnosis.plans[0].params["host"] == "web1");
  CHECK(tree.find_node("operator")->question.choices == std::vector<std::string>{"yes", "no"});
}

TEST_CASE("a tree starting at an unknown node is refused with a hint") {
  std::string yaml = k_good;
  yaml.replace(yaml.find("start: up"), 9, "start: uq");
  auto loaded = load_tree(yaml);
  CHECK_MESSAGE(has_error(loaded, 3, "starts at 'uq', which is not one of its nodes (did you mean 'up'?)"), dump(loaded));
}

TEST_CASE("a branch to a missing node is refused where it is written") {
  std::string yaml = k_good;
  yaml.replace(yaml.find("{else: fine}"), 12, "{else: gone}");
  auto loaded = load_tree(yaml);
  CHECK_MESSAGE(has_error(loaded, 17, "branches to 'gone', which is not one of its nodes"), dump(loaded));
}

TEST_CASE("a cycle between nodes is refused") {
  std::string yaml = k_good;
  yaml.replace(yaml.find("branches: [{else: busy}]"), 24, "branches: [{status: ok, next: up}, {else: busy}]");
  auto loaded = load_tree(yaml);
  CHECK_MESSAGE(has_error(loaded, 25, "has a cycle: up -> operator -> ratio -> up"), dump(loaded));
}

TEST_CASE("an unreachable node is refused") {
  auto loaded = load_tree(std::string(k_good) + "  lonely:\n    diagnosis: {cause: never, severity: ok}\n");
  CHECK_MESSAGE(has_error(loaded, 38, "node 'lonely' is unreachable from the start node 'up'"), dump(loaded));
}

TEST_CASE("a node with no way to a diagnosis is refused") {
  auto loaded = load_tree(R"(kind: Tree
name: stuck
start: a
nodes:
  a:
    expr: "1"
    branches: [{equals: 1, next: b}, {else: done}]
  b:
    expr: "2"
    branches: [{else: c}]
  c:
    expr: "3"
    branches: [{else: b}]
  done:
    diagnosis: {cause: done, severity: ok}
)");
  CHECK_MESSAGE(has_error(loaded, 9, "node 'b' has no way to a diagnosis"), dump(loaded));
  CHECK_MESSAGE(has_error(loaded, 12, "node 'c' has no way to a diagnosis"), dump(loaded));
}

TEST_CASE("unknown rules and plans are refused with their tree and node") {
  std::string yaml = k_good;
  yaml.replace(yaml.find("use: web-up"), 11, "use: web-uq");
  yaml.replace(yaml.find("name: restart-web"), 17, "name: restart-wex");
  auto loaded = load_tree(yaml);
  CHECK_MESSAGE(has_error(loaded, 16, "node 'rule' uses rule 'web-uq', which is not a known rule (did you mean 'web-up'?)"),
                dump(loaded));
  CHECK_MESSAGE(has_error(loaded, 32, "recommends plan 'restart-wex', which is not a known plan"), dump(loaded));
}

TEST_CASE("recommended plan parameters are checked against the plan") {
  std::string yaml = k_good;
  yaml.replace(yaml.find("{host: web1}"), 12, "{hots: web1}");
  auto loaded = load_tree(yaml);
  CHECK_MESSAGE(has_error(loaded, 32, "must give parameter 'host' of plan 'restart-web'"), dump(loaded));
  CHECK_MESSAGE(has_error(loaded, 32, "gives unknown parameter 'hots'"), dump(loaded));
}

TEST_CASE("bad expressions in branches and expr nodes are refused") {
  std::string yaml = k_good;
  yaml.replace(yaml.find("json.load > 0.9 * json.max"), 26, "json.load > > 1");
  yaml.replace(yaml.find("vars.x or 1"), 11, "vars.x or (");
  auto loaded = load_tree(yaml);
  CHECK_MESSAGE(has_error(loaded, 12, "json.load > > 1"), dump(loaded));
  CHECK_MESSAGE(has_error(loaded, 24, "vars.x or ("), dump(loaded));
}

TEST_CASE("a node needs exactly one check and a leaf takes no branches") {
  auto loaded = load_tree(R"(kind: Tree
name: shapes
start: a
nodes:
  a:
    probe: {exec: {shell: "true"}}
    expr: "1"
    branches: [{else: b}]
  b:
    description: nothing to do
    branches: [{else: c}]
  c:
    diagnosis: {cause: x, severity: bad, confidence: 2}
    branches: [{else: a}]
  d:
    ask: {question: "?", choices: [a, b]}
    branches: [{else: c}, {equals: z, next: c}, {status: ok, if: "1", next: c}]
)");
  CHECK_MESSAGE(has_error(loaded, 6, "node 'a' has both 'probe' and 'expr'"), dump(loaded));
  CHECK_MESSAGE(has_error(loaded, 10, "node 'b' needs one of probe, use, ask, expr or diagnosis"), dump(loaded));
  CHECK_MESSAGE(has_error(loaded, 13, "node 'c' is a diagnosis: it takes no branches"), dump(loaded));
  CHECK_MESSAGE(has_error(loaded, 13, "severity"), dump(loaded));
  CHECK_MESSAGE(has_error(loaded, 13, "'confidence' must be between 0 and 1"), dump(loaded));
  CHECK_MESSAGE(has_error(loaded, 17, "an 'else' branch must come last"), dump(loaded));
  CHECK_MESSAGE(has_error(loaded, 17, "'z' is not one of the choices of node 'd'"), dump(loaded));
  CHECK_MESSAGE(has_error(loaded, 17, "a branch has both 'status' and 'if'"), dump(loaded));
}

TEST_CASE("a workspace tree replaces a library tree of the same name") {
  has::test::TempDir library;
  library.write("trees.yaml", "kind: Tree\nname: t\nstart: x\nnodes: {x: {diagnosis: {cause: library, severity: ok}}}\n");
  has::test::TempDir dir;
  dir.write("has.yaml", "");
  dir.write("tree.yaml", "kind: Tree\nname: t\nstart: x\nnodes: {x: {diagnosis: {cause: mine, severity: ok}}}\n");
  has::core::Workspace workspace{dir.path(), dir.path() / "has.yaml"};
  Diagnostics diagnostics;
  has::defs::LoadOptions options;
  options.plugin_dirs = {library.path()};
  auto definitions = has::defs::load(workspace, options, diagnostics);
  REQUIRE(definitions.trees.size() == 1);
  CHECK(definitions.trees[0].nodes[0].diagnosis.cause == "mine");
}
