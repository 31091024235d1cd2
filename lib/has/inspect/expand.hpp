#pragma once

#include <has/defs/model.hpp>
#include <has/probe/probe.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace has::inspect {

// Which rules and targets a run covers.
struct Selection {
  std::vector<std::string> rules;              // by name; empty: every runnable rule
  std::map<std::string, std::string> labels;   // rules whose labels all match
  std::vector<std::string> targets;            // target names; empty: all
  std::optional<std::chrono::milliseconds> timeout; // overrides rules and defaults
  // When set, only the rules it accepts (has validate instantiates just the
  // rules whose probe has templates).
  std::function<bool(const defs::Rule&)> accept;
};

// A threshold ready to apply.
struct Limit {
  std::string value;
  defs::Range range;
};

// One rule on one target, with its templates instantiated and every ${{ }}
// and ${env:} resolved: what the runner executes and the evaluator judges.
struct Check {
  std::string rule;
  std::string target;
  defs::RuleSeverity severity = defs::RuleSeverity::critical;
  probe::Spec spec;
  std::vector<defs::Expression> expect;
  std::vector<Limit> warning;
  std::vector<Limit> critical;
  int retries = 0;
  std::chrono::milliseconds retry_delay{1000};
  int fail_after = 1;
  int recover_after = 1;
  std::map<std::string, std::string> labels; // the rule's labels
  nlohmann::json context;                    // target, params, rule: what expressions also see
  // Set when the check could not be prepared (unset variable, bad value):
  // it is reported as unknown with this message, without running.
  std::optional<std::string> error;
};

// A rule's parts with those of its template (`use:`) filled in, as expand
// instantiates them: the template's probe, the template's expectations then
// the rule's, and the rule's thresholds or else the template's.
struct RuleParts {
  const defs::Rule* base = nullptr;          // the template, or nullptr
  const defs::ProbeSpec* probe = nullptr;    // nullptr: none (a load error)
  std::vector<defs::Expression> expect;
  const std::vector<defs::Threshold>* warning = nullptr;
  const std::vector<defs::Threshold>* critical = nullptr;
};

// Returns rule's parts; never throws (a template that does not exist reads
// as none).
RuleParts parts_of(const defs::Definitions& definitions, const defs::Rule& rule);

// Returns the checks of the selected rules over their targets, in rule then
// target order. Throws core::Error(ExitCode::usage) for a rule or target
// named in the selection that does not exist.
std::vector<Check> expand(const defs::Definitions& definitions, const Selection& selection);
// Calls visit with each check expand() returns, in the same order, without
// holding them all (has validate builds the probe of each and drops it).
// Throws like expand(): an unknown rule before the first visit, a target
// that no selected rule runs on after the last.
void expand_each(const defs::Definitions& definitions, const Selection& selection,
                 const std::function<void(Check&&)>& visit);

} // namespace has::inspect
