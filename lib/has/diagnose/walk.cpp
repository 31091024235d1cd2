#include <has/diagnose/walk.hpp>

#include <has/core/error.hpp>
#include <has/core/redact.hpp>
#include <has/defs/env.hpp>
#include <has/defs/template.hpp>
#include <has/defs/units.hpp>
#include <has/expr/expr.hpp>
#include <has/inspect/evaluate.hpp>
#include <has/inspect/expand.hpp>
#include <has/probe/runner.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace has::diagnose {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

expr::Source source_of(const defs::Location& where) {
  return {where.file, where.line, where.column};
}

// Returns value with ${env:} and then ${{ }} resolved in every string (see
// defs::resolve_template: a probe's output inserted here is not scanned again).
nlohmann::json resolve(expr::Engine& engine, const nlohmann::json& value, const nlohmann::json& scope,
                       const defs::Location& where) {
  return defs::resolve_template(engine, value, scope, where);
}

// Runs one prepared check and judges it.
Observation run_check(expr::Engine& engine, const inspect::Check& check) {
  Observation seen;
  if (check.error) {
    seen.error = *check.error;
    seen.message = *check.error;
    return seen;
  }
  probe::Result result;
  try {
    std::vector<probe::Task> tasks;
    tasks.push_back(probe::make_task(check.spec));
    probe::run_tasks(std::move(tasks), {}, [&](std::size_t, probe::Result done) { result = std::move(done); });
  } catch (const core::Error& e) {
    seen.error = core::redact(e.what());
    seen.message = *seen.error;
    return seen;
  }
  auto verdict = inspect::evaluate(engine, check, result, false);
  seen.status = verdict.status;
  seen.value = std::string(probe::status_name(verdict.status));
  seen.values = result.values;
  seen.message = verdict.message.empty() ? result.message : verdict.message;
  seen.evidence = result.evidence;
  seen.elapsed_ms = result.elapsed_ms;
  if (result.values.contains("exit_code") && result.values["exit_code"].is_number_integer()) {
    seen.exit_code = result.values["exit_code"].get<int>();
  }
  if (verdict.status == probe::Status::unknown) {
    seen.error = seen.message.empty() ? "the probe could not observe" : seen.message;
  }
  return seen;
}

class RealObserver final : public Observer {
public:
  explicit RealObserver(const defs::Definitions& definitions) : m_definitions(definitions) {}

  Observation observe(const defs::TreeNode& node, const nlohmann::json& scope, milliseconds timeout) override {
    if (node.kind == defs::NodeKind::use) {
      return use_rule(node, timeout);
    }
    return run_probe(*node.probe, scope, timeout);
  }

  Observation collect(const defs::TreeNode&, const std::string&, const defs::ProbeSpec& probe,
                      const nlohmann::json& scope, milliseconds timeout) override {
    return run_probe(probe, scope, timeout);
  }

private:
  Observation run_probe(const defs::ProbeSpec& probe, const nlohmann::json& scope, milliseconds timeout) {
    inspect::Check check;
    check.rule = "probe";
    check.target = "local";
    check.spec.kind = probe.kind;
    check.spec.timeout = timeout;
    try {
      check.spec.fields = resolve(m_engine, probe.fields, scope, probe.where);
    } catch (const core::Error& e) {
      check.error = core::redact(e.what());
    }
    auto seen = run_check(m_engine, check);
    seen.checked = fmt::format("{} probe", probe.kind);
    return seen;
  }

  Observation use_rule(const defs::TreeNode& node, milliseconds timeout) {
    Observation seen;
    seen.checked = fmt::format("rule {}{}", node.rule, node.target.empty() ? "" : " on " + node.target);
    inspect::Selection selection;
    selection.rules = {node.rule};
    if (!node.target.empty()) {
      selection.targets = {node.target};
    }
    selection.timeout = timeout;
    std::vector<inspect::Check> checks;
    try {
      checks = inspect::expand(m_definitions, selection);
    } catch (const core::Error& e) {
      seen.error = e.what();
      seen.message = e.what();
      return seen;
    }
    if (checks.size() != 1) {
      seen.error = checks.empty() ? fmt::format("rule '{}' has no target to check", node.rule)
                                  : fmt::format("rule '{}' runs on {} targets: name one with 'target:'", node.rule,
                                                checks.size());
      seen.message = *seen.error;
      return seen;
    }
    auto checked = seen.checked;
    seen = run_check(m_engine, checks.front());
    seen.checked = checked;
    return seen;
  }

  const defs::Definitions& m_definitions;
  expr::Engine m_engine;
};

} // namespace

std::string branch_label(const defs::Branch& branch) {
  switch (branch.test) {
  case defs::BranchTest::status: return "status " + branch.status;
  case defs::BranchTest::condition: return "if " + branch.condition.text;
  case defs::BranchTest::equals: return "equals " + (branch.equals.is_string() ? branch.equals.get<std::string>() : branch.equals.dump());
  case defs::BranchTest::otherwise: return "else";
  }
  return "else";
}

namespace {

bool equal(const nlohmann::json& value, const nlohmann::json& wanted) {
  if (value == wanted) {
    return true;
  }
  auto text = [](const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); };
  return text(value) == text(wanted);
}

// What branch expressions of a node see: the node's values at the top (an
// http probe's `status` is the HTTP status, as in rules), its verdict and
// value, and vars, nodes (each earlier node's status, value and values) and
// event.
nlohmann::json node_scope(const nlohmann::json& base, const Observation& seen) {
  auto scope = seen.values.is_object() ? seen.values : nlohmann::json::object();
  scope["verdict"] = std::string(probe::status_name(seen.status));
  if (!scope.contains("value")) {
    scope["value"] = seen.value;
  }
  for (const auto& item : base.items()) {
    scope[item.key()] = item.value();
  }
  return scope;
}

} // namespace

std::unique_ptr<Observer> real_observer(const defs::Definitions& definitions) {
  return std::make_unique<RealObserver>(definitions);
}

std::string_view end_name(End end) {
  switch (end) {
  case End::diagnosis: return "diagnosis";
  case End::inconclusive: return "inconclusive";
  case End::needs_input: return "needs_input";
  }
  return "inconclusive";
}

void check_answers(const defs::Tree& tree, const std::map<std::string, std::string>& answers) {
  for (const auto& [name, answer] : answers) {
    const auto* node = tree.find_node(name);
    if (node == nullptr || node->kind != defs::NodeKind::ask) {
      throw core::Error(core::ExitCode::usage, fmt::format("--answer {}: tree '{}' has no question node '{}'", name,
                                                           tree.header.name, name),
                        {}, "see the tree's nodes with `has diagnose show " + tree.header.name + "`");
    }
    const auto& choices = node->question.choices;
    if (std::find(choices.begin(), choices.end(), answer) == choices.end()) {
      throw core::Error(core::ExitCode::usage, fmt::format("--answer {}={}: not one of the choices", name, answer),
                        {}, fmt::format("answer one of: {}", fmt::join(choices, ", ")));
    }
  }
}

Outcome walk(const defs::Tree& tree, Observer& observer, const WalkOptions& options) {
  check_answers(tree, options.answers);
  expr::Engine engine;
  Outcome outcome;
  const auto started = Clock::now();
  const auto budget = options.timeout ? options.timeout : tree.timeout;
  auto scope = nlohmann::json{{"vars", options.vars}, {"nodes", nlohmann::json::object()},
                              {"event", !options.event.is_null() ? options.event
                                        : options.event_id   ? nlohmann::json{{"id", *options.event_id}}
                                                             : nlohmann::json()}};
  auto stop = [&](End end, const std::string& node, std::string reason) {
    outcome.end = end;
    outcome.node = node;
    outcome.reason = std::move(reason);
    outcome.severity = probe::Status::unknown;
    return outcome;
  };
  const defs::TreeNode* node = tree.find_node(tree.start);
  for (std::size_t visited = 0; node != nullptr; ++visited) {
    if (visited > tree.nodes.size()) {
      return stop(End::inconclusive, node->name, "the tree loops"); // validation prevents it
    }
    if (node->leaf()) {
      outcome.end = End::diagnosis;
      outcome.node = node->name;
      outcome.diagnosis = node->diagnosis;
      outcome.severity = probe::parse_status(node->diagnosis.severity).value_or(probe::Status::unknown);
      try {
        outcome.diagnosis.explanation = engine.interpolate(node->diagnosis.explanation, scope,
                                                           source_of(node->diagnosis.where));
        for (auto& plan : outcome.diagnosis.plans) {
          plan.params = resolve(engine, plan.params, scope, plan.where);
        }
      } catch (const core::Error& e) {
        // A plan whose parameters could not be filled in is not recommended:
        // nobody, and no self-healing, should run it with `${{ }}` as a value.
        outcome.diagnosis.explanation += fmt::format(" (could not fill in: {}; no plan is recommended)", e.what());
        outcome.diagnosis.plans.clear();
      }
      return outcome;
    }
    auto timeout = node->timeout.value_or(options.default_timeout);
    if (budget) {
      auto left = *budget - std::chrono::duration_cast<milliseconds>(Clock::now() - started);
      if (left.count() <= 0) {
        return stop(End::inconclusive, node->name,
                    fmt::format("the tree's timeout of {} ms ran out before node '{}'", budget->count(), node->name));
      }
      timeout = std::min(timeout, left);
    }
    Step step;
    step.node = node->name;
    step.kind = node->kind;
    auto& seen = step.seen;
    const auto node_started = Clock::now();
    switch (node->kind) {
    case defs::NodeKind::probe:
    case defs::NodeKind::use:
      seen = observer.observe(*node, scope, timeout);
      break;
    case defs::NodeKind::ask: {
      seen.checked = "asked: " + node->question.text;
      std::optional<std::string> answer;
      if (auto it = options.answers.find(node->name); it != options.answers.end()) {
        answer = it->second;
      } else if (options.prompt) {
        answer = options.prompt(*node);
      }
      if (!answer) {
        outcome.choices = node->question.choices;
        return stop(End::needs_input, node->name,
                    fmt::format("node '{}' asks \"{}\" ({}): answer with --answer {}=CHOICE", node->name,
                                node->question.text, fmt::join(node->question.choices, ", "), node->name));
      }
      seen.status = probe::Status::ok;
      seen.value = *answer;
      seen.message = "answered " + *answer;
      break;
    }
    case defs::NodeKind::expression:
      seen.checked = "expr " + node->expression.text;
      try {
        seen.value = engine.evaluate(node->expression.text, scope, source_of(node->expression.where));
        seen.status = probe::Status::ok;
        seen.message = "= " + (seen.value.is_string() ? seen.value.get<std::string>() : seen.value.dump());
      } catch (const core::Error& e) {
        seen.error = e.what();
        seen.message = e.what();
      }
      break;
    case defs::NodeKind::diagnosis: break;
    }
    for (const auto& [name, probe] : node->collect) {
      step.collected[name] = observer.collect(*node, name, probe, scope, timeout);
    }
    if (options.cancelled && options.cancelled()) {
      outcome.path.push_back(step);
      outcome.interrupted = true;
      return stop(End::inconclusive, node->name, fmt::format("interrupted at node '{}'", node->name));
    }
    if (seen.elapsed_ms == 0) {
      seen.elapsed_ms = std::chrono::duration<double, std::milli>(Clock::now() - node_started).count();
    }
    // Pick the branch.
    auto here = node_scope(scope, seen);
    std::optional<std::string> failure;
    for (std::size_t i = 0; i < node->branches.size() && !step.branch && !failure; ++i) {
      const auto& branch = node->branches[i];
      bool taken = false;
      if (seen.error) {
        taken = branch.test == defs::BranchTest::status && branch.status == "unknown";
      } else {
        switch (branch.test) {
        case defs::BranchTest::status: taken = probe::status_name(seen.status) == branch.status; break;
        case defs::BranchTest::equals: taken = equal(seen.value, branch.equals); break;
        case defs::BranchTest::otherwise: taken = true; break;
        case defs::BranchTest::condition:
          try {
            taken = engine.condition(branch.condition.text, here, source_of(branch.condition.where));
          } catch (const core::Error& e) {
            failure = e.what();
          }
          break;
        }
      }
      if (taken) {
        step.branch = i;
        step.branch_label = branch_label(branch);
        step.next = branch.next;
      }
    }
    auto record = nlohmann::json{{"status", probe::status_name(seen.status)}, {"value", seen.value},
                                 {"values", seen.values}};
    scope["nodes"][node->name] = record;
    for (const auto& [name, evidence] : step.collected) {
      scope["nodes"][node->name]["collected"][name] = evidence.values;
    }
    outcome.path.push_back(step);
    if (options.on_step) {
      options.on_step(step);
    }
    if (!step.branch) {
      std::string reason = seen.error ? fmt::format("node '{}' could not check: {}", node->name, *seen.error)
                           : failure  ? fmt::format("node '{}': a branch could not be decided: {}", node->name, *failure)
                                      : fmt::format("no branch of node '{}' matches (status {}, value {})", node->name,
                                                    probe::status_name(seen.status), seen.value.dump());
      return stop(End::inconclusive, node->name, reason);
    }
    node = tree.find_node(step.next);
  }
  return stop(End::inconclusive, tree.start, "the tree has no such node"); // validation prevents it
}

nlohmann::json to_json(const Observation& seen) {
  auto out = nlohmann::json{{"status", probe::status_name(seen.status)},
                            {"value", seen.value},
                            {"checked", seen.checked},
                            {"message", seen.message},
                            {"values", seen.values},
                            {"exit_code", seen.exit_code ? nlohmann::json(*seen.exit_code) : nlohmann::json()},
                            {"duration_ms", seen.elapsed_ms}};
  if (!seen.evidence.empty()) {
    out["evidence"] = seen.evidence;
  }
  if (seen.error) {
    out["error"] = *seen.error;
  }
  return out;
}

nlohmann::json to_json(const Outcome& outcome) {
  auto plans = nlohmann::json::array();
  for (const auto& plan : outcome.diagnosis.plans) {
    plans.push_back({{"name", plan.name}, {"params", plan.params}});
  }
  nlohmann::json conclusion{{"end", end_name(outcome.end)}, {"node", outcome.node},
                            {"severity", probe::status_name(outcome.severity)}};
  if (outcome.end == End::diagnosis) {
    conclusion["cause"] = outcome.diagnosis.cause;
    conclusion["confidence"] = outcome.diagnosis.confidence;
    conclusion["explanation"] = outcome.diagnosis.explanation;
    conclusion["plans"] = plans;
  } else {
    conclusion["reason"] = outcome.reason;
    if (!outcome.choices.empty()) {
      conclusion["choices"] = outcome.choices;
    }
  }
  auto path = nlohmann::json::array();
  for (const auto& step : outcome.path) {
    nlohmann::json item{{"node", step.node}, {"kind", defs::node_kind_name(step.kind)}, {"evidence", to_json(step.seen)},
                        {"branch", step.branch_label}, {"next", step.next}};
    if (!step.collected.empty()) {
      for (const auto& [name, seen] : step.collected) {
        item["collected"][name] = to_json(seen);
      }
    }
    path.push_back(std::move(item));
  }
  return {{"conclusion", conclusion}, {"path", path}};
}

} // namespace has::diagnose
