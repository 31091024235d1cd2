#include <has/inspect/engine.hpp>

#include <has/core/error.hpp>
#include <has/core/log.hpp>
#include <has/core/redact.hpp>
#include <has/state/clock.hpp>
#include <has/state/inspect.hpp>
#include <has/state/runs.hpp>
#include <has/state/store.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <cerrno>
#include <csignal>
#include <unistd.h>

namespace has::inspect {

namespace {

// Results handed from the probe thread to the thread that judges them.
class ResultQueue {
public:
  void push(std::size_t index, probe::Finished result) {
    bool was_empty = false;
    {
      std::lock_guard lock(m_mutex);
      was_empty = m_ready.empty();
      m_ready.emplace_back(index, std::move(result));
    }
    // The taker only waits on an empty queue.
    if (was_empty) {
      m_changed.notify_one();
    }
  }

  // Marks the end of the results.
  void close() {
    {
      std::lock_guard lock(m_mutex);
      m_closed = true;
    }
    m_changed.notify_one();
  }

  // Ends the results with the error that stopped the probes.
  void fail(std::exception_ptr error) {
    {
      std::lock_guard lock(m_mutex);
      m_error = std::move(error);
      m_closed = true;
    }
    m_changed.notify_one();
  }

  // Waits for results and moves them all into batch (empty on entry);
  // returns false once the queue is closed and drained.
  bool take(std::vector<std::pair<std::size_t, probe::Finished>>& batch) {
    std::unique_lock lock(m_mutex);
    m_changed.wait(lock, [&] { return !m_ready.empty() || m_closed; });
    batch.swap(m_ready);
    return !batch.empty();
  }

  // Throws the error that stopped the probes, if any.
  void rethrow() const {
    if (m_error) {
      std::rethrow_exception(m_error);
    }
  }

private:
  std::mutex m_mutex;
  std::condition_variable m_changed;
  std::vector<std::pair<std::size_t, probe::Finished>> m_ready;
  bool m_closed = false;
  std::exception_ptr m_error;
};

constexpr std::size_t k_limit = 4096;

// Returns whether no string in value is longer than the stored limit (the
// common case, which then needs no copy).
bool within_limit(const nlohmann::json& value) {
  if (value.is_string()) {
    return value.get_ref<const std::string&>().size() <= k_limit;
  }
  if (value.is_structured()) {
    return std::all_of(value.begin(), value.end(), [](const nlohmann::json& item) { return within_limit(item); });
  }
  return true;
}

// Returns values with long strings cut, so that a page body does not make
// every stored result megabytes long; the evidence keeps the start of it.
nlohmann::json bounded(const nlohmann::json& values) {
  if (values.is_string()) {
    const auto& text = values.get_ref<const std::string&>();
    return text.size() <= k_limit ? values : nlohmann::json(text.substr(0, k_limit) + "…");
  }
  if (values.is_object()) {
    auto out = nlohmann::json::object();
    for (const auto& item : values.items()) {
      out[item.key()] = bounded(item.value());
    }
    return out;
  }
  if (values.is_array()) {
    auto out = nlohmann::json::array();
    for (const auto& item : values) {
      out.push_back(bounded(item));
    }
    return out;
  }
  return values;
}

// The texts a result's row stores, made as soon as its outcome is judged
// (while other probes still run), not in the transaction that writes it.
struct StoredText {
  std::string message;
  std::string detail;
  std::string values_json;
  std::string evidence;
};

StoredText stored_text(const Outcome& outcome) {
  StoredText text;
  text.message = core::redact(outcome.verdict.message);
  auto findings = nlohmann::json::array();
  for (const auto& f : outcome.verdict.findings) {
    findings.push_back({{"kind", f.kind}, {"text", f.text}, {"passed", f.passed}, {"values", f.values},
                        {"error", f.error}});
  }
  text.detail = core::redact(findings.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  std::optional<nlohmann::json> cut;
  if (!within_limit(outcome.result.values)) {
    cut = bounded(outcome.result.values);
  }
  text.values_json = core::redact((cut ? *cut : outcome.result.values)
                                    .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  text.evidence = core::redact(outcome.result.evidence);
  return text;
}

// Executes the checks, retrying failed ones in later rounds; fills
// outcome.result, verdict, raw and attempts, and the stored texts of the
// outcomes it judges.
void execute(std::vector<Check>& checks, std::vector<Outcome>& outcomes, const RunOptions& options,
             std::vector<std::optional<StoredText>>& stored) {
  expr::Engine engine;
  std::vector<std::size_t> pending(checks.size());
  for (std::size_t i = 0; i < checks.size(); ++i) {
    pending[i] = i;
  }
  std::size_t done = 0;
  while (!pending.empty()) {
    std::vector<probe::Task> tasks;
    std::vector<std::size_t> task_check;
    tasks.reserve(pending.size());
    task_check.reserve(pending.size());
    for (auto index : pending) {
      auto& check = checks[index];
      if (check.error) {
        outcomes[index].verdict = evaluate(engine, check, {}, options.explain);
        outcomes[index].raw = outcomes[index].verdict.status;
        continue;
      }
      try {
        tasks.push_back(probe::make_task(check.spec));
        task_check.push_back(index);
      } catch (const core::Error& e) {
        check.error = core::redact(e.render());
        outcomes[index].verdict = evaluate(engine, check, {}, options.explain);
        outcomes[index].raw = outcomes[index].verdict.status;
      }
    }
    // The probes run on a thread of their own; their results are judged here
    // as they arrive, so expressions never hold up the I/O loops and the
    // judging overlaps the waiting.
    std::vector<std::size_t> retry;
    std::chrono::milliseconds delay{0};
    auto judge = [&](std::size_t t, probe::Result result) {
      auto index = task_check[t];
      auto& outcome = outcomes[index];
      const auto& check = checks[index];
      outcome.verdict = evaluate(engine, check, result, options.explain);
      outcome.raw = outcome.verdict.status;
      outcome.result = std::move(result);
      stored[index] = stored_text(outcome);
      if (outcome.raw != probe::Status::ok && outcome.attempts <= check.retries) {
        ++outcome.attempts;
        retry.push_back(index);
        delay = std::max(delay, check.retry_delay);
        HAS_LOG("{} on {}: {} (attempt {} failed, retrying)", check.rule, check.target,
                probe::status_name(outcome.raw), outcome.attempts - 1);
      } else {
        ++done;
      }
    };
    std::size_t finished = done;
    ResultQueue queue;
    std::thread runner([&, tasks = std::move(tasks)]() mutable {
      try {
        probe::run_tasks(std::move(tasks), options.limits,
                         [&](std::size_t t, probe::Finished result) { queue.push(t, std::move(result)); });
      } catch (...) {
        queue.fail(std::current_exception());
        return;
      }
      queue.close();
    });
    try {
      std::vector<std::pair<std::size_t, probe::Finished>> batch;
      while (queue.take(batch)) {
        for (auto& [t, result] : batch) {
          judge(t, result.take());
          if (options.progress) {
            options.progress(++finished, checks.size());
          }
        }
        batch.clear();
      }
    } catch (...) {
      runner.join();
      throw;
    }
    runner.join();
    queue.rethrow();
    for (auto index : pending) {
      if (checks[index].error) {
        ++done;
        if (options.progress) {
          options.progress(done, checks.size());
        }
      }
    }
    pending = std::move(retry);
    if (!pending.empty()) {
      std::this_thread::sleep_for(delay);
    }
  }
}

std::string event_title(const Outcome& outcome) {
  return fmt::format("{} failing on {}", outcome.rule, outcome.target);
}

} // namespace

RunReport run(const defs::Definitions& definitions, state::Store& store, const RunOptions& options) {
  RunReport report;
  auto checks = expand(definitions, options.selection);
  report.provenance = core::provenance(definitions.root);
  report.started_at = state::now_iso8601();

  // Record the run before anything happens, so a killed run is visible;
  // and close the runs of this host whose process is gone.
  state::RunRepository runs(store);
  for (const auto& stale : runs.list(std::string("inspect"), 20)) {
    if (stale.status == "running" && stale.host == report.provenance.host && stale.pid &&
        ::kill(static_cast<pid_t>(*stale.pid), 0) != 0 && errno == ESRCH) {
      runs.finish(stale.id, "interrupted", core::to_int(core::ExitCode::interrupted));
    }
  }
  auto run = state::new_run(
    "inspect", options.selection.rules.empty() ? "" : fmt::format("{}", fmt::join(options.selection.rules, ",")),
    report.provenance, definitions.root);
  run.started_at = report.started_at;
  report.run_id = runs.start(run);

  report.outcomes.resize(checks.size());
  for (std::size_t i = 0; i < checks.size(); ++i) {
    report.outcomes[i].rule = checks[i].rule;
    report.outcomes[i].target = checks[i].target;
    report.outcomes[i].fail_after = checks[i].fail_after;
  }
  std::vector<std::optional<StoredText>> stored(checks.size());
  execute(checks, report.outcomes, options, stored);
  for (std::size_t i = 0; i < checks.size(); ++i) {
    if (!stored[i]) {
      stored[i] = stored_text(report.outcomes[i]); // judged without a probe
    }
  }
  report.finished_at = state::now_iso8601();
  auto now = std::chrono::system_clock::now();
  for (std::size_t i = 0; i < checks.size(); ++i) {
    for (const auto& silence : definitions.silences) {
      if (silence.active(now) && silence.matches(checks[i].rule, checks[i].labels, checks[i].target)) {
        report.outcomes[i].muted_by = silence.header.name;
        break;
      }
    }
  }

  // Carry hysteresis, write results and events in one short transaction:
  // first every outcome is made final (hysteresis, events), then the rows
  // are written while options.on_outcomes looks at the final report.
  state::InspectRepository results(store);
  state::EventRepository events(store);
  std::exception_ptr on_outcomes_error;
  std::jthread on_outcomes;
  store.transaction([&] {
    auto states = results.states();
    std::vector<state::RuleState*> rule_states(checks.size());
    for (std::size_t i = 0; i < checks.size(); ++i) {
      auto& outcome = report.outcomes[i];
      const auto& check = checks[i];
      auto& rule_state = states[{check.rule, check.target}];
      rule_states[i] = &rule_state;
      rule_state.rule = check.rule;
      rule_state.target = check.target;
      outcome.transition = apply(rule_state, outcome.raw, check.fail_after, check.recover_after,
                                 report.finished_at);
      outcome.effective = *probe::parse_status(rule_state.effective);
      outcome.flapping = rule_state.flapping;
      outcome.fail_streak = rule_state.fail_streak;
      rule_state.last_message = stored[i]->message;

      auto fingerprint = fmt::format("inspect:{}:{}", check.rule, check.target);
      if (outcome.effective != probe::Status::ok && outcome.muted_by) {
        HAS_LOG("{} on {}: {} but muted by silence '{}'", check.rule, check.target, rule_state.effective,
                *outcome.muted_by);
      } else if (outcome.effective != probe::Status::ok) {
        state::Event event;
        event.fingerprint = fingerprint;
        event.source = "inspect";
        event.title = event_title(outcome);
        event.severity = rule_state.effective;
        event.labels = nlohmann::json({{"rule", check.rule}, {"target", check.target}}).dump();
        event.message = rule_state.last_message;
        event.first_seen = report.finished_at;
        event.last_seen = report.finished_at;
        event.run_id = report.run_id;
        outcome.event_id = events.raise(event).first;
      } else if (outcome.transition == Transition::recovered) {
        outcome.event_id = events.resolve(fingerprint, report.finished_at, report.run_id);
      }
      if (!outcome.muted_by) {
        report.worst = probe::worst(report.worst, outcome.effective);
      }
    }

    if (options.on_outcomes && !on_outcomes.joinable()) {
      on_outcomes = std::jthread([&] {
        try {
          options.on_outcomes(std::as_const(report));
        } catch (...) {
          on_outcomes_error = std::current_exception();
        }
      });
    }
    for (std::size_t i = 0; i < checks.size(); ++i) {
      const auto& outcome = report.outcomes[i];
      const auto& check = checks[i];
      const auto& rule_state = *rule_states[i];
      results.save_state(rule_state);

      auto& text = *stored[i];
      state::InspectResult row;
      row.run_id = report.run_id;
      row.rule = check.rule;
      row.target = check.target;
      row.status = rule_state.effective;
      row.raw_status = std::string(probe::status_name(outcome.raw));
      row.flapping = rule_state.flapping;
      row.muted = outcome.muted_by.has_value();
      row.message = std::move(text.message);
      row.detail = std::move(text.detail);
      row.values_json = std::move(text.values_json);
      row.evidence = std::move(text.evidence);
      row.elapsed_ms = outcome.result.elapsed_ms;
      row.attempts = outcome.attempts;
      row.at = report.finished_at;
      results.add_result(row);
    }
  });
  if (on_outcomes.joinable()) {
    on_outcomes.join();
  }
  if (on_outcomes_error) {
    std::rethrow_exception(on_outcomes_error);
  }

  nlohmann::json summary = {{"checks", report.outcomes.size()}};
  for (auto status : {probe::Status::ok, probe::Status::warning, probe::Status::critical, probe::Status::unknown}) {
    summary[std::string(probe::status_name(status))] =
      std::count_if(report.outcomes.begin(), report.outcomes.end(),
                    [&](const Outcome& o) { return o.effective == status; });
  }
  runs.finish(report.run_id, probe::status_name(report.worst), static_cast<int>(report.worst), summary.dump());
  return report;
}

} // namespace has::inspect
