#include <has/core/error.hpp>
#include <has/core/redact.hpp>
#include <has/defs/loader.hpp>
#include <has/inspect/expand.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>

#include <cstdlib>

namespace {

has::defs::Definitions load(const has::test::TempDir& dir, std::vector<std::filesystem::path> library = {}) {
  has::defs::Diagnostics diagnostics;
  has::defs::LoadOptions options;
  options.plugin_dirs = std::move(library);
  auto definitions = has::defs::load({dir.path(), dir.path() / "has.yaml"}, options, diagnostics);
  std::string problems;
  for (const auto& d : diagnostics.all()) {
    problems += d.where.str() + ": " + d.message + "\n";
  }
  INFO(problems);
  REQUIRE_FALSE(diagnostics.has_errors());
  return definitions;
}

} // namespace

TEST_CASE("inspect: rules expand over the hosts their labels select") {
  has::test::TempDir dir;
  dir.write("has.yaml", R"(inventory:
  hosts:
    - {name: web1, address: 10.0.0.1, labels: {role: web}}
    - {name: web2, address: 10.0.0.2, labels: {role: web}}
    - {name: db1, address: 10.0.0.3, labels: {role: db}}
)");
  dir.write("r.yaml", R"(kind: Rule
name: api
labels: {team: web}
targets: {hosts: {role: web}}
probe: {http: {url: "http://${{ target.address }}:8080/${{ target.name }}"}}
---
kind: Rule
name: local
probe: {exec: {command: ["true"]}}
)");
  auto definitions = load(dir);
  auto checks = has::inspect::expand(definitions, {});
  REQUIRE(checks.size() == 3);
  CHECK(checks[0].target == "web1");
  CHECK(checks[0].spec.fields["url"] == "http://10.0.0.1:8080/web1");
  CHECK(checks[1].spec.fields["url"] == "http://10.0.0.2:8080/web2");
  CHECK(checks[2].rule == "local");
  CHECK(checks[2].target == "local");

  has::inspect::Selection by_label;
  by_label.labels = {{"team", "web"}};
  CHECK(has::inspect::expand(definitions, by_label).size() == 2);
  has::inspect::Selection by_target;
  by_target.targets = {"web2"};
  auto one = has::inspect::expand(definitions, by_target);
  REQUIRE(one.size() == 1);
  CHECK(one[0].target == "web2");
  has::inspect::Selection unknown_rule;
  unknown_rule.rules = {"nope"};
  CHECK_THROWS_AS(has::inspect::expand(definitions, unknown_rule), has::core::Error);
  has::inspect::Selection unknown_target;
  unknown_target.targets = {"nope"};
  CHECK_THROWS_AS(has::inspect::expand(definitions, unknown_target), has::core::Error);
}

TEST_CASE("inspect: templates are instantiated with defaults / parameters and typed values") {
  has::test::TempDir library;
  library.write("t.yaml", R"(kind: Rule
name: tcp-port
severity: warning
params:
  port: {description: the port}
  host: {default: "${{ target.address }}"}
  limit: {default: 250}
probe: {tcp: {host: "${{ params.host }}", port: "${{ params.port }}"}}
warning: {elapsed_ms: "~:${{ params.limit }}"}
)");
  has::test::TempDir dir;
  dir.write("has.yaml", "");
  dir.write("r.yaml", "kind: Rule\nname: ssh\nuse: tcp-port\nwith: {port: 22}\n");
  auto checks = has::inspect::expand(load(dir, {library.path()}), {});
  REQUIRE(checks.size() == 1);
  const auto& check = checks[0];
  CHECK(check.rule == "ssh");
  CHECK(check.severity == has::defs::RuleSeverity::warning);
  CHECK(check.spec.kind == "tcp");
  CHECK(check.spec.fields["port"] == 22); // stays a number
  CHECK(check.spec.fields["host"] == "127.0.0.1");
  REQUIRE(check.warning.size() == 1);
  CHECK(check.warning[0].range.text == "~:250");
  CHECK_FALSE(check.error);
}

TEST_CASE("inspect: secrets resolve at run time - an unset one makes the check unknown") {
  has::test::TempDir dir;
  dir.write("has.yaml", "");
  dir.write("r.yaml", R"(kind: Rule
name: api
probe: {http: {url: "http://127.0.0.1/", headers: {Authorization: "Bearer ${env:HAS_TEST_API_TOKEN}"}}}
)");
  auto definitions = load(dir);
  ::setenv("HAS_TEST_API_TOKEN", "tok-123456", 1);
  auto checks = has::inspect::expand(definitions, {});
  CHECK(checks[0].spec.fields["headers"]["Authorization"] == "Bearer tok-123456");
  CHECK(has::core::redact("Bearer tok-123456") == "Bearer [redacted]");
  ::unsetenv("HAS_TEST_API_TOKEN");
  checks = has::inspect::expand(definitions, {});
  REQUIRE(checks[0].error);
  CHECK(checks[0].error->find("environment variable HAS_TEST_API_TOKEN is not set") != std::string::npos);
}
