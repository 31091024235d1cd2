#include "cli.hpp"

#include <has/core/error.hpp>
#include <has/core/interrupt.hpp>
#include <has/core/provenance.hpp>
#include <has/defs/reader.hpp>
#include <has/defs/units.hpp>
#include <has/diagnose/record.hpp>
#include <has/diagnose/replay.hpp>
#include <has/diagnose/walk.hpp>
#include <has/state/diagnose.hpp>
#include <has/state/inspect.hpp>
#include <has/state/runs.hpp>
#include <has/state/store.hpp>
#include <has/util/process.hpp>

#include <fmt/format.h>

#include <iostream>
#include <set>
#include <unistd.h>

namespace has::cmd {

namespace {

struct RunFlags {
  std::string tree;
  std::int64_t event = 0;
  std::vector<std::string> vars;
  std::vector<std::string> answers;
  std::string timeout;
};

const defs::Tree& find_tree(const defs::Definitions& definitions, const std::string& name) {
  if (const auto* tree = definitions.find_tree(name)) {
    return *tree;
  }
  std::vector<std::string> names;
  for (const auto& tree : definitions.trees) {
    names.push_back(tree.header.name);
  }
  throw core::Error(core::ExitCode::usage,
                    fmt::format("no tree named '{}'{}", name, defs::did_you_mean(name, names)),
                    {}, names.empty() ? "the workspace has no trees (kind: Tree)" : "list them with `has diagnose list`");
}

std::pair<std::string, std::string> split_assignment(const std::string& item, std::string_view flag) {
  auto eq = item.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw core::Error(core::ExitCode::usage, fmt::format("{} {}: expected NAME=VALUE", flag, item), {},
                      fmt::format("e.g. {} host=web1", flag));
  }
  return {item.substr(0, eq), item.substr(eq + 1)};
}

std::string severity_colour(std::string_view severity) {
  return severity == "ok" ? "green" : severity == "warning" ? "yellow" : severity == "critical" ? "red" : "dim";
}

std::string value_text(const nlohmann::json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

// Prints each step to stderr as the walk goes.
std::function<void(const diagnose::Step&)> step_printer(const Globals& globals) {
  auto count = std::make_shared<int>(0);
  return [&globals, count](const diagnose::Step& step) {
    const auto& seen = step.seen;
    std::string what = seen.checked.empty() ? std::string(defs::node_kind_name(step.kind)) : seen.checked;
    std::string detail = seen.error ? "error: " + *seen.error : seen.message;
    if (seen.exit_code) {
      detail += fmt::format("{}exit {}", detail.empty() ? "" : ", ", *seen.exit_code);
    }
    note(globals, fmt::format("[{}] {} ({}): {}{} ({:.0f} ms)", ++*count, paint(globals, "bold", step.node), what,
                              paint(globals, severity_colour(probe::status_name(seen.status)),
                                    probe::status_name(seen.status)),
                              detail.empty() ? "" : " - " + detail, seen.elapsed_ms));
    if (globals.verbose > 0 && !seen.values.empty()) {
      note(globals, "    values: " + seen.values.dump());
    }
    for (const auto& [name, evidence] : step.collected) {
      note(globals, fmt::format("    collected {}: {}{}", name, probe::status_name(evidence.status),
                                evidence.message.empty() ? "" : " - " + evidence.message));
    }
    if (step.branch) {
      note(globals, fmt::format("    -> {} ({})", step.next, step.branch_label));
    }
  };
}

// Asks a question on the terminal; nullopt when there is none.
std::optional<std::string> ask_terminal(const Globals& globals, const defs::TreeNode& node) {
  if (!isatty(STDIN_FILENO) || !isatty(STDERR_FILENO)) {
    return std::nullopt;
  }
  const auto& choices = node.question.choices;
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::cerr << paint(globals, "bold", node.question.text) << " [" << fmt::format("{}", fmt::join(choices, "/"))
              << "] " << std::flush;
    std::string line;
    if (!std::getline(std::cin, line)) {
      return std::nullopt;
    }
    if (std::find(choices.begin(), choices.end(), line) != choices.end()) {
      return line;
    }
  }
  return std::nullopt;
}

std::string conclusion_text(const Globals& globals, const diagnose::Outcome& outcome, const std::string& tree) {
  std::string text;
  auto severity = std::string(probe::status_name(outcome.severity));
  if (outcome.end == diagnose::End::diagnosis) {
    const auto& d = outcome.diagnosis;
    text += fmt::format("tree {}: {} ({}, confidence {:.0f}%)\n", tree, paint(globals, "bold", d.cause),
                        paint(globals, severity_colour(severity), severity), d.confidence * 100);
    if (!d.explanation.empty()) {
      text += fmt::format("  {}\n", d.explanation);
    }
  } else {
    text += fmt::format("tree {}: {} at node {} ({})\n", tree,
                        outcome.end == diagnose::End::needs_input ? "needs input" : "inconclusive", outcome.node,
                        paint(globals, "dim", severity));
    text += fmt::format("  {}\n", outcome.reason);
  }
  std::vector<std::string> nodes;
  for (const auto& step : outcome.path) {
    nodes.push_back(step.node);
  }
  if (outcome.end == diagnose::End::diagnosis) {
    nodes.push_back(outcome.node);
  }
  text += fmt::format("  path: {}\n", fmt::join(nodes, " -> "));
  for (const auto& plan : outcome.diagnosis.plans) {
    std::string params;
    for (const auto& item : plan.params.items()) {
      params += fmt::format(" -p {}={}", item.key(), value_text(item.value()));
    }
    text += fmt::format("  recommended: has plan run {}{}\n", plan.name, params);
  }
  return text;
}

void run(Globals& globals, const RunFlags& flags) {
  auto format = output_format(globals, {report::Format::table, report::Format::json, report::Format::yaml});
  auto workspace = find_workspace(globals);
  auto definitions = load_definitions(globals, workspace);
  const auto& tree = find_tree(definitions, flags.tree);
  diagnose::WalkOptions options;
  for (const auto& item : flags.vars) {
    auto [name, value] = split_assignment(item, "-v");
    options.vars[name] = value;
  }
  for (const auto& item : flags.answers) {
    auto [name, value] = split_assignment(item, "--answer");
    options.answers[name] = value;
  }
  diagnose::check_answers(tree, options.answers);
  if (!flags.timeout.empty()) {
    try {
      options.timeout = defs::parse_duration(flags.timeout);
    } catch (const core::Error& e) {
      throw core::Error(core::ExitCode::usage, fmt::format("--timeout {}: {}", flags.timeout, e.what()), {},
                        "e.g. --timeout 30s");
    }
  }
  options.default_timeout = definitions.config.default_timeout;
  options.on_step = step_printer(globals);
  options.prompt = [&globals](const defs::TreeNode& node) { return ask_terminal(globals, node); };

  auto store = state::Store::open(state_path(globals, workspace, definitions.config.state));
  if (flags.event != 0) {
    state::EventRepository events(store);
    auto event = events.get(flags.event);
    if (!event) {
      throw state::unknown_event(flags.event);
    }
    options.event_id = flags.event;
    options.event = state::event_values(*event);
  }
  // Ctrl-C stops the running probe and ends the walk, recorded as interrupted.
  core::set_cooperative_interrupt(true);
  options.cancelled = [] { return core::interrupt_requested(); };
  auto recorded = diagnose::walk_recorded(definitions, tree, store, options, [&](std::int64_t run_id) {
    note(globals, fmt::format("diagnosing with tree {} (run {})", tree.header.name, run_id));
  });
  const auto& outcome = recorded.outcome;
  const auto& doc = recorded.doc;
  const int exit_code = recorded.exit_code;
  if (format == report::Format::table) {
    out(conclusion_text(globals, outcome, tree.header.name));
  } else {
    out(format == report::Format::json ? report::render_json(doc) : report::render_yaml(doc));
  }
  globals.exit_code = exit_code;
}

std::string node_text(const defs::TreeNode& node) {
  switch (node.kind) {
  case defs::NodeKind::probe: return node.probe ? node.probe->kind + " " + node.probe->fields.dump() : "probe";
  case defs::NodeKind::use: return "rule " + node.rule + (node.target.empty() ? "" : " on " + node.target);
  case defs::NodeKind::ask:
    return fmt::format("ask \"{}\" ({})", node.question.text, fmt::join(node.question.choices, ", "));
  case defs::NodeKind::expression: return "expr " + node.expression.text;
  case defs::NodeKind::diagnosis:
    return fmt::format("diagnosis: {} ({}, confidence {:.0f}%)", node.diagnosis.cause, node.diagnosis.severity,
                       node.diagnosis.confidence * 100);
  }
  return "";
}

nlohmann::json node_json(const defs::TreeNode& node) {
  nlohmann::json out{{"name", node.name}, {"kind", defs::node_kind_name(node.kind)}, {"check", node_text(node)}};
  if (!node.description.empty()) {
    out["description"] = node.description;
  }
  auto branches = nlohmann::json::array();
  for (const auto& branch : node.branches) {
    branches.push_back({{"when", diagnose::branch_label(branch)}, {"next", branch.next}});
  }
  out["branches"] = branches;
  if (node.leaf()) {
    auto plans = nlohmann::json::array();
    for (const auto& plan : node.diagnosis.plans) {
      plans.push_back({{"name", plan.name}, {"params", plan.params}});
    }
    out["diagnosis"] = {{"cause", node.diagnosis.cause},
                        {"severity", node.diagnosis.severity},
                        {"confidence", node.diagnosis.confidence},
                        {"explanation", node.diagnosis.explanation},
                        {"plans", plans}};
  }
  return out;
}

void show(Globals& globals, const std::string& name) {
  auto format = output_format(globals, {report::Format::table, report::Format::json, report::Format::yaml});
  auto workspace = find_workspace(globals);
  auto definitions = load_definitions(globals, workspace);
  const auto& tree = find_tree(definitions, name);
  if (format != report::Format::table) {
    auto nodes = nlohmann::json::array();
    for (const auto& node : tree.nodes) {
      nodes.push_back(node_json(node));
    }
    nlohmann::json doc{{"name", tree.header.name}, {"description", tree.header.description},
                       {"start", tree.start},      {"file", tree.header.where.str()},
                       {"timeout_ms", tree.timeout ? nlohmann::json(tree.timeout->count()) : nlohmann::json()},
                       {"nodes", nodes}};
    out(format == report::Format::json ? report::render_json(doc) : report::render_yaml(doc));
    return;
  }
  std::string text = fmt::format("tree {} ({})\n", tree.header.name, tree.header.where.str());
  if (!tree.header.description.empty()) {
    text += "  " + tree.header.description + "\n";
  }
  text += fmt::format("  start: {}{}\n", tree.start,
                      tree.timeout ? fmt::format(", timeout {} ms", tree.timeout->count()) : "");
  for (const auto& node : tree.nodes) {
    text += fmt::format("  {}: {}\n", paint(globals, "bold", node.name), node_text(node));
    for (const auto& branch : node.branches) {
      text += fmt::format("      {} -> {}\n", diagnose::branch_label(branch), branch.next);
    }
    for (const auto& plan : node.diagnosis.plans) {
      text += fmt::format("      recommends plan {}{}\n", plan.name, plan.params.empty() ? "" : " " + plan.params.dump());
    }
  }
  out(text);
}

// Returns the last walk of each tree, by tree; nothing when the state file
// cannot be opened (list works without one).
std::map<std::string, state::DiagnoseRun> last_runs(const Globals& globals, const core::Workspace& workspace,
                                                    const defs::Definitions& definitions) {
  std::map<std::string, state::DiagnoseRun> last;
  try {
    auto store = state::Store::open(state_path(globals, workspace, definitions.config.state));
    for (auto& run : state::DiagnoseRepository(store).list(std::nullopt, std::nullopt, 1000)) {
      last.emplace(run.tree, std::move(run));
    }
  } catch (const core::Error&) {
  }
  return last;
}

void list(Globals& globals) {
  auto format = output_format(globals, {report::Format::table, report::Format::json, report::Format::yaml,
                                        report::Format::markdown});
  auto workspace = find_workspace(globals);
  auto definitions = load_definitions(globals, workspace);
  auto last = last_runs(globals, workspace, definitions);
  auto rows = nlohmann::json::array();
  for (const auto& tree : definitions.trees) {
    std::size_t leaves = std::count_if(tree.nodes.begin(), tree.nodes.end(), [](const auto& n) { return n.leaf(); });
    nlohmann::json row{{"name", tree.header.name}, {"start", tree.start}, {"nodes", tree.nodes.size()},
                       {"diagnoses", leaves},      {"description", tree.header.description},
                       {"last_run", nullptr}};
    if (auto it = last.find(tree.header.name); it != last.end()) {
      row["last_run"] = {{"run_id", it->second.run_id}, {"at", it->second.started_at},
                         {"outcome", it->second.outcome}, {"severity", it->second.severity},
                         {"cause", it->second.cause ? nlohmann::json(*it->second.cause) : nlohmann::json()}};
    }
    rows.push_back(std::move(row));
  }
  if (format == report::Format::json || format == report::Format::yaml) {
    nlohmann::json doc{{"trees", rows}};
    out(format == report::Format::json ? report::render_json(doc) : report::render_yaml(doc));
    return;
  }
  report::Table table{{{"NAME"}, {"NODES", report::Align::right}, {"DIAGNOSES", report::Align::right}, {"LAST RUN"},
                       {"DESCRIPTION"}},
                      {}};
  for (const auto& row : rows) {
    std::string last_text = "-";
    if (!row["last_run"].is_null()) {
      const auto& l = row["last_run"];
      last_text = fmt::format("{} {}", l["at"].get<std::string>(),
                              l["cause"].is_null() ? l["outcome"].get<std::string>() : l["cause"].get<std::string>());
    }
    table.rows.push_back({row["name"].get<std::string>(), std::to_string(row["nodes"].get<std::size_t>()),
                          std::to_string(row["diagnoses"].get<std::size_t>()), last_text,
                          row["description"].get<std::string>()});
  }
  out(format == report::Format::markdown ? report::render_markdown(table) : report::render_text(table));
}

void history(Globals& globals, const std::string& tree, std::int64_t event, int limit) {
  auto format = output_format(globals, {report::Format::table, report::Format::json, report::Format::yaml,
                                        report::Format::ndjson, report::Format::markdown});
  auto workspace = find_workspace(globals);
  auto definitions = load_definitions(globals, workspace);
  auto store = state::Store::open(state_path(globals, workspace, definitions.config.state));
  state::RunRepository runs(store);
  auto list = nlohmann::json::array();
  for (const auto& walk : state::DiagnoseRepository(store).list(tree.empty() ? std::nullopt : std::optional(tree),
                                                                event > 0 ? std::optional(event) : std::nullopt,
                                                                limit)) {
    auto run = runs.get(walk.run_id);
    list.push_back({{"run_id", walk.run_id},
                    {"tree", walk.tree},
                    {"event_id", walk.event_id ? nlohmann::json(*walk.event_id) : nlohmann::json()},
                    {"outcome", walk.outcome},
                    {"node", walk.node},
                    {"severity", walk.severity},
                    {"cause", walk.cause ? nlohmann::json(*walk.cause) : nlohmann::json()},
                    {"started_at", walk.started_at},
                    {"user", run ? run->user.value_or("") : ""},
                    {"host", run ? run->host.value_or("") : ""},
                    {"git_commit", run && run->git_commit ? nlohmann::json(*run->git_commit) : nlohmann::json()}});
  }
  if (format == report::Format::json || format == report::Format::yaml) {
    nlohmann::json doc{{"runs", list}};
    out(format == report::Format::json ? report::render_json(doc) : report::render_yaml(doc));
    return;
  }
  if (format == report::Format::ndjson) {
    out(report::render_ndjson(list));
    return;
  }
  report::Table table{{{"RUN", report::Align::right}, {"TREE"}, {"SEVERITY"}, {"CONCLUSION"}, {"EVENT"}, {"STARTED"},
                       {"BY"}},
                      {}};
  for (const auto& row : list) {
    auto severity = row["severity"].get<std::string>();
    table.rows.push_back({std::to_string(row["run_id"].get<std::int64_t>()), row["tree"].get<std::string>(),
                          paint(globals, severity_colour(severity), severity),
                          row["cause"].is_null() ? row["outcome"].get<std::string>() + " at " + row["node"].get<std::string>()
                                                 : row["cause"].get<std::string>(),
                          row["event_id"].is_null() ? "-" : std::to_string(row["event_id"].get<std::int64_t>()),
                          row["started_at"].get<std::string>(),
                          row["user"].get<std::string>() + "@" + row["host"].get<std::string>()});
  }
  out(format == report::Format::markdown ? report::render_markdown(table) : report::render_text(table));
}

std::string graph_label(const defs::TreeNode& node) {
  switch (node.kind) {
  case defs::NodeKind::probe: return node.probe ? node.probe->kind + " probe" : "probe";
  case defs::NodeKind::use: return "rule " + node.rule;
  case defs::NodeKind::ask: return node.question.text;
  case defs::NodeKind::expression: return node.expression.text;
  case defs::NodeKind::diagnosis:
    return fmt::format("{}\n{}, {:.0f}%", node.diagnosis.cause, node.diagnosis.severity, node.diagnosis.confidence * 100);
  }
  return "";
}

std::string fill_colour(const std::string& severity) {
  return severity == "ok" ? "#b7e4b0" : severity == "warning" ? "#ffe08a" : severity == "critical" ? "#f4a3a3" : "#d9d9d9";
}

// Returns the SVG Graphviz draws of a DOT text; throws core::Error
// (unavailable) without Graphviz, (failure) when dot fails.
std::string to_svg(const std::string& dot_text) {
  util::ProcessSpec spec;
  spec.argv = {"dot", "-Tsvg"};
  spec.stdin_data = dot_text;
  spec.timeout = std::chrono::seconds(30);
  util::ProcessResult result;
  try {
    result = util::run_process(spec);
  } catch (const core::Error& e) {
    throw core::Error(core::ExitCode::unavailable, "cannot run Graphviz's dot", e.what(),
                      "install Graphviz (apt-get install graphviz), or use -o dot or -o mermaid");
  }
  if (result.exit_code == 127) {
    throw core::Error(core::ExitCode::unavailable, "Graphviz's dot is not installed", {},
                      "install Graphviz (apt-get install graphviz), or use -o dot or -o mermaid");
  }
  if (result.exit_code != 0) {
    throw core::Error(core::ExitCode::failure, "Graphviz's dot failed", result.err, "report this as a bug of has");
  }
  return result.out;
}

void graph(Globals& globals, const std::string& name, std::int64_t run_id) {
  auto workspace = find_workspace(globals);
  auto definitions = load_definitions(globals, workspace);
  const auto& tree = find_tree(definitions, name);
  auto format = globals.format.empty() ? std::string("mermaid") : globals.format;
  if (format != "mermaid" && format != "dot" && format != "svg") {
    throw core::Error(core::ExitCode::usage, fmt::format("a tree cannot be drawn as '{}'", format), {},
                      "use -o mermaid, -o dot or -o svg (with Graphviz installed)");
  }
  // The path of a past run: the nodes it visited and the branches it took
  // (by node and label: two branches may lead to the same node).
  std::set<std::string> visited;
  std::set<std::pair<std::string, std::string>> taken;
  if (run_id > 0) {
    auto store = state::Store::open(state_path(globals, workspace, definitions.config.state));
    auto walk = state::DiagnoseRepository(store).get(run_id);
    if (!walk || walk->tree != tree.header.name) {
      throw core::Error(core::ExitCode::usage, fmt::format("run {} is not a run of tree '{}'", run_id, name), {},
                        "see the runs with `has diagnose history " + name + "`");
    }
    for (const auto& step : nlohmann::json::parse(walk->path)) {
      visited.insert(step["node"].get<std::string>());
      if (!step["next"].get<std::string>().empty()) {
        taken.emplace(step["node"].get<std::string>(), step["branch"].get<std::string>());
      }
    }
    visited.insert(walk->node);
  }
  std::map<std::string, std::string> ids;
  for (std::size_t i = 0; i < tree.nodes.size(); ++i) {
    ids[tree.nodes[i].name] = fmt::format("n{}", i);
  }
  std::string text;
  if (format == "mermaid") {
    text = "flowchart TD\n";
    for (const auto& node : tree.nodes) {
      auto label = report::mermaid_label(node.name + "<br/>" + graph_label(node));
      for (auto pos = label.find('\n'); pos != std::string::npos; pos = label.find('\n')) {
        label.replace(pos, 1, "<br/>");
      }
      text += node.leaf() ? fmt::format("  {}([\"{}\"])\n", ids[node.name], label)
              : node.kind == defs::NodeKind::ask ? fmt::format("  {}{{\"{}\"}}\n", ids[node.name], label)
                                                 : fmt::format("  {}[\"{}\"]\n", ids[node.name], label);
    }
    std::size_t edge = 0;
    std::vector<std::size_t> highlighted;
    for (const auto& node : tree.nodes) {
      for (const auto& branch : node.branches) {
        text += fmt::format("  {} -->|\"{}\"| {}\n", ids[node.name], report::mermaid_label(diagnose::branch_label(branch)),
                            ids[branch.next]);
        if (taken.count({node.name, diagnose::branch_label(branch)}) != 0) {
          highlighted.push_back(edge);
        }
        ++edge;
      }
    }
    for (const auto& node : tree.nodes) {
      if (node.leaf()) {
        text += fmt::format("  style {} fill:{}\n", ids[node.name], fill_colour(node.diagnosis.severity));
      }
      if (visited.count(node.name) != 0) {
        text += fmt::format("  style {} stroke:#1f4fd6,stroke-width:4px{}\n", ids[node.name],
                            node.leaf() ? ",fill:" + fill_colour(node.diagnosis.severity) : "");
      }
    }
    for (auto index : highlighted) {
      text += fmt::format("  linkStyle {} stroke:#1f4fd6,stroke-width:4px\n", index);
    }
  } else {
    text = fmt::format("digraph \"{}\" {{\n  rankdir=TB;\n  node [shape=box, style=\"rounded,filled\", fillcolor=white];\n",
                       report::dot_label(tree.header.name));
    for (const auto& node : tree.nodes) {
      std::string attributes;
      if (node.leaf()) {
        attributes += fmt::format(", shape=ellipse, fillcolor=\"{}\"", fill_colour(node.diagnosis.severity));
      } else if (node.kind == defs::NodeKind::ask) {
        attributes += ", shape=diamond, style=filled";
      }
      if (visited.count(node.name) != 0) {
        attributes += ", color=\"#1f4fd6\", penwidth=3";
      }
      text += fmt::format("  \"{}\" [label=\"{}\"{}];\n", report::dot_label(node.name),
                          report::dot_label(node.name + "\n" + graph_label(node)), attributes);
    }
    for (const auto& node : tree.nodes) {
      for (const auto& branch : node.branches) {
        text += fmt::format("  \"{}\" -> \"{}\" [label=\"{}\"{}];\n", report::dot_label(node.name), report::dot_label(branch.next),
                            report::dot_label(diagnose::branch_label(branch)),
                            taken.count({node.name, diagnose::branch_label(branch)}) != 0 ? ", color=\"#1f4fd6\", penwidth=3" : "");
      }
    }
    text += "}\n";
  }
  if (format == "svg") {
    text = to_svg(text);
  }
  out(text);
}

void test(Globals& globals, const std::string& name) {
  auto format = output_format(globals, {report::Format::table, report::Format::json, report::Format::yaml});
  auto workspace = find_workspace(globals);
  auto definitions = load_definitions(globals, workspace);
  const auto& tree = find_tree(definitions, name);
  if (tree.cases.empty()) {
    throw core::Error(core::ExitCode::failure, fmt::format("tree '{}' has no test cases", name), {},
                      "add `tests:` to the tree: [{name, nodes: {NODE: {status, values}}, answers, vars, expect: NODE}]");
  }
  auto result = diagnose::test_tree(tree);
  auto cases = nlohmann::json::array();
  for (const auto& c : result.cases) {
    std::vector<std::string> path;
    for (const auto& step : c.outcome.path) {
      path.push_back(step.node);
    }
    cases.push_back({{"name", c.name},
                     {"passed", c.passed},
                     {"expected", c.expected},
                     {"got", c.outcome.node},
                     {"end", diagnose::end_name(c.outcome.end)},
                     {"reason", c.outcome.reason},
                     {"path", path}});
  }
  auto uncovered = nlohmann::json::array();
  for (const auto& u : result.uncovered) {
    uncovered.push_back({{"node", u.node}, {"branch", u.branch}});
  }
  nlohmann::json doc{{"tree", tree.header.name},
                     {"passed", result.passed()},
                     {"cases", cases},
                     {"coverage", {{"branches", result.branches}, {"covered", result.covered}, {"uncovered", uncovered}}}};
  if (format != report::Format::table) {
    out(format == report::Format::json ? report::render_json(doc) : report::render_yaml(doc));
  } else {
    std::string text;
    std::size_t failed = 0;
    for (const auto& c : cases) {
      bool passed = c["passed"].get<bool>();
      failed += passed ? 0 : 1;
      text += fmt::format("{} {}", passed ? paint(globals, "green", "PASS") : paint(globals, "red", "FAIL"),
                          c["name"].get<std::string>());
      if (!passed) {
        text += fmt::format(": expected {}, got {} ({})", c["expected"].get<std::string>(), c["got"].get<std::string>(),
                            c["end"].get<std::string>());
        if (!c["reason"].get<std::string>().empty()) {
          text += " - " + c["reason"].get<std::string>();
        }
      }
      text += "\n";
    }
    text += fmt::format("{} of {} cases passed; branches covered: {} of {}\n", cases.size() - failed, cases.size(),
                        result.covered, result.branches);
    for (const auto& u : result.uncovered) {
      text += fmt::format("  not covered: {} -> {}\n", u.node, u.branch);
    }
    out(text);
  }
  globals.exit_code = result.passed() ? 0 : 1;
}

} // namespace

void register_diagnose(CLI::App& command, Globals& globals) {
  command.description("Diagnose a fault with a decision tree (kind: Tree): each node runs a probe or a rule, "
                      "asks the operator or evaluates an expression, and its result picks the next node, until a "
                      "diagnosis with recommended plans. Every walk is stored in the state file. Exit status of "
                      "run: the diagnosis severity, 0 ok, 1 warning, 2 critical, 3 unknown (also inconclusive or "
                      "needing input). test: 0 when every case passes, 1 otherwise.");
  command.require_subcommand(1);

  static RunFlags run_flags;
  auto* run_cmd = command.add_subcommand("run", "walk a tree for real and print the diagnosis");
  run_cmd->add_option("TREE", run_flags.tree, "the tree")->required();
  run_cmd->add_option("--event", run_flags.event, "the risk event this walk is for (recorded with it)")->type_name("ID");
  run_cmd->add_option("-v,--var", run_flags.vars, "a variable the tree reads as vars.NAME (repeatable)")
    ->type_name("NAME=VALUE");
  run_cmd->add_option("--answer", run_flags.answers, "the answer to a question node (repeatable)")
    ->type_name("NODE=CHOICE");
  run_cmd->add_option("--timeout", run_flags.timeout, "for the whole walk (default: the tree's timeout)")
    ->type_name("DURATION");
  run_cmd->callback([&globals] { run(globals, run_flags); });

  command.add_subcommand("list", "the trees, with their last diagnosis")->callback([&globals] { list(globals); });

  static std::string show_name;
  auto* show_cmd = command.add_subcommand("show", "a tree's nodes, branches and diagnoses");
  show_cmd->add_option("TREE", show_name, "the tree")->required();
  show_cmd->callback([&globals] { show(globals, show_name); });

  static std::string history_tree;
  static std::int64_t history_event = 0;
  static int history_limit = 50;
  auto* history_cmd = command.add_subcommand("history", "past walks, newest first: conclusion, event, who");
  history_cmd->add_option("TREE", history_tree, "only this tree");
  history_cmd->add_option("--event", history_event, "only walks for this risk event")->type_name("ID");
  history_cmd->add_option("--limit,-n", history_limit, "at most this many walks (default 50)");
  history_cmd->callback([&globals] { history(globals, history_tree, history_event, history_limit); });

  static std::string test_name;
  auto* test_cmd = command.add_subcommand(
    "test", "replay the tree's test cases against recorded results (nothing real runs); branch coverage");
  test_cmd->add_option("TREE", test_name, "the tree")->required();
  test_cmd->callback([&globals] { test(globals, test_name); });

  static std::string graph_name;
  static std::int64_t graph_run = 0;
  auto* graph_cmd = command.add_subcommand("graph", "draw a tree: -o mermaid (default), -o dot, or -o svg with Graphviz");
  graph_cmd->add_option("TREE", graph_name, "the tree")->required();
  graph_cmd->add_option("--run", graph_run, "highlight the path this past walk took")->type_name("RUN");
  graph_cmd->callback([&globals] { graph(globals, graph_name, graph_run); });
}

} // namespace has::cmd
