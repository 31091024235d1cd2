#pragma once

#include <has/defs/diagnostics.hpp>
#include <has/defs/notifiers.hpp>
#include <has/defs/range.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace has::defs {

// Where a document came from: the workspace, or the library shipped with has.
enum class Origin { workspace, builtin };

// The fields every document has.
struct Header {
  std::string kind;
  std::string name;
  std::string description;
  std::map<std::string, std::string> labels;
  Location where;
  Origin origin = Origin::workspace;
  std::filesystem::path library_dir; // for builtin documents: the library they came from
};

// A host of the inventory in has.yaml.
struct Host {
  std::string name;
  std::string address;
  std::map<std::string, std::string> labels;
  Location where;
};

// has.yaml: the workspace's settings.
struct Config {
  std::filesystem::path file;
  std::optional<std::string> state;  // state file, relative to the workspace
  std::vector<Host> hosts;
  std::chrono::milliseconds default_timeout{10'000};
  int concurrency = 64;
  int per_target = 8;
  bool builtin_library = true;
  std::vector<NotifierConfig> notifiers;
};

// A rule parameter (rules with parameters are templates used by `use:`).
struct Param {
  std::string name;
  std::string description;
  std::optional<nlohmann::json> default_value;
  bool required = false;
  Location where;
};

// A probe as written: its kind and its fields (validated against the kind's
// schema at load time).
struct ProbeSpec {
  std::string kind;
  nlohmann::json fields;
  Location where;
};

// An expression with the place it was written.
struct Expression {
  std::string text;
  Location where;
};

// A threshold on one named value. A range written with ${{ }} (in a
// template) is parsed when the rule is instantiated; others at load time.
struct Threshold {
  std::string value;
  std::string text;
  std::optional<Range> range;
  Location where;
};

// Which hosts a rule runs against. Empty: once, on the local machine.
struct TargetSelector {
  std::map<std::string, std::string> labels;  // hosts whose labels all match
  std::vector<std::string> names;             // hosts by name
  std::vector<Host> inline_hosts;             // hosts given in the rule itself
  Location where;

  bool empty() const { return labels.empty() && names.empty() && inline_hosts.empty(); }
};

enum class RuleSeverity { warning, critical };

struct Rule {
  Header header;
  RuleSeverity severity = RuleSeverity::critical;
  bool severity_given = false; // written in the rule, not the default
  TargetSelector targets;
  std::optional<ProbeSpec> probe;
  std::vector<Expression> expect;
  std::vector<Threshold> warning;
  std::vector<Threshold> critical;
  int retries = 0;
  std::chrono::milliseconds retry_delay{1000};
  std::optional<std::chrono::milliseconds> timeout;
  int fail_after = 1;
  int recover_after = 1;
  std::vector<Param> params;          // non-empty: a template
  std::optional<std::string> use;     // the template this rule instantiates
  nlohmann::json with = nlohmann::json::object();
  Location use_where;

  bool is_template() const { return !params.empty(); }
};

// A maintenance window: while it is active, matching results are recorded
// but raise nothing and do not count towards the exit status.
struct Silence {
  Header header;
  // An absolute window...
  std::optional<std::chrono::system_clock::time_point> starts;
  std::optional<std::chrono::system_clock::time_point> ends;
  // ...or a daily one, in the machine's local time, on some weekdays
  // (0 = Sunday; empty: every day). to < from spans midnight.
  std::optional<int> daily_from; // minutes after midnight
  std::optional<int> daily_to;
  std::vector<int> weekdays;
  std::vector<std::string> rules;
  std::vector<std::string> targets;
  std::map<std::string, std::string> labels; // rules whose labels all match
  std::string reason;

  // Returns whether the window is open at now.
  bool active(std::chrono::system_clock::time_point now) const;
  // Returns whether the window covers rule (with its labels) on target.
  bool matches(const std::string& rule, const std::map<std::string, std::string>& rule_labels,
               const std::string& target) const;
};

// Every definition of a workspace, validated and with references resolved.
struct Definitions {
  std::filesystem::path root;
  // The shipped library's directories that were loaded (empty if none).
  std::vector<std::filesystem::path> library_dirs;
  Config config;
  std::vector<Rule> rules;
  std::vector<Silence> silences;
  std::size_t documents = 0;
  std::size_t files = 0;

  // Returns the rule named name, or nullptr.
  const Rule* find_rule(std::string_view name) const;
};

} // namespace has::defs
