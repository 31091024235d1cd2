#include <has/inspect/defaults.hpp>

#include <has/probe/probe.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace has::inspect {

namespace {

std::string verdict_text(std::string_view kind) {
  auto text = probe::default_verdict(kind);
  return text.empty() ? std::string() : fmt::format(" ({})", text);
}

void note_rules(const defs::Definitions& definitions, defs::Diagnostics& diagnostics) {
  for (const auto& rule : definitions.rules) {
    if (rule.header.origin != defs::Origin::workspace || rule.is_template()) {
      continue;
    }
    const defs::Rule* base = rule.use ? definitions.find_rule(*rule.use) : nullptr;
    const auto& probe = base ? base->probe : rule.probe;
    // Thresholds are a judgement of the rule's own, as expectations are.
    auto judges = [](const defs::Rule* r) {
      return r != nullptr && (!r->expect.empty() || !r->warning.empty() || !r->critical.empty());
    };
    if (!probe || judges(&rule) || judges(base) || !probe::judges_beyond_status(probe->kind)) {
      continue;
    }
    diagnostics.note(rule.header.where,
                     fmt::format("rule '{}'{} has no expect or thresholds: the {} probe's default verdict decides{}",
                                 rule.header.name, base ? fmt::format(" (use: {})", base->header.name) : "",
                                 probe->kind, verdict_text(probe->kind)));
  }
}

void note_trees(const defs::Definitions& definitions, defs::Diagnostics& diagnostics) {
  for (const auto& tree : definitions.trees) {
    if (tree.header.origin != defs::Origin::workspace) {
      continue;
    }
    for (const auto& node : tree.nodes) {
      bool on_status = std::any_of(node.branches.begin(), node.branches.end(),
                                   [](const defs::Branch& branch) { return branch.test == defs::BranchTest::status; });
      if (node.kind != defs::NodeKind::probe || !node.probe || !on_status ||
          !probe::judges_beyond_status(node.probe->kind)) {
        continue;
      }
      diagnostics.note(node.where, fmt::format("node '{}' of tree '{}' branches on the status of its {} probe, "
                                               "which its default verdict decides{}",
                                               node.name, tree.header.name, node.probe->kind,
                                               verdict_text(node.probe->kind)));
    }
  }
}

} // namespace

void note_default_verdicts(const defs::Definitions& definitions, defs::Diagnostics& diagnostics) {
  note_rules(definitions, diagnostics);
  note_trees(definitions, diagnostics);
}

} // namespace has::inspect
