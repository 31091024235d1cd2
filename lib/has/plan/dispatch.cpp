// The steps of a run: deciding each step whose needs are met, starting its
// units (on a worker thread, or on the scheduler's own when nothing else can
// run), the attempts of a worker, child runs of plan and use steps, taking
// each unit's end back into the journal and the schedule, and gates.

#include <has/plan/runner.hpp>

#include <has/core/error.hpp>
#include <has/core/provenance.hpp>
#include <has/core/redact.hpp>
#include <has/defs/template.hpp>
#include <has/plan/journal.hpp>
#include <has/plan/params.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace has::plan {

using core::Error;
using core::ExitCode;
using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr milliseconds k_max_backoff = std::chrono::minutes(5);
constexpr int k_max_depth = 8;

bool expectations_hold(expr::Engine& engine, const defs::Step& step, const nlohmann::json& values,
                       const nlohmann::json& outputs, std::string& message) {
  auto scope = values;
  for (const auto& item : outputs.items()) {
    scope[item.key()] = item.value();
  }
  for (const auto& expectation : step.expect) {
    expr::Source source{expectation.where.file, expectation.where.line, expectation.where.column};
    try {
      if (!engine.condition(expectation.text, scope, source)) {
        message = fmt::format("expectation failed: {}", expectation.text);
        return false;
      }
    } catch (const Error& e) {
      message = fmt::format("expectation could not be judged: {}", e.what());
      return false;
    }
  }
  return true;
}

} // namespace

// Decides each step whose needs are met: skipped by `when`, failed before
// it starts, or started with its units.
void Runner::schedule() {
  for (const auto* step : m_schedule.ready()) {
    start_ready(*step);
  }
}

void Runner::start_ready(const defs::Step& step) {
  if (step.when) {
    bool holds = false;
    try {
      expr::Source source{step.when->where.file, step.when->where.line, step.when->where.column};
      holds = m_engine.condition(step.when->text, m_values, source);
    } catch (const Error& e) {
      fail_step(step, step.id, fmt::format("when: {}", e.what()));
      return;
    }
    if (!holds) {
      m_schedule.settle(step, true);
      m_values["steps"][step.id] = step_values(nlohmann::json::object(), "skipped");
      auto record = make_record(m_run_id, step.id, "do", step.action.kind, "skipped");
      record.message = fmt::format("when: {} is false", step.when->text);
      m_journal.step_finished(record);
      emit({Event::Type::skipped, 0, 0, step.id, step.action.kind, "skipped", *record.message, {}, 0, 0});
      return;
    }
  }
  if (!step.repeated()) {
    m_schedule.activate(step, {Unit{step.id, std::nullopt}});
    return;
  }
  nlohmann::json items;
  try {
    items = for_each_items(m_definitions, m_engine, step, m_values);
  } catch (const Error& e) {
    fail_step(step, step.id, fmt::format("for_each: {}", e.what()));
    return;
  }
  std::vector<Unit> units;
  for (std::size_t i = 0; i < items.size(); ++i) {
    units.push_back({fmt::format("{}[{}]", step.id, item_key(items[i], i)), items[i]});
  }
  int allowed = 0;
  if (step.max_fail) {
    allowed = step.max_fail->percent
                ? static_cast<int>(step.max_fail->value * static_cast<double>(items.size()) / 100.0)
                : static_cast<int>(step.max_fail->value);
  }
  auto record = make_record(m_run_id, step.id, "do", step.action.kind, "running", step.idempotent, 1);
  record.detail = fmt::format("for_each over {} item{}", items.size(), items.size() == 1 ? "" : "s");
  m_journal.step_started(record);
  m_schedule.activate(step, std::move(units), allowed);
  if (items.empty()) {
    finish_repeated(step, m_schedule.finish_empty(step));
  }
}

void Runner::launch() {
  while (!m_stopping) {
    auto next = m_schedule.next();
    if (!next) {
      return;
    }
    if (next->done_before) {
      nlohmann::json values{{"item", next->unit.item ? *next->unit.item : nullptr}, {"status", "succeeded"}};
      if (auto tally = m_schedule.finished(*next->step, next->unit, true, values, m_stopping)) {
        finish_repeated(*next->step, *tally);
      }
      continue;
    }
    start_unit(*next);
  }
}

action::Context Runner::context_for(const defs::Step& step, const std::string& key) {
  action::Context context;
  context.definitions = &m_definitions;
  context.runtime_dir = m_runtime_dir;
  context.plan = m_plan.header.name;
  context.run_id = m_run_id;
  context.cancelled = [this] { return cancelled(); };
  // Gates are answered on this thread, which owns the journal.
  context.approve = [this, key](const std::string& message) {
    std::function<action::Answer(const std::string&)> ask;
    if (m_options.ask) {
      ask = [this, key](const std::string& text) {
        switch (m_options.ask(key, text)) {
        case Answer::approve: return action::Answer{action::Answer::Verdict::approved,
                                                    core::provenance(m_definitions.root).user};
        case Answer::reject: return action::Answer{action::Answer::Verdict::rejected, {}};
        case Answer::later: break;
        }
        return action::Answer{};
      };
    }
    return answer_gate(m_journal.approved(m_run_id, key), m_options.yes, ask, message);
  };
  const auto& kind = kind_of(step.action.kind);
  context.run_child = [this, key, take = kind.child_takes_lock, timeout = step.timeout](
                        const defs::Plan& callee, const nlohmann::json& given) {
    return run_child(callee, given, take, key, timeout.value_or(milliseconds(0)));
  };
  return context;
}

void Runner::start_unit(const Launch& launch) {
  const auto& step = *launch.step;
  const auto& key = launch.unit.key;
  // The item is bound while the step's fields are resolved.
  struct Bind {
    nlohmann::json& values;
    ~Bind() { values.erase("item"); }
  } bind{m_values};
  if (launch.unit.item) {
    m_values["item"] = *launch.unit.item;
  }
  action::Spec spec;
  spec.kind = step.action.kind;
  spec.kill_grace = step.kill_grace.value_or(k_default_kill_grace);
  std::string detail;
  const action::Kind* kind = nullptr;
  action::Context context;
  try {
    kind = &kind_of(step.action.kind);
    auto fallback = kind->flow == action::Flow::gate && m_definitions.config.gate_timeout
                      ? *m_definitions.config.gate_timeout
                      : kind->default_timeout;
    spec.timeout = step.timeout.value_or(fallback);
    if (m_deadline) {
      auto left = std::max(milliseconds(1),
                           std::chrono::duration_cast<milliseconds>(*m_deadline - SteadyClock::now()));
      spec.timeout = spec.timeout.count() > 0 ? std::min(spec.timeout, left) : left;
    }
    context = context_for(step, key);
    spec.fields = defs::resolve_template(m_engine, step.action.fields, m_values, step.action.where);
    detail = kind->describe(spec, context);
  } catch (const Error& e) {
    m_journal.step_started(make_record(m_run_id, key, "do", step.action.kind, "running", step.idempotent, 1));
    Message failed;
    failed.launch = launch;
    failed.message = error_text(e);
    receive(std::move(failed));
    return;
  }
  auto record = make_record(m_run_id, key, "do", step.action.kind, "running", step.idempotent, 1);
  record.detail = core::redact(detail);
  m_journal.step_started(record);
  emit({Event::Type::started, 0, 0, key, step.action.kind, "running", {}, detail, 1, 0});
  if (launch.unit.item) {
    m_unit_items[key] = *launch.unit.item;
  }
  if (kind->flow == action::Flow::gate) {
    auto outcome = kind->run(spec, context);
    if (outcome.pending) {
      open_gate(launch, outcome, spec.timeout);
      return;
    }
    Message answered;
    answered.launch = launch;
    answered.ok = outcome.ok;
    answered.message = outcome.message;
    answered.outputs = std::move(outcome.outputs);
    receive(std::move(answered));
    return;
  }
  nlohmann::json values;
  if (kind->reads_values || !step.expect.empty()) {
    values = m_values;
  }
  context.values = values;
  if (m_schedule.alone()) {
    // Nothing else can run meanwhile: run it here, as a shell script would,
    // without a thread and its hand-offs (the watchdog still sees aborts).
    work(launch, values, spec, std::move(context));
    return;
  }
  m_workers.emplace(key, std::thread([this, launch, values = std::move(values), spec = std::move(spec),
                                      context = std::move(context)]() mutable {
    work(launch, values, spec, std::move(context));
  }));
}

// A worker: attempts with backoff, expectations, one message per retry and
// one at the end.
void Runner::work(const Launch& launch, const nlohmann::json& values, const action::Spec& spec,
                  action::Context context) {
  const auto& step = *launch.step;
  Message result;
  result.launch = launch;
  std::optional<expr::Engine> engine;
  auto delay = step.retry_delay;
  for (int attempt = 1; attempt <= step.retries + 1; ++attempt) {
    result.attempt = attempt;
    if (attempt > 1) {
      Message retrying;
      retrying.type = Message::Type::retrying;
      retrying.launch = launch;
      retrying.attempt = attempt;
      retrying.message = result.message;
      post(std::move(retrying));
      for (auto slept = milliseconds(0); slept < delay && !cancelled(); slept += milliseconds(50)) {
        std::this_thread::sleep_for(std::min(milliseconds(50), delay - slept));
      }
      delay = std::min(delay * 2, k_max_backoff);
      if (cancelled()) {
        break;
      }
    }
    const auto started = SteadyClock::now();
    bool fatal = false;
    try {
      auto outcome = kind_of(spec.kind).run(spec, context);
      result.ok = outcome.ok;
      result.pending = outcome.pending;
      result.message = outcome.message;
      result.exit_code = outcome.exit_code;
      result.outputs = std::move(outcome.outputs);
    } catch (const Error& e) {
      result.ok = false;
      result.message = error_text(e);
      fatal = e.code() == ExitCode::bad_definitions || e.code() == ExitCode::unavailable ||
              e.code() == ExitCode::usage || e.code() == ExitCode::tempfail;
    } catch (const std::exception& e) {
      result.ok = false;
      result.message = e.what();
    }
    result.elapsed_ms = std::chrono::duration<double, std::milli>(SteadyClock::now() - started).count();
    if (result.ok && !step.expect.empty()) {
      if (!engine) {
        engine.emplace();
      }
      std::string why;
      if (!expectations_hold(*engine, step, values, result.outputs, why)) {
        result.ok = false;
        result.message = why + (result.message.empty() ? "" : " (" + result.message + ")");
      }
    }
    if (result.ok || result.pending || fatal || cancelled()) {
      break;
    }
  }
  result.type = Message::Type::finished;
  post(std::move(result));
}

// Runs a plan or an Action template as a child run, on the calling thread
// with a Store handle of its own.
action::Outcome Runner::run_child(const defs::Plan& callee, const nlohmann::json& given, bool take,
                                  const std::string& key, milliseconds timeout) {
  if (m_depth + 1 > k_max_depth) {
    throw Error(ExitCode::failure, fmt::format("plans nest deeper than {} levels", k_max_depth));
  }
  auto params = params_from_json(callee, given);
  Options options = m_options;
  options.retry_steps.clear();
  options.skip_steps.clear();
  auto store = state::Store::open(m_state_file);
  Runner child(m_definitions, store, m_state_file, callee, params, options, m_depth + 1,
               [this] { return cancelled(); });
  child.start(m_run_id, key, take);
  if (timeout.count() > 0) {
    child.limit(timeout);
  }
  child.execute();
  auto report = child.finish(child.final_state(), child.final_reason());
  action::Outcome outcome;
  outcome.ok = report.state == "succeeded";
  outcome.message = fmt::format("run {} of {} '{}' {}{}", report.run_id, take ? "plan" : "Action",
                                callee.header.name, report.state, report.reason.empty() ? "" : ": " + report.reason);
  outcome.outputs = {{"run_id", report.run_id}, {"state", report.state}, {"steps", child.values()["steps"]}};
  return outcome;
}

void Runner::post(Message message) {
  {
    std::lock_guard lock(m_mutex);
    m_messages.push_back(std::move(message));
  }
  m_wake.notify_one();
}

// A step cut short by a signal or an abort: one that is idempotent runs
// again on resume; for one that is not, whether it took effect is unknown.
std::string Runner::cut_short_state(const defs::Step& step) const {
  const auto* kind = action::find_kind(step.action.kind);
  bool gate = kind != nullptr && kind->flow == action::Flow::gate;
  return std::string(step.idempotent || gate ? k_interrupted : k_unknown);
}

void Runner::receive(Message message) {
  const auto& step = *message.launch.step;
  const auto& key = message.launch.unit.key;
  if (message.type == Message::Type::retrying) {
    m_journal.step_started(make_record(m_run_id, key, "do", step.action.kind, "running", step.idempotent,
                                       message.attempt));
    emit({Event::Type::retrying, 0, 0, key, step.action.kind, "running", message.message, {}, message.attempt, 0});
    return;
  }
  if (auto it = m_workers.find(key); it != m_workers.end()) {
    it->second.join();
    m_workers.erase(it);
  }
  if (!message.ok) {
    poll_control(); // a step killed by a signal or an abort was not a failure of its own
  }
  const bool killed = (m_interrupted || m_aborted || (m_cancel && !m_timed_out)) && !message.ok;
  auto state = message.ok ? std::string("succeeded") : killed ? cut_short_state(step) : std::string("failed");
  auto outputs = message.outputs;
  if (auto it = m_unit_items.find(key); it != m_unit_items.end()) {
    outputs["item"] = it->second;
  }
  auto record = make_record(m_run_id, key, "do", step.action.kind, state, step.idempotent, message.attempt);
  record.exit_code = message.exit_code;
  record.message = core::redact(message.message);
  record.outputs = journal_json(outputs);
  m_journal.step_finished(record);
  emit({Event::Type::finished, 0, 0, key, step.action.kind, state, message.message, {}, message.attempt,
        message.elapsed_ms});
  auto tally = m_schedule.finished(step, message.launch.unit, message.ok, step_values(outputs, state), m_stopping);
  if (step.repeated()) {
    if (tally) {
      finish_repeated(step, *tally);
    }
    return;
  }
  m_values["steps"][step.id] = step_values(message.outputs, state);
  if (!message.ok && !killed) {
    on_step_failed(step, message.message);
  }
}

void Runner::finish_repeated(const defs::Step& step, const Tally& tally) {
  nlohmann::json outputs{{"items", tally.items},
                         {"succeeded", tally.succeeded},
                         {"failed", tally.failed},
                         {"total", tally.total}};
  const bool killed = !tally.ok() && (m_interrupted || m_aborted);
  auto state = tally.ok() ? "succeeded" : killed ? "interrupted" : "failed";
  std::string message = fmt::format("{} of {} item{} succeeded, {} failed{}", tally.succeeded, tally.total,
                                    tally.total == 1 ? "" : "s", tally.failed,
                                    tally.allowed_failures > 0 ? fmt::format(" (max_fail {})", tally.allowed_failures)
                                                               : "");
  if (tally.not_started > 0) {
    message += fmt::format("; {} not started", tally.not_started);
  }
  auto record = make_record(m_run_id, step.id, "do", step.action.kind, state, step.idempotent, 1);
  record.message = message;
  record.outputs = journal_json(outputs);
  m_journal.step_finished(record);
  m_values["steps"][step.id] = step_values(outputs, state);
  if (!tally.ok() && !killed) {
    on_step_failed(step, message);
  }
}

void Runner::fail_step(const defs::Step& step, const std::string& key, const std::string& why) {
  m_schedule.settle(step, false);
  auto record = make_record(m_run_id, key, "do", step.action.kind, "failed", step.idempotent, 0);
  record.message = core::redact(why);
  m_journal.step_finished(record);
  m_values["steps"][step.id] = step_values(nlohmann::json::object(), "failed");
  emit({Event::Type::finished, 0, 0, key, step.action.kind, "failed", why, {}, 0, 0});
  on_step_failed(step, why);
}

void Runner::on_step_failed(const defs::Step& step, const std::string& why) {
  auto mode = step.on_failure.value_or(m_plan.on_failure);
  if (mode == defs::OnFailure::continue_on) {
    m_tolerated.push_back(step.id);
    return;
  }
  // A failure outweighs a gate waiting for input: the run fails.
  if (!m_stopping || m_parked) {
    m_parked = false;
    m_stopping = true;
    m_failure_mode = mode;
    m_reason = fmt::format("step '{}' failed: {}", step.id, why);
  }
}

// --- Gates -------------------------------------------------------------------

void Runner::open_gate(const Launch& launch, const action::Outcome& outcome, milliseconds timeout) {
  const auto& key = launch.unit.key;
  m_journal.step_state(m_run_id, key, "do", "waiting", outcome.message);
  auto hint = fmt::format("{} — approve with: has plan approve {} {}", outcome.message, m_run_id, key);
  if (m_options.no_input && m_depth == 0) {
    // Nobody will answer: end the run as waiting rather than hold its lock.
    m_schedule.finished(*launch.step, launch.unit, false, nlohmann::json::object(), true);
    m_waiting.push_back(key);
    if (!m_stopping) {
      m_parked = true;
      stop(fmt::format("waiting for approval of step {}", key));
    }
    emit({Event::Type::waiting, 0, 0, key, launch.step->action.kind, "waiting", hint, {}, 0, 0});
    return;
  }
  m_journal.set_state(m_run_id, "waiting");
  emit({Event::Type::waiting, 0, 0, key, launch.step->action.kind, "waiting", hint, {}, 0, 0});
  m_gates.open(launch, SteadyClock::now() + timeout);
}

void Runner::check_gates() {
  if (m_gates.empty()) {
    return;
  }
  auto closed = m_gates.check([this](const std::string& key) { return m_journal.approved(m_run_id, key); },
                              m_stopping, SteadyClock::now());
  for (auto& gate : closed) {
    Message done;
    done.launch = gate.launch;
    done.ok = gate.approved;
    done.message = gate.message;
    receive(std::move(done));
  }
  if (!closed.empty() && m_gates.empty() && !m_stopping) {
    m_journal.set_state(m_run_id, "running");
  }
}

} // namespace has::plan
