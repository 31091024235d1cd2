#include <has/core/error.hpp>
#include <has/core/workspace.hpp>
#include <has/defs/loader.hpp>
#include <has/diagnose/walk.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>

#include <map>

using has::diagnose::End;
using has::diagnose::Observation;
using has::probe::Status;

namespace {

// Replays a recorded observation per node; counts what it was asked.
class Recorded final : public has::diagnose::Observer {
public:
  std::map<std::string, Observation> by_node;
  std::vector<std::string> asked;
  std::chrono::milliseconds last_timeout{0};

  Observation observe(const has::defs::TreeNode& node, const nlohmann::json&, std::chrono::milliseconds timeout) override {
    asked.push_back(node.name);
    last_timeout = timeout;
    return by_node.at(node.name);
  }
  Observation collect(const has::defs::TreeNode&, const std::string& name, const has::defs::ProbeSpec&,
                      const nlohmann::json&, std::chrono::milliseconds) override {
    asked.push_back("collect:" + name);
    Observation seen;
    seen.status = Status::ok;
    seen.values = {{"stdout", "evidence"}};
    return seen;
  }
};

Observation seen(Status status, nlohmann::json values = nlohmann::json::object()) {
  Observation out;
  out.status = status;
  out.value = std::string(has::probe::status_name(status));
  out.values = std::move(values);
  if (status == Status::unknown) {
    out.error = "could not observe";
  }
  return out;
}

struct Fixture {
  has::test::TempDir dir;
  has::defs::Definitions definitions;

  const has::defs::Tree& tree() {
    dir.write("has.yaml", "");
    dir.write("tree.yaml", R"(kind: Tree
name: t
start: health
nodes:
  health:
    probe: {exec: {command: ["true"]}}
    timeout: 2s
    collect: {df: {exec: {command: [df]}}}
    branches:
      - {status: critical, next: deploy}
      - {status: unknown, next: broken}
      - {if: "json.active > 0.9 * json.max", next: busy}
      - {status: ok, next: ratio}
  ratio:
    expr: "nodes.health.values.json.active * 2"
    branches: [{equals: 20, next: fine}, {else: busy}]
  deploy:
    ask: {question: "Deployed?", choices: ["yes", "no"]}
    branches: [{equals: "yes", next: bad-deploy}, {equals: "no", next: down}]
  busy:
    diagnosis: {cause: busy, severity: warning, confidence: 0.5,
                explanation: "${{ nodes.health.values.json.active }} of ${{ vars.limit }}"}
  bad-deploy:
    diagnosis: {cause: bad deploy, severity: critical}
  down:
    diagnosis: {cause: down, severity: critical}
  broken:
    diagnosis: {cause: broken, severity: unknown}
  fine:
    diagnosis: {cause: fine, severity: ok}
)");
    has::core::Workspace workspace{dir.path(), dir.path() / "has.yaml"};
    has::defs::Diagnostics diagnostics;
    definitions = has::defs::load(workspace, {}, diagnostics);
    REQUIRE(diagnostics.sorted().empty());
    return definitions.trees.front();
  }
};

} // namespace

TEST_CASE_FIXTURE(Fixture, "diagnose: an expression branch leads to a diagnosis with its explanation filled in") {
  Recorded observer;
  observer.by_node["health"] = seen(Status::ok, {{"json", {{"active", 95}, {"max", 100}}}});
  has::diagnose::WalkOptions options;
  options.vars = {{"limit", "100"}};
  auto outcome = has::diagnose::walk(tree(), observer, options);
  CHECK(outcome.end == End::diagnosis);
  CHECK(outcome.node == "busy");
  CHECK(outcome.severity == Status::warning);
  CHECK(outcome.diagnosis.explanation == "95 of 100");
  REQUIRE(outcome.path.size() == 1);
  CHECK(outcome.path[0].branch_label == "if json.active > 0.9 * json.max");
  CHECK(outcome.path[0].collected.at("df").values["stdout"] == "evidence");
  CHECK(observer.last_timeout == std::chrono::seconds(2));
}

TEST_CASE_FIXTURE(Fixture, "diagnose: an expr node's value is matched by equals") {
  Recorded observer;
  observer.by_node["health"] = seen(Status::ok, {{"json", {{"active", 10}, {"max", 100}}}});
  auto outcome = has::diagnose::walk(tree(), observer, {});
  CHECK(outcome.node == "fine");
  CHECK(outcome.severity == Status::ok);
  REQUIRE(outcome.path.size() == 2);
  CHECK(outcome.path[1].seen.value == 20);
  CHECK(outcome.path[1].branch_label == "equals 20");
}

TEST_CASE_FIXTURE(Fixture, "diagnose: a question needs input unless answered") {
  Recorded observer;
  observer.by_node["health"] = seen(Status::critical);
  auto outcome = has::diagnose::walk(tree(), observer, {});
  CHECK(outcome.end == End::needs_input);
  CHECK(outcome.node == "deploy");
  CHECK(outcome.severity == Status::unknown);
  CHECK(outcome.choices == std::vector<std::string>{"yes", "no"});
  has::diagnose::WalkOptions options;
  options.answers["deploy"] = "no";
  outcome = has::diagnose::walk(tree(), observer, options);
  CHECK(outcome.end == End::diagnosis);
  CHECK(outcome.node == "down");
  options.answers["deploy"] = "maybe";
  CHECK_THROWS_AS(has::diagnose::walk(tree(), observer, options), has::core::Error);
}

TEST_CASE_FIXTURE(Fixture, "diagnose: a probe error follows the unknown branch") {
  Recorded observer;
  observer.by_node["health"] = seen(Status::unknown);
  auto outcome = has::diagnose::walk(tree(), observer, {});
  CHECK(outcome.node == "broken");
}

TEST_CASE_FIXTURE(Fixture, "diagnose: an error with no unknown branch ends inconclusive naming the node") {
  Recorded observer;
  observer.by_node["health"] = seen(Status::ok, {{"json", {{"max", 100}}}}); // json.active missing
  auto outcome = has::diagnose::walk(tree(), observer, {});
  CHECK(outcome.end == End::inconclusive);
  CHECK(outcome.node == "health");
  CHECK(outcome.reason.find("node 'health': a branch could not be decided") != std::string::npos);
  CHECK(outcome.severity == Status::unknown);
}

TEST_CASE_FIXTURE(Fixture, "diagnose: a spent tree timeout ends the walk before the next node") {
  Recorded observer;
  has::diagnose::WalkOptions options;
  options.timeout = std::chrono::milliseconds(0);
  auto outcome = has::diagnose::walk(tree(), observer, options);
  CHECK(outcome.end == End::inconclusive);
  CHECK(outcome.reason.find("timeout of 0 ms ran out before node 'health'") != std::string::npos);
  CHECK(observer.asked.empty());
}
