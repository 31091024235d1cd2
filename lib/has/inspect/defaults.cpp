#include <has/inspect/defaults.hpp>

#include <has/inspect/evaluate.hpp>
#include <has/inspect/expand.hpp>
#include <has/probe/probe.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace has::inspect {

namespace {

std::string verdict_text(std::string_view kind) {
  auto text = probe::default_verdict(kind);
  return text.empty() ? std::string() : fmt::format(" ({})", text);
}

// "a", "a or b", "a, b or c".
std::string either(const std::vector<std::string>& items) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    out += i == 0 ? "" : i + 1 == items.size() ? " or " : ", ";
    out += items[i];
  }
  return out;
}

void note_rules(const defs::Definitions& definitions, defs::Diagnostics& diagnostics) {
  for (const auto& rule : definitions.rules) {
    if (rule.header.origin != defs::Origin::workspace || rule.is_template()) {
      continue;
    }
    auto parts = parts_of(definitions, rule);
    if (parts.probe == nullptr) {
      continue;
    }
    const auto& kind = parts.probe->kind;
    const auto& fields = parts.probe->fields;
    probe::Judging judging{!parts.expect.empty(), !parts.warning->empty() || !parts.critical->empty()};
    if (!probe::relies_on_default(kind, fields, judging)) {
      continue;
    }
    // Only what would change the verdict is offered: thresholds do not for
    // an HTTP status, and a template's probe is not the rule's to change.
    std::vector<std::string> missing{"expect"};
    std::vector<std::string> ways{"expect"};
    if (!probe::relies_on_default(kind, fields, {false, true})) {
      missing.emplace_back("thresholds");
      ways.emplace_back("warning/critical thresholds");
    }
    if (auto field = probe::judging_field(kind); !field.empty() && parts.base == nullptr) {
      missing.emplace_back(field);
      ways.push_back(fmt::format("{} in the probe", field));
    }
    diagnostics.note(rule.header.where,
                     fmt::format("rule '{}'{} has no {}: the {} probe's default verdict decides{}; to judge it "
                                 "yourself, write {}",
                                 rule.header.name, parts.base ? fmt::format(" (use: {})", parts.base->header.name) : "",
                                 either(missing), kind, verdict_text(kind), either(ways)));
  }
}

// Whether a branch of a probe node of kind reads the node's verdict: its
// status, `equals` (which compares the status name) or an `if:` naming
// `verdict`, or `value` where that is the status name (inspect::
// referenced_names reads the expression).
bool reads_verdict(const defs::Branch& branch, std::string_view kind) {
  switch (branch.test) {
  // The default never makes a verdict unknown: only a probe that could not
  // observe takes that branch.
  case defs::BranchTest::status: return branch.status != "unknown";
  case defs::BranchTest::equals: return true;
  case defs::BranchTest::otherwise: return false;
  case defs::BranchTest::condition: break;
  }
  auto names = referenced_names(branch.condition.text);
  return std::any_of(names.begin(), names.end(), [&](const std::string& name) {
    return name == "verdict" || ((name == "value" || name.starts_with("value.")) && !probe::has_own_value(kind));
  });
}

void note_trees(const defs::Definitions& definitions, defs::Diagnostics& diagnostics) {
  for (const auto& tree : definitions.trees) {
    if (tree.header.origin != defs::Origin::workspace) {
      continue;
    }
    for (const auto& node : tree.nodes) {
      if (node.kind != defs::NodeKind::probe || !node.probe ||
          !probe::relies_on_default(node.probe->kind, node.probe->fields, {}) ||
          std::none_of(node.branches.begin(), node.branches.end(),
                       [&](const defs::Branch& branch) { return reads_verdict(branch, node.probe->kind); })) {
        continue;
      }
      const auto& kind = node.probe->kind;
      auto field = probe::judging_field(kind);
      diagnostics.note(node.where,
                       fmt::format("node '{}' of tree '{}' branches on the verdict of its {} probe, which the "
                                   "probe's default verdict decides{}; to branch on what it saw, {}branch with "
                                   "if: on its values",
                                   node.name, tree.header.name, kind, verdict_text(kind),
                                   field.empty() ? "" : fmt::format("give the probe {} or ", field)));
    }
  }
}

} // namespace

void note_default_verdicts(const defs::Definitions& definitions, defs::Diagnostics& diagnostics) {
  note_rules(definitions, diagnostics);
  note_trees(definitions, diagnostics);
}

} // namespace has::inspect
