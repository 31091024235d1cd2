#pragma once

// Walking a diagnosis tree: from the start node, each node is observed (a
// probe or a rule run, a question answered, an expression evaluated), its
// first matching branch picks the next node, until a diagnosis. What
// observes sits behind Observer, so a tree can be walked against recorded
// results without touching anything real.

#include <has/defs/model.hpp>
#include <has/probe/probe.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace has::diagnose {

// What one node (or one piece of collected evidence) saw.
struct Observation {
  probe::Status status = probe::Status::unknown;
  // What `equals` branches compare: an expression's value, the answer to a
  // question, else the status name.
  nlohmann::json value;
  nlohmann::json values = nlohmann::json::object(); // the probe's named values
  std::string checked;  // what was checked, in a few words
  std::string message;
  std::string evidence;
  std::optional<int> exit_code;
  double elapsed_ms = 0;
  // Set when the check could not be made (the probe failed to work, a rule
  // could not be prepared): the walk follows a `status: unknown` branch, or
  // ends inconclusive.
  std::optional<std::string> error;
};

// Runs the probes of probe and use nodes, and collected evidence.
class Observer {
public:
  virtual ~Observer() = default;
  // Returns what node (a probe or use node) saw; scope holds vars, nodes
  // and event for the probe's ${{ }}; never throws for a failed check (it
  // sets Observation::error).
  virtual Observation observe(const defs::TreeNode& node, const nlohmann::json& scope,
                              std::chrono::milliseconds timeout) = 0;
  // Returns the evidence named name of node; never throws for a failed
  // check.
  virtual Observation collect(const defs::TreeNode& node, const std::string& name, const defs::ProbeSpec& probe,
                              const nlohmann::json& scope, std::chrono::milliseconds timeout) = 0;
};

// Returns an Observer that runs probes and rules for real on the
// definitions (which must outlive it).
std::unique_ptr<Observer> real_observer(const defs::Definitions& definitions);

// One node of the path a walk took.
struct Step {
  std::string node;
  defs::NodeKind kind = defs::NodeKind::probe;
  Observation seen;
  std::map<std::string, Observation> collected;
  std::optional<std::size_t> branch; // index of the branch taken
  std::string branch_label;          // "status critical", "if ...", "equals x", "else"
  std::string next;
};

// How a walk ended.
enum class End { diagnosis, inconclusive, needs_input };

// Returns "diagnosis", "inconclusive" or "needs_input".
std::string_view end_name(End end);

struct Outcome {
  End end = End::inconclusive;
  std::string node;                 // the leaf, or where the walk stopped
  defs::Diagnosis diagnosis;        // explanation and plan params resolved
  std::vector<Step> path;
  std::string reason;               // why it is inconclusive or needs input
  bool interrupted = false;         // stopped by WalkOptions::cancelled
  std::vector<std::string> choices; // needs_input: the answers node takes
  // The exit status: the diagnosis's severity; unknown otherwise.
  probe::Status severity = probe::Status::unknown;
};

struct WalkOptions {
  nlohmann::json vars = nlohmann::json::object();  // -v key=value
  std::map<std::string, std::string> answers;      // --answer NODE=CHOICE
  std::optional<std::int64_t> event_id;
  nlohmann::json event; // the event's fields as expressions see them (state::event_values)
  std::optional<std::chrono::milliseconds> timeout; // overrides the tree's
  std::chrono::milliseconds default_timeout{10'000}; // per node when neither node nor probe says
  // Called after each node is decided (before the next starts).
  std::function<void(const Step&)> on_step;
  // Returns whether the walk should stop (Ctrl-C); polled after each node.
  std::function<bool()> cancelled;
  // Asks the operator (on a terminal); returns the choice, or nullopt when
  // there is nobody to ask.
  std::function<std::optional<std::string>(const defs::TreeNode&)> prompt;
};

// Returns normally when every answer names a question node of tree and one
// of its choices; throws core::Error(ExitCode::usage) otherwise.
void check_answers(const defs::Tree& tree, const std::map<std::string, std::string>& answers);

// Returns how the walk of tree ended. Throws core::Error(ExitCode::usage)
// for an --answer naming a node the tree lacks or a choice the node does
// not offer.
Outcome walk(const defs::Tree& tree, Observer& observer, const WalkOptions& options);

// Returns what a branch tests, in a few words: "status critical", "if
// EXPR", "equals VALUE" or "else".
std::string branch_label(const defs::Branch& branch);

// Returns the outcome as JSON: conclusion, path (with evidence per step).
nlohmann::json to_json(const Outcome& outcome);
nlohmann::json to_json(const Observation& observation);

} // namespace has::diagnose
