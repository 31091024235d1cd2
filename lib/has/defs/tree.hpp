#pragma once

// Diagnosis decision trees (kind: Tree): named nodes, each a check (a probe,
// a rule, a question or an expression) whose result picks a branch, down to
// a diagnosis.

#include <has/defs/model.hpp>
#include <has/defs/reader.hpp>

namespace has::defs {

// Reads the kind-specific fields of a Tree document; problems of one node
// (missing or several checks, bad branches, bad expressions) go to the
// reader's diagnostics.
Tree parse_tree(MapReader& reader, Header header);

// Checks what needs every document loaded and the shape of each tree: the
// start node, branch targets, cycles, unreachable nodes, nodes with no way
// to a diagnosis, rules used and plans recommended.
void resolve_trees(Definitions& definitions, Diagnostics& diagnostics);

// Reads a `plans:` list of recommended plans (a name, or {name, params}).
std::vector<RecommendedPlan> parse_recommended_plans(const FileContext& context, const yaml::Node& plans);

// Reports plans that do not exist (with a near name), and parameters
// missing or unknown; who names the recommender ("tree 'web' node 'down'").
void check_recommended_plans(const Definitions& definitions, Diagnostics& diagnostics, const std::string& who,
                             const std::vector<RecommendedPlan>& plans);

} // namespace has::defs
