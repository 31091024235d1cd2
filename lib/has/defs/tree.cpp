#include <has/defs/tree.hpp>

#include <has/core/error.hpp>
#include <has/defs/rule.hpp>
#include <has/expr/expr.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>

namespace has::defs {

namespace {

constexpr std::string_view k_checks[] = {"probe", "use", "ask", "expr", "diagnosis"};

void check_expression(const FileContext& context, const yaml::Node& node, const std::string& text) {
  try {
    expr::check_syntax(text, expr::Source{});
  } catch (const core::Error& e) {
    context.error(node, e.what());
  }
}

Diagnosis parse_diagnosis(const FileContext& context, const yaml::Node& node) {
  Diagnosis out;
  out.where = context.at(node);
  MapReader reader(context, node, "diagnosis");
  if (!reader.valid()) {
    return out;
  }
  out.cause = reader.string("cause", Need::required).value_or("");
  out.severity = reader.choice("severity", {"ok", "warning", "critical", "unknown"}, Need::required)
                   .value_or("unknown");
  if (auto confidence = reader.number("confidence")) {
    if (*confidence < 0 || *confidence > 1) {
      context.error(reader.get("confidence"), "field 'confidence' must be between 0 and 1");
    }
    out.confidence = *confidence;
  }
  if (auto explanation = reader.string("explanation")) {
    out.explanation = *explanation;
    check_templates(context, out.explanation, context.at(reader.get("explanation")));
  }
  if (auto plans = reader.get("plans"); plans.is_defined()) {
    out.plans = parse_recommended_plans(context, plans);
  }
  reader.finish();
  return out;
}

Branch parse_branch(const FileContext& context, const yaml::Node& node) {
  Branch branch;
  branch.where = context.at(node);
  MapReader reader(context, node, "a branch");
  if (!reader.valid()) {
    return branch;
  }
  std::vector<std::string> tests;
  for (auto key : {"status", "if", "equals", "else"}) {
    if (reader.has(key)) {
      tests.emplace_back(key);
    }
  }
  if (tests.size() != 1) {
    context.error(node, tests.empty() ? "a branch needs one of 'status', 'if', 'equals' or 'else'"
                                      : fmt::format("a branch has both '{}' and '{}': give exactly one",
                                                    tests[0], tests[1]));
    for (const auto& key : tests) {
      reader.get(key);
    }
    reader.get("next");
    reader.finish();
    return branch;
  }
  const auto& test = tests.front();
  if (test == "else") {
    branch.test = BranchTest::otherwise;
    branch.next = reader.string("else", Need::required).value_or("");
    if (reader.has("next")) {
      context.error(reader.get("next"), "an 'else' branch names its node itself: {else: NODE}");
    }
  } else {
    branch.next = reader.string("next", Need::required).value_or("");
    if (test == "status") {
      branch.test = BranchTest::status;
      branch.status = reader.choice("status", {"ok", "warning", "critical", "unknown"}).value_or("");
    } else if (test == "if") {
      branch.test = BranchTest::condition;
      auto value = reader.get("if");
      if (auto text = scalar(context, value, "field 'if'")) {
        branch.condition = {*text, context.at(value)};
        check_expression(context, value, *text);
      }
    } else {
      branch.test = BranchTest::equals;
      branch.equals = to_json(reader.get("equals"));
    }
  }
  reader.finish();
  return branch;
}

TreeNode parse_node(const FileContext& context, const std::string& name, const yaml::Node& node) {
  TreeNode out;
  out.name = name;
  out.where = context.at(node);
  MapReader reader(context, node, fmt::format("node '{}'", name));
  if (!reader.valid()) {
    return out;
  }
  out.description = reader.string("description").value_or("");
  std::vector<std::string> found;
  for (auto key : k_checks) {
    if (reader.has(key)) {
      found.emplace_back(key);
    }
  }
  if (found.size() != 1) {
    context.error(node, found.empty()
                          ? fmt::format("node '{}' needs one of probe, use, ask, expr or diagnosis", name)
                          : fmt::format("node '{}' has both '{}' and '{}': give exactly one", name, found[0],
                                        found[1]));
    for (const auto& key : found) {
      reader.get(key);
    }
    reader.allow({"target", "branches", "collect", "timeout"});
    reader.finish();
    return out;
  }
  const auto& check = found.front();
  if (check == "probe") {
    out.kind = NodeKind::probe;
    out.probe = parse_probe(context, reader.get("probe"));
  } else if (check == "use") {
    out.kind = NodeKind::use;
    out.rule = reader.string("use").value_or("");
    out.target = reader.string("target").value_or("");
  } else if (check == "ask") {
    out.kind = NodeKind::ask;
    MapReader ask(context, reader.get("ask"), "ask");
    if (ask.valid()) {
      out.question.text = ask.string("question", Need::required).value_or("");
      out.question.choices = ask.string_list("choices", Need::required);
      if (ask.has("choices") && out.question.choices.empty()) {
        context.error(ask.get("choices"), "field 'choices' must list at least one answer");
      }
      ask.finish();
    }
  } else if (check == "expr") {
    out.kind = NodeKind::expression;
    auto value = reader.get("expr");
    if (auto text = scalar(context, value, "field 'expr'")) {
      out.expression = {*text, context.at(value)};
      check_expression(context, value, *text);
    }
  } else {
    out.kind = NodeKind::diagnosis;
    out.diagnosis = parse_diagnosis(context, reader.get("diagnosis"));
  }
  if (out.kind != NodeKind::use && reader.has("target")) {
    context.error(reader.get("target"), "field 'target' belongs to a 'use:' node");
  }
  out.timeout = reader.duration("timeout");
  if (auto collect = reader.get("collect"); collect.is_defined()) {
    if (!collect.is_map()) {
      context.error(collect, "field 'collect' must map evidence names to probes, e.g. {df: {exec: {...}}}");
    } else {
      for (const auto& item : collect) {
        if (auto probe = parse_probe(context, item.second)) {
          out.collect.emplace_back(item.first.text(), std::move(*probe));
        }
      }
    }
  }
  if (auto branches = reader.get("branches"); branches.is_defined()) {
    if (!branches.is_sequence()) {
      context.error(branches, "field 'branches' must be a list, e.g. [{status: critical, next: NODE}, {else: NODE}]");
    } else {
      for (const auto& item : branches) {
        out.branches.push_back(parse_branch(context, item));
      }
    }
  }
  if (out.leaf()) {
    if (!out.branches.empty() || !out.collect.empty() || out.timeout) {
      context.error(node, fmt::format("node '{}' is a diagnosis: it takes no branches, collect or timeout", name));
    }
  } else if (out.branches.empty()) {
    context.error(node, fmt::format("node '{}' needs 'branches' saying which node comes next", name));
  }
  for (std::size_t i = 0; i < out.branches.size(); ++i) {
    const auto& branch = out.branches[i];
    if (branch.test == BranchTest::otherwise && i + 1 != out.branches.size()) {
      context.error(branch.where, "an 'else' branch must come last: the branches after it never run");
    }
    if (branch.test == BranchTest::equals && out.kind == NodeKind::ask) {
      auto text = branch.equals.is_string() ? branch.equals.get<std::string>() : branch.equals.dump();
      const auto& choices = out.question.choices;
      if (!choices.empty() && std::find(choices.begin(), choices.end(), text) == choices.end()) {
        context.error(branch.where, fmt::format("'{}' is not one of the choices of node '{}'", text, name));
      }
    }
  }
  reader.finish();
  return out;
}

TreeCase parse_case(const FileContext& context, const yaml::Node& node, std::size_t index) {
  TreeCase out;
  out.where = context.at(node);
  MapReader reader(context, node, "a test case");
  if (!reader.valid()) {
    return out;
  }
  out.name = reader.string("name").value_or(fmt::format("case-{}", index + 1));
  out.expect = reader.string("expect", Need::required).value_or("");
  out.answers = reader.string_map("answers");
  if (auto vars = reader.get("vars"); vars.is_defined()) {
    if (!vars.is_map()) {
      context.error(vars, "field 'vars' must map names to values");
    } else {
      out.vars = to_json(vars);
    }
  }
  if (auto results = reader.get("nodes"); results.is_defined()) {
    if (!results.is_map()) {
      context.error(results, "field 'nodes' must map node names to recorded results {status, values}");
    } else {
      for (const auto& item : results) {
        RecordedResult result;
        result.where = context.at(item.first);
        MapReader fields(context, item.second, fmt::format("the result of node '{}'", item.first.text()));
        if (fields.valid()) {
          result.status = fields.choice("status", {"ok", "warning", "critical", "unknown"}).value_or("ok");
          if (auto values = fields.get("values"); values.is_defined()) {
            if (!values.is_map()) {
              context.error(values, "field 'values' must map value names to values");
            } else {
              result.values = to_json(values);
            }
          }
          fields.finish();
        }
        out.results[item.first.text()] = std::move(result);
      }
    }
  }
  reader.finish();
  return out;
}

void check_case(Diagnostics& diagnostics, const Tree& tree, const TreeCase& test) {
  const auto prefix = fmt::format("tree '{}' test '{}'", tree.header.name, test.name);
  if (!test.expect.empty() && tree.find_node(test.expect) == nullptr) {
    diagnostics.error(test.where, fmt::format("{} expects node '{}', which is not one of its nodes", prefix, test.expect));
  }
  for (const auto& [name, result] : test.results) {
    const auto* node = tree.find_node(name);
    if (node == nullptr || (node->kind != NodeKind::probe && node->kind != NodeKind::use)) {
      diagnostics.error(result.where, fmt::format("{} records a result for '{}', which is not a probe or use node",
                                                  prefix, name));
    }
  }
  for (const auto& [name, answer] : test.answers) {
    const auto* node = tree.find_node(name);
    if (node == nullptr || node->kind != NodeKind::ask) {
      diagnostics.error(test.where, fmt::format("{} answers '{}', which is not a question node", prefix, name));
    } else if (std::find(node->question.choices.begin(), node->question.choices.end(), answer) ==
               node->question.choices.end()) {
      diagnostics.error(test.where, fmt::format("{} answers '{}' with '{}', which is not one of its choices", prefix,
                                                name, answer));
    }
  }
}

void check_plans(const Definitions& definitions, Diagnostics& diagnostics, const Tree& tree,
                 const TreeNode& node) {
  check_recommended_plans(definitions, diagnostics, fmt::format("tree '{}' node '{}'", tree.header.name, node.name),
                          node.diagnosis.plans);
}

void resolve_one(const Definitions& definitions, Diagnostics& diagnostics, const Tree& tree) {
  std::vector<std::string> names;
  for (const auto& node : tree.nodes) {
    names.push_back(node.name);
  }
  const auto prefix = fmt::format("tree '{}'", tree.header.name);
  if (!tree.start.empty() && !tree.nodes.empty() && tree.find_node(tree.start) == nullptr) {
    diagnostics.error(tree.start_where, fmt::format("{} starts at '{}', which is not one of its nodes{}", prefix,
                                                    tree.start, did_you_mean(tree.start, names)));
  }
  bool dangling = false;
  for (const auto& node : tree.nodes) {
    for (const auto& branch : node.branches) {
      if (!branch.next.empty() && tree.find_node(branch.next) == nullptr) {
        dangling = true;
        diagnostics.error(branch.where, fmt::format("{} node '{}' branches to '{}', which is not one of its nodes{}",
                                                    prefix, node.name, branch.next, did_you_mean(branch.next, names)));
      }
    }
    if (node.kind == NodeKind::use && !node.rule.empty() && definitions.find_rule(node.rule) == nullptr) {
      std::vector<std::string> rules;
      for (const auto& rule : definitions.rules) {
        rules.push_back(rule.header.name);
      }
      diagnostics.error(node.where, fmt::format("{} node '{}' uses rule '{}', which is not a known rule{}", prefix,
                                                node.name, node.rule, did_you_mean(node.rule, rules)));
    }
    if (node.leaf()) {
      check_plans(definitions, diagnostics, tree, node);
    }
  }
  for (const auto& test : tree.cases) {
    check_case(diagnostics, tree, test);
  }
  const auto* start = tree.find_node(tree.start);
  if (start == nullptr || dangling) {
    return; // the graph checks below need whole edges
  }
  // Cycles and reachability, by depth-first search from the start.
  std::map<std::string, int> mark; // 1 on the path, 2 done
  std::vector<std::string> path;
  bool cycle = false;
  std::function<void(const TreeNode&)> visit = [&](const TreeNode& node) {
    mark[node.name] = 1;
    path.push_back(node.name);
    for (const auto& branch : node.branches) {
      const auto* next = tree.find_node(branch.next);
      if (next == nullptr) {
        continue;
      }
      if (mark[next->name] == 1 && !cycle) {
        cycle = true;
        auto from = std::find(path.begin(), path.end(), next->name);
        std::string text;
        for (auto it = from; it != path.end(); ++it) {
          text += *it + " -> ";
        }
        diagnostics.error(branch.where, fmt::format("{} has a cycle: {}{}", prefix, text, next->name));
      } else if (mark[next->name] == 0) {
        visit(*next);
      }
    }
    path.pop_back();
    mark[node.name] = 2;
  };
  visit(*start);
  for (const auto& node : tree.nodes) {
    if (mark[node.name] == 0) {
      diagnostics.error(node.where, fmt::format("{} node '{}' is unreachable from the start node '{}'", prefix,
                                                node.name, tree.start));
    }
  }
  // Nodes from which no path reaches a diagnosis: grow the set of nodes
  // that reach one until it stops growing.
  std::set<std::string> reaches;
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto& node : tree.nodes) {
      if (reaches.count(node.name) != 0) {
        continue;
      }
      bool ok = node.leaf() || std::any_of(node.branches.begin(), node.branches.end(), [&](const Branch& branch) {
                  return reaches.count(branch.next) != 0;
                });
      if (ok) {
        reaches.insert(node.name);
        grew = true;
      }
    }
  }
  for (const auto& node : tree.nodes) {
    if (reaches.count(node.name) == 0 && mark[node.name] != 0) {
      diagnostics.error(node.where, fmt::format("{} node '{}' has no way to a diagnosis", prefix, node.name));
    }
  }
}

} // namespace

std::string_view node_kind_name(NodeKind kind) {
  switch (kind) {
  case NodeKind::probe: return "probe";
  case NodeKind::use: return "use";
  case NodeKind::ask: return "ask";
  case NodeKind::expression: return "expr";
  case NodeKind::diagnosis: return "diagnosis";
  }
  return "diagnosis";
}

std::vector<RecommendedPlan> parse_recommended_plans(const FileContext& context, const yaml::Node& plans) {
  std::vector<RecommendedPlan> out;
  if (!plans.is_sequence()) {
    context.error(plans, "field 'plans' must be a list of {name, params}");
    return out;
  }
  for (const auto& item : plans) {
    RecommendedPlan plan;
    plan.where = context.at(item);
    if (item.is_scalar()) {
      plan.name = item.text();
    } else {
      MapReader fields(context, item, "a recommended plan");
      plan.name = fields.string("name", Need::required).value_or("");
      if (auto params = fields.get("params"); params.is_defined()) {
        if (!params.is_map()) {
          context.error(params, "field 'params' must map parameter names to values");
        } else {
          plan.params = to_json(params);
          check_templates(context, plan.params, context.at(params));
        }
      }
      fields.finish();
    }
    out.push_back(std::move(plan));
  }
  return out;
}

void check_recommended_plans(const Definitions& definitions, Diagnostics& diagnostics, const std::string& who,
                             const std::vector<RecommendedPlan>& plans) {
  for (const auto& recommended : plans) {
    const auto* plan = definitions.find_plan(recommended.name);
    if (plan == nullptr) {
      std::vector<std::string> names;
      for (const auto& other : definitions.plans) {
        names.push_back(other.header.name);
      }
      diagnostics.error(recommended.where, fmt::format("{} recommends plan '{}', which is not a known plan{}", who,
                                                       recommended.name,
                                                       did_you_mean(recommended.name, names)));
      continue;
    }
    for (const auto& param : plan->params) {
      if (param.required && !recommended.params.contains(param.name)) {
        diagnostics.error(recommended.where,
                          fmt::format("{} must give parameter '{}' of plan '{}'", who, param.name, recommended.name));
      }
    }
    for (const auto& item : recommended.params.items()) {
      if (plan->find_param(item.key()) == nullptr) {
        diagnostics.error(recommended.where, fmt::format("{} gives unknown parameter '{}' to plan '{}'", who,
                                                         item.key(), recommended.name));
      }
    }
  }
}

const TreeNode* Tree::find_node(std::string_view name) const {
  for (const auto& node : nodes) {
    if (node.name == name) {
      return &node;
    }
  }
  return nullptr;
}

const Tree* Definitions::find_tree(std::string_view name) const {
  for (const auto& tree : trees) {
    if (tree.header.name == name) {
      return &tree;
    }
  }
  return nullptr;
}

Tree parse_tree(MapReader& reader, Header header) {
  const auto& context = reader.context();
  Tree tree;
  tree.header = std::move(header);
  tree.start = reader.string("start", Need::required).value_or("");
  tree.start_where = context.at(reader.get("start"));
  tree.timeout = reader.duration("timeout");
  if (auto tests = reader.get("tests"); tests.is_defined()) {
    if (!tests.is_sequence()) {
      context.error(tests, "field 'tests' must be a list of test cases {name, nodes, answers, vars, expect}");
    } else {
      for (std::size_t i = 0; i < tests.size(); ++i) {
        tree.cases.push_back(parse_case(context, tests[i], i));
      }
    }
  }
  auto nodes = reader.get("nodes", Need::required);
  if (!nodes.is_defined()) {
    return tree;
  }
  if (!nodes.is_map() || nodes.size() == 0) {
    context.error(nodes, "field 'nodes' must map node names to nodes");
    return tree;
  }
  for (const auto& item : nodes) {
    tree.nodes.push_back(parse_node(context, item.first.text(), item.second));
  }
  return tree;
}

void resolve_trees(Definitions& definitions, Diagnostics& diagnostics) {
  for (const auto& tree : definitions.trees) {
    resolve_one(definitions, diagnostics, tree);
  }
}

} // namespace has::defs
