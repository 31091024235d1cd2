#include <has/core/error.hpp>
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

Loaded load(const has::test::TempDir& dir, std::vector<std::filesystem::path> library = {}) {
  has::core::Workspace workspace{dir.path(), dir.path() / "has.yaml"};
  Diagnostics diagnostics;
  has::defs::LoadOptions options;
  options.plugin_dirs = std::move(library);
  auto definitions = has::defs::load(workspace, options, diagnostics);
  return {std::move(definitions), diagnostics.sorted()};
}

// Returns whether a diagnostic at file:line:col with message containing text exists.
bool has_error(const Loaded& loaded, std::string_view file, int line, int column,
               std::string_view text) {
  return std::any_of(loaded.diagnostics.begin(), loaded.diagnostics.end(), [&](const Diagnostic& d) {
    bool file_matches = d.where.file.size() >= file.size() &&
                        d.where.file.compare(d.where.file.size() - file.size(), file.size(), file) == 0;
    return file_matches && d.where.line == line && d.where.column == column &&
           d.message.find(text) != std::string::npos;
  });
}

std::string dump(const Loaded& loaded) {
  std::string out;
  for (const auto& d : loaded.diagnostics) {
    out += d.where.str() + ": " + d.message + "\n";
  }
  return out;
}

constexpr const char* k_good_rule = R"(kind: Rule
name: api-health
description: The API answers.
labels: {team: web}
severity: critical
targets: {hosts: {role: web}}
probe:
  http: {url: "http://${{ target.address }}:8080/health", timeout: 2s}
expect:
  - status == 200
  - json.status != "DOWN"
warning: {elapsed_ms: "~:300"}
retries: 2
retry_delay: 500ms
fail_after: 3
)";

} // namespace

TEST_CASE("defs: a good workspace loads into typed rules") {
  has::test::TempDir dir;
  dir.write("has.yaml", "inventory:\n  hosts:\n    - {name: web1, address: 10.0.0.1, labels: {role: web}}\n");
  dir.write("rules/api.yaml", k_good_rule);
  auto loaded = load(dir);
  INFO(dump(loaded));
  CHECK(loaded.diagnostics.empty());
  REQUIRE(loaded.definitions.rules.size() == 1);
  const auto& rule = loaded.definitions.rules[0];
  CHECK(rule.header.name == "api-health");
  CHECK(rule.header.labels.at("team") == "web");
  CHECK(rule.probe->kind == "http");
  CHECK(rule.probe->fields["timeout"] == "2s");
  CHECK(rule.expect.size() == 2);
  CHECK(rule.expect[1].where.line == 11);
  CHECK(rule.warning.at(0).value == "elapsed_ms");
  CHECK(rule.warning.at(0).range->alerts(301));
  CHECK(rule.retries == 2);
  CHECK(rule.retry_delay == std::chrono::milliseconds(500));
  CHECK(rule.fail_after == 3);
  CHECK(rule.targets.labels.at("role") == "web");
  CHECK(loaded.definitions.config.hosts.at(0).address == "10.0.0.1");
}

TEST_CASE("defs: every error is reported in one pass with file:line:col") {
  has::test::TempDir dir;
  dir.write("has.yaml", "inventory:\n  hostz: []\n");
  dir.write("rules/a.yaml", R"(kind: Rule
name: a
probe:
  http: {url: "http://x", timout: 2s}
expect:
  - status === 200
retry_delay: 10x
---
kind: Rule
name: b
severity: fatal
probe: {tcp: {port: 22}}
color: red
)");
  dir.write("rules/b.yaml", "kind: Rule\nname: a\nprobe: {tcp: {port: 1}}\n");
  dir.write("more/broken.yml", "kind: Rule\nname: [unclosed\n");
  dir.write("more/kind.yaml", "kind: Rules\nname: x\n---\nkind: Drill\nname: p\n---\nname: nokind\n");
  auto loaded = load(dir);
  INFO(dump(loaded));
  CHECK(has_error(loaded, "has.yaml", 2, 3, "unknown field 'hostz' in inventory (did you mean 'hosts'?)"));
  CHECK(has_error(loaded, "rules/a.yaml", 4, 27, "unknown field 'timout' in http probe (did you mean 'timeout'?)"));
  CHECK(has_error(loaded, "rules/a.yaml", 6, 5, "status === 200"));
  CHECK(has_error(loaded, "rules/a.yaml", 7, 14, "field 'retry_delay': invalid duration '10x'"));
  CHECK(has_error(loaded, "rules/a.yaml", 11, 11, "field 'severity' must be one of warning, critical, not 'fatal'"));
  CHECK(has_error(loaded, "rules/a.yaml", 13, 1, "unknown field 'color' in a document"));
  CHECK(has_error(loaded, "rules/b.yaml", 1, 1, "duplicate Rule 'a': also defined at"));
  CHECK(has_error(loaded, "more/broken.yml", 3, 1, "YAML syntax error"));
  CHECK(has_error(loaded, "more/kind.yaml", 1, 7, "unknown kind 'Rules' (did you mean 'Rule'?)"));
  CHECK(has_error(loaded, "more/kind.yaml", 4, 7, "kind 'Drill' is not available in this version of has"));
  CHECK(has_error(loaded, "more/kind.yaml", 7, 1, "a document is missing the required field 'kind'"));
  // The good documents still load.
  CHECK(loaded.definitions.find_rule("b") != nullptr);
}

TEST_CASE("defs: duplicate keys / wrong types and bad names are errors") {
  has::test::TempDir dir;
  dir.write("has.yaml", "");
  dir.write("r.yaml", R"(kind: Rule
name: "bad name"
probe: {tcp: {port: 1}}
retries: many
retries: 3
fail_after: 0
targets: {names: [ghost]}
)");
  auto loaded = load(dir);
  INFO(dump(loaded));
  CHECK(has_error(loaded, "r.yaml", 2, 7, "invalid name 'bad name'"));
  CHECK(has_error(loaded, "r.yaml", 4, 10, "field 'retries' must be a whole number, not 'many'"));
  CHECK(has_error(loaded, "r.yaml", 5, 1, "duplicate field 'retries'"));
  CHECK(has_error(loaded, "r.yaml", 6, 13, "field 'fail_after' must be between 1 and 1000, not 0"));
  CHECK(has_error(loaded, "r.yaml", 7, 10, "targets host 'ghost', which is not in the inventory"));
}

TEST_CASE("defs: names are letters / digits / '.' / '_' and '-' - starting with a letter or digit") {
  has::test::TempDir dir;
  dir.write("has.yaml", "");
  std::string text;
  auto add = [&](const std::string& name) {
    text += "---\nkind: Rule\nname: \"" + name + "\"\nprobe: {tcp: {port: 1}}\n";
  };
  const std::vector<std::string> good = {"a", "Z", "7", "api.health_v2-b", std::string(128, 'x')};
  const std::vector<std::string> bad = {"-a", ".a", "_a", "a b", "a/b", "caf\u00e9", "a:b", std::string(129, 'y')};
  for (const auto& name : good) {
    add(name);
  }
  for (const auto& name : bad) {
    add(name);
  }
  dir.write("r.yaml", text);
  auto loaded = load(dir);
  INFO(dump(loaded));
  for (const auto& name : good) {
    CHECK(std::none_of(loaded.diagnostics.begin(), loaded.diagnostics.end(), [&](const Diagnostic& d) {
      return d.message.find("invalid name '" + name + "'") != std::string::npos;
    }));
  }
  for (const auto& name : bad) {
    CHECK(std::count_if(loaded.diagnostics.begin(), loaded.diagnostics.end(), [&](const Diagnostic& d) {
      return d.message.find("invalid name '" + name + "'") != std::string::npos;
    }) == 1);
  }
}

namespace {

// A file of n rules, large enough to be parsed in two halves, with comments,
// "--- # note" starts, block scalars holding "---" lines and one bad field
// per `bad_every` rules; returns the text, the lines (1-based) of the bad
// fields and the line where each rule starts.
struct ManyRules {
  std::string text;
  std::vector<int> bad_lines;
  std::vector<int> rule_lines;
};

ManyRules many_rules(int n, int bad_every) {
  std::string text = "# rules\n";
  int line = 1;
  std::vector<int> bad_lines;
  std::vector<int> rule_lines;
  auto add = [&](const std::string& piece) {
    text += piece;
    line += static_cast<int>(std::count(piece.begin(), piece.end(), '\n'));
  };
  for (int i = 0; i < n; ++i) {
    add(i % 3 == 0 ? "--- # rule " + std::to_string(i) + "\n" : "---\n");
    rule_lines.push_back(line + 1);
    add("kind: Rule\nname: rule-" + std::to_string(i) + "\n");
    add("description: |\n  first line\n  ---\n   --- not a document start\n");
    add("probe: {tcp: {port: " + std::to_string(1000 + i) + "}}\n");
    if (bad_every > 0 && i % bad_every == 7) {
      bad_lines.push_back(line + 1);
      add("retries: many\n");
    }
    add("expect: [status == 200]\n\n# between documents\n");
  }
  return {text, bad_lines, rule_lines};
}

} // namespace

TEST_CASE("defs: a large file loads as a whole - with every location right") {
  has::test::TempDir dir;
  dir.write("has.yaml", "");
  auto [text, bad_lines, rule_lines] = many_rules(1500, 100);
  REQUIRE(text.size() > 64 * 1024);
  dir.write("rules/many.yaml", text);
  auto loaded = load(dir);
  CHECK(loaded.definitions.rules.size() == 1500);
  CHECK(loaded.definitions.documents == 1500);
  REQUIRE(bad_lines.size() == 15);
  CHECK(loaded.diagnostics.size() == bad_lines.size());
  for (int line : bad_lines) {
    CHECK(has_error(loaded, "rules/many.yaml", line, 10, "field 'retries' must be a whole number, not 'many'"));
  }
  // The rules keep their order and their own lines.
  REQUIRE(loaded.definitions.rules.size() == rule_lines.size());
  std::size_t misplaced = 0;
  for (std::size_t i = 0; i < loaded.definitions.rules.size(); ++i) {
    const auto& rule = loaded.definitions.rules[i];
    if (rule.header.name != "rule-" + std::to_string(i) || rule.header.where.line != rule_lines[i] ||
        rule.header.where.column != 1) {
      ++misplaced;
    }
  }
  CHECK(misplaced == 0);
}

TEST_CASE("defs: a name used in both halves of a large file is a duplicate") {
  has::test::TempDir dir;
  dir.write("has.yaml", "");
  auto many = many_rules(1500, 0);
  auto line = static_cast<int>(std::count(many.text.begin(), many.text.end(), '\n')) + 2;
  dir.write("rules/many.yaml", many.text + "---\nkind: Rule\nname: rule-3\nprobe: {tcp: {port: 1}}\n");
  auto loaded = load(dir);
  INFO(dump(loaded));
  REQUIRE(loaded.diagnostics.size() == 1);
  CHECK(has_error(loaded, "rules/many.yaml", line, 1, "duplicate Rule 'rule-3': also defined at"));
  CHECK(has_error(loaded, "rules/many.yaml", line, 1, "many.yaml:" + std::to_string(many.rule_lines[3]) + ":1"));
}

TEST_CASE("defs: every kind of document in the second half of a large file loads") {
  has::test::TempDir dir;
  dir.write("has.yaml", "");
  auto many = many_rules(1500, 0);
  dir.write("rules/many.yaml", many.text +
                                 "---\nkind: Plan\nname: late-plan\nsteps: [{exec: {command: [\"true\"]}}]\n"
                                 "---\nkind: Action\nname: late-action\nsteps: [{exec: {command: [\"true\"]}}]\n"
                                 "---\nkind: Silence\nname: late-silence\nstarts: 2026-01-01T00:00:00Z\n"
                                 "ends: 2026-01-02T00:00:00Z\nrules: [rule-1]\nreason: test\n");
  auto loaded = load(dir);
  INFO(dump(loaded));
  CHECK(loaded.diagnostics.empty());
  CHECK(loaded.definitions.rules.size() == 1500);
  CHECK(loaded.definitions.find_plan("late-plan") != nullptr);
  CHECK(loaded.definitions.find_action("late-action") != nullptr);
  CHECK(loaded.definitions.silences.size() == 1);
}

TEST_CASE("defs: a syntax error in the second half of a large file is reported where it is") {
  has::test::TempDir dir;
  dir.write("has.yaml", "");
  auto text = many_rules(1500, 0).text;
  auto lines_before = static_cast<int>(std::count(text.begin(), text.end(), '\n'));
  text += "---\nkind: Rule\nname: broken\nprobe: {tcp: {port: 1}\n";
  for (int i = 0; i < 10; ++i) {
    text += "---\nkind: Rule\nname: after-" + std::to_string(i) + "\nprobe: {tcp: {port: 2}}\n";
  }
  dir.write("rules/many.yaml", text);
  auto loaded = load(dir);
  INFO(dump(loaded));
  // Nothing of a file with a syntax error loads, as for a small file.
  CHECK(loaded.definitions.rules.empty());
  REQUIRE(loaded.diagnostics.size() == 1);
  CHECK(loaded.diagnostics[0].message.find("YAML syntax error") != std::string::npos);
  CHECK(loaded.diagnostics[0].where.line > lines_before);

  // The same error in a small file is reported at the same place.
  has::test::TempDir small;
  small.write("has.yaml", "");
  small.write("rules/one.yaml", std::string(static_cast<std::size_t>(lines_before), '\n') +
                                  text.substr(text.find("---\nkind: Rule\nname: broken")));
  auto one = load(small);
  REQUIRE(one.diagnostics.size() == 1);
  CHECK(one.diagnostics[0].where.line == loaded.diagnostics[0].where.line);
  CHECK(one.diagnostics[0].where.column == loaded.diagnostics[0].where.column);
  CHECK(one.diagnostics[0].message == loaded.diagnostics[0].message);
}

TEST_CASE("defs: a large file with a directive loads") {
  has::test::TempDir dir;
  dir.write("has.yaml", "");
  auto [text, bad_lines, rule_lines] = many_rules(1200, 500);
  dir.write("rules/many.yaml", "%YAML 1.2\n" + text);
  auto loaded = load(dir);
  CHECK(loaded.definitions.rules.size() == 1200);
  REQUIRE(bad_lines.size() == 3);
  for (int line : bad_lines) {
    CHECK(has_error(loaded, "rules/many.yaml", line + 1, 10, "field 'retries' must be a whole number"));
  }
}

TEST_CASE("defs: references to library templates are resolved at load time") {
  has::test::TempDir library;
  library.write("rules/tcp-port.yaml", R"(kind: Rule
name: tcp-port
description: A TCP port accepts connections.
params:
  port: {description: the port}
  host: {default: 127.0.0.1}
probe:
  tcp: {host: "${{ params.host }}", port: "${{ params.port }}"}
)");
  has::test::TempDir dir;
  dir.write("has.yaml", "");
  dir.write("rules.yaml", R"(kind: Rule
name: ssh
use: tcp-port
with: {port: 22}
---
kind: Rule
name: missing-param
use: tcp-port
---
kind: Rule
name: typo
use: tcp-prot
with: {port: 1}
---
kind: Rule
name: extra
use: tcp-port
with: {port: 1, hots: x}
---
kind: Rule
name: not-a-template
use: ssh
---
kind: Rule
name: chained
params: {x: {default: 1}}
use: tcp-port
with: {port: 2}
---
kind: Rule
name: uses-chain
use: chained
)");
  auto loaded = load(dir, {library.path()});
  INFO(dump(loaded));
  CHECK(has_error(loaded, "rules.yaml", 8, 6, "rule 'missing-param' must give parameter 'port' of 'tcp-port' (the port)"));
  CHECK(has_error(loaded, "rules.yaml", 12, 6, "uses 'tcp-prot', which is not a known rule (did you mean 'tcp-port'?)"));
  CHECK(has_error(loaded, "rules.yaml", 17, 6, "gives unknown parameter 'hots' to 'tcp-port' (did you mean 'host'?)"));
  CHECK(has_error(loaded, "rules.yaml", 22, 6, "uses 'ssh', which has no 'params' and is not a template"));
  CHECK(has_error(loaded, "rules.yaml", 32, 6, "uses 'chained', which itself uses 'tcp-port'; a template must have its own probe"));
  CHECK(loaded.diagnostics.size() == 5);
  CHECK(loaded.definitions.find_rule("tcp-port")->header.origin == has::defs::Origin::builtin);
}

TEST_CASE("defs: a workspace rule replaces the library rule of the same name") {
  has::test::TempDir library;
  library.write("a.yaml", "kind: Rule\nname: same\nprobe: {tcp: {port: 1}}\n");
  has::test::TempDir dir;
  dir.write("has.yaml", "");
  dir.write("a.yaml", "kind: Rule\nname: same\nprobe: {tcp: {port: 2}}\n");
  auto loaded = load(dir, {library.path()});
  CHECK(loaded.diagnostics.empty());
  REQUIRE(loaded.definitions.rules.size() == 1);
  CHECK(loaded.definitions.rules[0].header.origin == has::defs::Origin::workspace);
}

TEST_CASE("defs: hidden directories and has.yaml are not definitions - has.yaml may turn off the library") {
  has::test::TempDir library;
  library.write("x.yaml", "kind: Rule\nname: lib\nprobe: {tcp: {port: 1}}\n");
  has::test::TempDir dir;
  dir.write("has.yaml", "library: {builtin: false}\n");
  dir.write(".has/junk.yaml", "not: [valid\n");
  dir.write(".git/x.yml", "kind: Nope\n");
  auto loaded = load(dir, {library.path()});
  INFO(dump(loaded));
  CHECK(loaded.diagnostics.empty());
  CHECK(loaded.definitions.rules.empty());
}

TEST_CASE("defs: expressions and templates are checked for syntax at load time") {
  has::test::TempDir dir;
  dir.write("has.yaml", "");
  dir.write("x.yaml", R"(kind: Rule
name: x
probe:
  http: {url: "http://${{ target.address ) }}/", headers: {Authorization: "Bearer ${env:}"}}
expect: "status =="
warning: {elapsed_ms: "20:10"}
)");
  auto loaded = load(dir);
  INFO(dump(loaded));
  CHECK(has_error(loaded, "x.yaml", 4, 3, "target.address )"));
  CHECK(has_error(loaded, "x.yaml", 4, 3, "invalid environment variable name ''"));
  CHECK(has_error(loaded, "x.yaml", 5, 9, "status =="));
  CHECK(has_error(loaded, "x.yaml", 6, 23, "invalid threshold range '20:10'"));
}

TEST_CASE("core: workspace discovery walks up to has.yaml") {
  has::test::TempDir dir;
  dir.write("has.yaml", "");
  dir.write("a/b/c/keep", "");
  auto found = has::core::find_workspace(std::nullopt, dir.path() / "a" / "b" / "c");
  CHECK(found.root == dir.path());
  CHECK(found.config_file == dir.path() / "has.yaml");
  auto explicit_dir = has::core::find_workspace(dir.path(), "/");
  CHECK(explicit_dir.root == dir.path());
  has::test::TempDir empty;
  CHECK_THROWS_AS(has::core::find_workspace(std::nullopt, empty.path()), has::core::Error);
  CHECK_THROWS_AS(has::core::find_workspace(empty.path(), "/"), has::core::Error);
}

TEST_CASE("defs: has.yaml's ssh section sets the defaults of ssh steps") {
  has::test::TempDir dir;
  dir.write("has.yaml", R"(ssh:
  user: ops
  port: 2222
  identity: keys/ops
  host_key: strict
  known_hosts: keys/known_hosts
  options: [ConnectTimeout=5, ServerAliveInterval=10]
)");
  auto loaded = load(dir);
  INFO(dump(loaded));
  CHECK(loaded.diagnostics.empty());
  const auto& ssh = loaded.definitions.config.ssh;
  CHECK(ssh.user == "ops");
  CHECK(ssh.port == 2222);
  CHECK(ssh.identity == "keys/ops");
  CHECK(ssh.host_key == "strict");
  CHECK(ssh.known_hosts == "keys/known_hosts");
  CHECK(ssh.options == std::vector<std::string>{"ConnectTimeout=5", "ServerAliveInterval=10"});

  dir.write("has.yaml", "ssh:\n  port: 70000\n  host_key: trust-me\n  agent: yes\n");
  loaded = load(dir);
  INFO(dump(loaded));
  CHECK(has_error(loaded, "has.yaml", 2, 9, "field 'port' must be between 1 and 65535"));
  CHECK(has_error(loaded, "has.yaml", 3, 13, "host_key"));
  CHECK(has_error(loaded, "has.yaml", 4, 3, "agent"));
  CHECK_FALSE(loaded.definitions.config.ssh.port.has_value());
}
