#pragma once

#include <has/expr/expr.hpp>
#include <has/inspect/expand.hpp>
#include <has/probe/probe.hpp>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace has::inspect {

// One expectation or threshold, and what it saw.
struct Finding {
  std::string kind;   // expect, default, critical, warning, probe or error
  std::string text;   // the expectation, or "value range"
  bool passed = false;
  nlohmann::json values = nlohmann::json::object(); // the names it read and their values
  std::string error;  // why it could not be judged
};

// The judgement of one check's result.
struct Verdict {
  probe::Status status = probe::Status::ok;
  std::string message;
  std::vector<Finding> findings; // failed ones only, unless explain was asked for
};

// Returns the verdict on result: the probe's own failure, then each
// expectation (false fails with the rule's severity; naming a value the
// probe did not produce is unknown) or, when the check has none, the probe's
// default verdict (probe::Default: an HTTP 5xx is critical), then critical
// and warning thresholds. A critical result of the probe or of its default
// becomes warning for a rule of severity warning. With explain, passed
// findings are kept too, and findings say which verdict applied for every
// kind: the default (or the probe's own status, where that is all of it),
// a field of the probe (http's expect_status), or the expectations; and,
// when the probe failed, that the expectations were not evaluated.
Verdict evaluate(expr::Engine& engine, const Check& check, const probe::Result& result, bool explain);

// Returns the dotted names an expression reads (status, json.data.ready),
// skipping keywords, string literals and method names.
std::vector<std::string> referenced_names(std::string_view expression);

} // namespace has::inspect
