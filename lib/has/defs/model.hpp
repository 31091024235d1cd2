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

// has.yaml `ssh:`: what ssh steps (and systemd steps with a host) use where
// the step does not say. Empty strings and an empty port mean "not set".
struct SshDefaults {
  std::string user;
  std::optional<int> port;
  std::string identity;
  std::string host_key; // strict | accept-new | off
  std::string known_hosts;
  std::vector<std::string> options; // extra `-o` options
};

// has.yaml: the workspace's settings.
struct Config {
  std::filesystem::path file;
  std::optional<std::string> state;  // state file, relative to the workspace
  std::vector<Host> hosts;
  std::chrono::milliseconds default_timeout{10'000};
  // How long a gate (confirm) waits for an approval when its step sets no
  // timeout; unset: the gate kind's own default.
  std::optional<std::chrono::milliseconds> gate_timeout;
  int concurrency = 64;
  int per_target = 8;
  bool builtin_library = true;
  std::vector<NotifierConfig> notifiers;
  SshDefaults ssh;
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

// A span of time: absolute (starts/ends, either may be open) or daily (from/to
// in the machine's local time, on some weekdays), the same syntax as a
// Silence.
struct TimeWindow {
  std::optional<std::chrono::system_clock::time_point> starts;
  std::optional<std::chrono::system_clock::time_point> ends;
  std::optional<int> daily_from; // minutes after midnight
  std::optional<int> daily_to;   // to < from spans midnight
  std::vector<int> weekdays;     // 0 = Sunday; empty: every day
  Location where;

  // Returns whether the window is open at now.
  bool active(std::chrono::system_clock::time_point now) const;
  // Returns the first time after now at which active() changes, searched
  // minute by minute up to eight days ahead (nullopt: never).
  std::optional<std::chrono::system_clock::time_point>
  next_change(std::chrono::system_clock::time_point now) const;
};

// A maintenance window: while it is active, matching results are recorded
// but raise nothing and do not count towards the exit status.
struct Silence {
  Header header;
  TimeWindow window;
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

// The protection rules of something that changes production (a plan, a
// self-healing scenario, a failover): each limit is off unless written.
// Counters live in the state file, so they hold across cron invocations.
struct Protection {
  // Rate limit: at most rate_runs starts within rate_window.
  std::optional<int> rate_runs;
  std::chrono::milliseconds rate_window{0};
  // Cooldown after a run finishes before the next may start.
  std::optional<std::chrono::milliseconds> cooldown;
  // Runs at once.
  std::optional<int> max_concurrent;
  // Targets one run may touch.
  std::optional<int> blast_radius;
  // Runs may start only inside one of these (none: any time)...
  std::vector<TimeWindow> windows;
  // ...and never inside one of these.
  std::vector<TimeWindow> freezes;
  // Circuit breaker: after this many failed runs in a row, automatic runs
  // stop until `reset`.
  std::optional<int> breaker_failures;
  Location where;

  bool empty() const {
    return !rate_runs && !cooldown && !max_concurrent && !blast_radius && windows.empty() &&
           freezes.empty() && !breaker_failures;
  }
};

enum class ParamType { string, integer, number, boolean, list, object };

// Returns whether value is of the parameter type, strictly (a string is a
// JSON string, an int a JSON integer).
bool param_fits(ParamType type, const nlohmann::json& value);

// Returns "string", "int", "number", "bool", "list" or "object".
std::string_view param_type_name(ParamType type);

// A plan parameter: `-p name=value` on the command line, `params:` of a
// calling step, or the default.
struct PlanParam {
  std::string name;
  std::string description;
  ParamType type = ParamType::string;
  bool required = false;
  std::optional<nlohmann::json> default_value;
  std::vector<nlohmann::json> allowed; // empty: any value of the type
  bool secret = false;                 // redacted from the journal and output
  Location where;
};

// One action as written: its kind (exec, ssh, http, ...; "plan" calls a
// plan, "use" an Action template) and its fields, whose strings may hold
// ${{ }} resolved when the step runs.
struct StepAction {
  std::string kind;
  nlohmann::json fields = nlohmann::json::object();
  Location where;
};

enum class OnFailure { abort, continue_on, rollback };

// Returns "abort", "continue" or "rollback".
std::string_view on_failure_name(OnFailure value);

// How many failed items of a for_each stop it: a count, or a percentage of
// the items.
struct MaxFail {
  double value = 0;
  bool percent = false;
};

struct Step {
  std::string id;
  std::string description;
  StepAction action;
  std::vector<std::string> needs;
  std::optional<Expression> when;
  // for_each: an expression (a list of items) or a literal list; the step
  // runs once per item, with `item` bound.
  std::optional<Expression> for_each;
  std::optional<nlohmann::json> for_each_list;
  std::optional<TargetSelector> for_each_hosts; // for_each: {hosts: {labels}}
  int max_parallel = 1;
  std::optional<MaxFail> max_fail;
  std::optional<std::chrono::milliseconds> timeout;
  // When the run is stopped: time between SIGTERM and SIGKILL for the step's
  // processes (default 10 s).
  std::optional<std::chrono::milliseconds> kill_grace;
  int retries = 0;
  std::chrono::milliseconds retry_delay{1000}; // doubles after each retry
  std::optional<OnFailure> on_failure;          // default: the plan's
  bool idempotent = false;
  std::vector<Expression> expect; // success, over the step's outputs
  std::optional<StepAction> rollback;
  Location where;

  bool repeated() const { return for_each || for_each_list || for_each_hosts; }
};

struct Plan {
  Header header;
  std::vector<PlanParam> params;
  std::vector<Step> steps;
  // Independent steps running at once.
  int max_parallel = 4;
  OnFailure on_failure = OnFailure::rollback;
  // Key of the run's lock, templated over params (default: the plan's name
  // and every parameter value).
  std::optional<std::string> lock;
  std::optional<std::chrono::milliseconds> timeout;
  Protection protection;

  const Step* find_step(std::string_view id) const;
  const PlanParam* find_param(std::string_view name) const;
};

// A recommended plan of a diagnosis: its name and the parameters to give it
// (strings may hold ${{ }} over the values the tree gathered).
struct RecommendedPlan {
  std::string name;
  nlohmann::json params = nlohmann::json::object();
  Location where;
};

// A leaf of a tree: what is wrong, how bad, how sure, and what to do.
struct Diagnosis {
  std::string cause;
  std::string severity = "unknown"; // ok, warning, critical or unknown
  double confidence = 1.0;          // 0..1
  std::string explanation;          // may hold ${{ }}
  std::vector<RecommendedPlan> plans;
  Location where;
};

// How a branch picks the next node: by the node's status, by an expression
// over its values, by equality with its value, or always (`else`).
enum class BranchTest { status, condition, equals, otherwise };

struct Branch {
  BranchTest test = BranchTest::otherwise;
  std::string status;                 // BranchTest::status
  Expression condition;               // BranchTest::condition
  nlohmann::json equals;              // BranchTest::equals
  std::string next;
  Location where;
};

// A question for the operator and the answers it accepts.
struct Question {
  std::string text;
  std::vector<std::string> choices;
};

enum class NodeKind { probe, use, ask, expression, diagnosis };

// Returns "probe", "use", "ask", "expr" or "diagnosis".
std::string_view node_kind_name(NodeKind kind);

// One node of a tree: a check (a probe, a rule, a question or an
// expression) with branches, or a diagnosis (a leaf).
struct TreeNode {
  std::string name;
  std::string description;
  NodeKind kind = NodeKind::diagnosis;
  std::optional<ProbeSpec> probe;          // NodeKind::probe
  std::string rule;                        // NodeKind::use
  std::string target;                      // NodeKind::use, optional
  Question question;                       // NodeKind::ask
  Expression expression;                   // NodeKind::expression
  Diagnosis diagnosis;                     // NodeKind::diagnosis
  std::vector<Branch> branches;
  // Extra evidence gathered when the node runs, by name; never branched on.
  std::vector<std::pair<std::string, ProbeSpec>> collect;
  std::optional<std::chrono::milliseconds> timeout;
  Location where;

  bool leaf() const { return kind == NodeKind::diagnosis; }
};

// A test case of a tree (`tests:`): recorded results of its probe and use
// nodes, answers and vars, and the node the walk must end at.
struct RecordedResult {
  std::string status = "ok"; // ok, warning, critical or unknown (a probe error)
  nlohmann::json values = nlohmann::json::object();
  Location where;
};

struct TreeCase {
  std::string name;
  nlohmann::json vars = nlohmann::json::object();
  std::map<std::string, std::string> answers;
  std::map<std::string, RecordedResult> results; // by node
  std::string expect;                            // the node the walk ends at
  Location where;
};

// A diagnosis decision tree: checks from `start`, each result picking a
// branch, until a diagnosis.
struct Tree {
  Header header;
  std::string start;
  Location start_where;
  std::vector<TreeNode> nodes;
  std::optional<std::chrono::milliseconds> timeout; // the whole walk
  std::vector<TreeCase> cases;

  // Returns the node named name, or nullptr.
  const TreeNode* find_node(std::string_view name) const;
};

// Which risk events a scenario covers: every given part must hold.
struct ScenarioMatch {
  std::optional<std::string> source;         // the event's source, exactly
  std::vector<std::string> severities;       // one of these
  std::map<std::string, std::string> labels; // equal, or a prefix when the value ends in '*'
  std::optional<std::string> title;          // a part of the event's title
};

// Self-healing: the plan a scenario runs on its own, under the plan's
// protection rules; dry-run (the default) only says what it would run.
struct Heal {
  std::string plan;
  bool on = false; // mode: on
  Location where;
};

// A grading rule of a scenario: the level an event gets when the condition
// holds (no condition: always).
struct GradeRule {
  std::string level; // e.g. P1
  std::string when;  // an expression over event, open_minutes, open_events
  Location where;
};

// A risk scenario (kind: Scenario): the events it covers, the tree that
// diagnoses them, the plans that fit, the business impact, self-healing.
struct Scenario {
  Header header;
  ScenarioMatch match;
  std::string tree; // empty: none
  Location tree_where;
  std::vector<RecommendedPlan> plans; // params may use ${{ event.* }}
  std::string impact;
  std::optional<Heal> heal;
  std::vector<std::string> notify; // notifiers of has.yaml told how each event was handled
  Location notify_where;
  std::vector<GradeRule> grade; // the first that holds gives the event's level
};

// Every definition of a workspace, validated and with references resolved.
struct Definitions {
  std::filesystem::path root;
  // The shipped library's directories that were loaded (empty if none).
  std::vector<std::filesystem::path> library_dirs;
  Config config;
  std::vector<Rule> rules;
  std::vector<Silence> silences;
  std::vector<Plan> plans;
  std::vector<Plan> actions; // kind: Action, templates used by plan steps
  std::vector<Tree> trees;
  std::vector<Scenario> scenarios;
  std::size_t documents = 0;
  std::size_t files = 0;

  // Returns the rule named name, or nullptr.
  const Rule* find_rule(std::string_view name) const;
  // Returns the plan (or Action template) named name, or nullptr.
  const Plan* find_plan(std::string_view name) const;
  const Plan* find_action(std::string_view name) const;
  // Returns the tree named name, or nullptr.
  const Tree* find_tree(std::string_view name) const;
  // Returns the scenario named name, or nullptr.
  const Scenario* find_scenario(std::string_view name) const;
};

} // namespace has::defs
