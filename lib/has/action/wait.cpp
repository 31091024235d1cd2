// wait: polls a rule of the workspace, a probe, or a condition over the
// run's values until it passes; the step's timeout bounds it.

#include <has/action/kinds.hpp>
#include <has/action/support.hpp>
#include <has/core/error.hpp>
#include <has/defs/units.hpp>
#include <has/expr/expr.hpp>
#include <has/inspect/evaluate.hpp>
#include <has/inspect/expand.hpp>
#include <has/probe/runner.hpp>

#include <fmt/format.h>

#include <thread>

namespace has::action {

namespace {

using Clock = std::chrono::steady_clock;

std::chrono::milliseconds interval_of(const Spec& spec) {
  auto text = text_field(spec, "interval", false);
  return text.empty() ? std::chrono::milliseconds(2000) : defs::parse_duration(text);
}

// One look: whether it passes, and a line saying what was seen.
struct Look {
  bool passed = false;
  std::string message;
  nlohmann::json values = nlohmann::json::object();
};

std::vector<inspect::Check> probe_checks(const Spec& spec, const Context& context) {
  if (spec.fields.contains("rule")) {
    if (context.definitions == nullptr) {
      throw core::Error(core::ExitCode::failure, "wait action: no workspace to find the rule in");
    }
    inspect::Selection selection;
    selection.rules = {text_field(spec, "rule")};
    if (auto target = text_field(spec, "target", false); !target.empty()) {
      selection.targets = {target};
    }
    return inspect::expand(*context.definitions, selection);
  }
  const auto& probe = spec.fields["probe"];
  if (!probe.is_object() || probe.size() != 1) {
    throw core::Error(core::ExitCode::bad_definitions, "wait action: 'probe' must have exactly one kind, "
                                                       "e.g. probe: {http: {url: ...}}");
  }
  inspect::Check check;
  check.rule = "wait";
  check.target = "local";
  check.spec.kind = probe.begin().key();
  check.spec.fields = probe.begin().value();
  auto timeout = check.spec.fields.value("timeout", std::string());
  check.spec.timeout = timeout.empty() ? std::chrono::milliseconds(10'000) : defs::parse_duration(timeout);
  for (const auto& text : list_field(spec, "expect")) {
    check.expect.push_back({text, {}});
  }
  return {check};
}

Look look_once(const Spec& spec, const Context& context, expr::Engine& engine) {
  Look look;
  if (spec.fields.contains("condition")) {
    auto condition = text_field(spec, "condition");
    look.passed = engine.condition(condition, context.values);
    look.message = fmt::format("{} is {}", condition, look.passed ? "true" : "false");
    return look;
  }
  auto checks = probe_checks(spec, context);
  if (checks.empty()) {
    throw core::Error(core::ExitCode::bad_definitions, "wait action: the rule has no target to check");
  }
  std::vector<probe::Task> tasks;
  std::vector<probe::Result> results(checks.size());
  for (const auto& check : checks) {
    if (check.error) {
      throw core::Error(core::ExitCode::failure, fmt::format("wait action: {}", *check.error));
    }
    tasks.push_back(probe::make_task(check.spec));
  }
  probe::run_tasks(std::move(tasks), {}, [&](std::size_t index, probe::Result result) {
    results[index] = std::move(result);
  });
  look.passed = true;
  std::vector<std::string> lines;
  for (std::size_t i = 0; i < checks.size(); ++i) {
    auto verdict = inspect::evaluate(engine, checks[i], results[i], false);
    look.passed = look.passed && verdict.status == probe::Status::ok;
    lines.push_back(fmt::format("{}{}: {}{}", checks[i].rule, checks.size() > 1 ? "@" + checks[i].target : "",
                                probe::status_name(verdict.status),
                                verdict.message.empty() ? "" : " (" + verdict.message + ")"));
    look.values[checks[i].target] = results[i].values;
  }
  look.message = fmt::format("{}", fmt::join(lines, "; "));
  if (checks.size() == 1) {
    look.values = results[0].values;
  }
  return look;
}

std::string describe(const Spec& spec, const Context&) {
  auto every = interval_of(spec);
  std::string what;
  if (spec.fields.contains("condition")) {
    what = "condition " + text_field(spec, "condition");
  } else if (spec.fields.contains("rule")) {
    auto target = text_field(spec, "target", false);
    what = "rule " + text_field(spec, "rule") + (target.empty() ? "" : " on " + target);
  } else {
    what = "probe " + spec.fields["probe"].dump();
  }
  return fmt::format("wait until {} passes (every {} ms{})", what, every.count(),
                     spec.timeout.count() > 0 ? fmt::format(", up to {} ms", spec.timeout.count()) : "");
}

Outcome run(const Spec& spec, const Context& context) {
  const auto every = interval_of(spec);
  const auto start = Clock::now();
  expr::Engine engine;
  Outcome outcome;
  int polls = 0;
  while (true) {
    ++polls;
    Look look;
    try {
      look = look_once(spec, context, engine);
    } catch (const core::Error& e) {
      if (e.code() == core::ExitCode::bad_definitions || e.code() == core::ExitCode::usage) {
        throw;
      }
      look.message = e.what();
    }
    outcome.outputs = {{"polls", polls}, {"values", look.values}, {"last", look.message}};
    if (look.passed) {
      outcome.ok = true;
      outcome.message = fmt::format("passed after {} poll{}: {}", polls, polls == 1 ? "" : "s", look.message);
      return outcome;
    }
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    if (spec.timeout.count() > 0 && elapsed + every > spec.timeout) {
      outcome.message = fmt::format("still failing after {} poll{} ({} ms): {}", polls, polls == 1 ? "" : "s",
                                    elapsed.count(), look.message);
      return outcome;
    }
    for (auto slept = std::chrono::milliseconds(0); slept < every; slept += std::chrono::milliseconds(100)) {
      if (context.cancelled && context.cancelled()) {
        outcome.message = "cancelled while waiting: " + look.message;
        return outcome;
      }
      std::this_thread::sleep_for(std::min(std::chrono::milliseconds(100), every - slept));
    }
  }
}

} // namespace

const Kind k_wait{"wait", describe, run, Flow::work, nullptr, false, std::chrono::minutes(10), true};

} // namespace has::action
