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
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>
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
  void push(std::size_t index, probe::Result result) {
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

  // Waits for results, until deadline when given, and moves them all into
  // batch (empty on entry; still empty after the deadline); returns false
  // once the queue is closed and drained.
  bool take(std::vector<std::pair<std::size_t, probe::Result>>& batch,
            std::optional<std::chrono::steady_clock::time_point> deadline) {
    std::unique_lock lock(m_mutex);
    auto ready = [&] { return !m_ready.empty() || m_closed; };
    if (deadline) {
      m_changed.wait_until(lock, *deadline, ready);
    } else {
      m_changed.wait(lock, ready);
    }
    batch.swap(m_ready);
    return !batch.empty() || !m_closed;
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
  std::vector<std::pair<std::size_t, probe::Result>> m_ready;
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

std::string event_title(const Outcome& outcome) {
  return fmt::format("{} failing on {}", outcome.rule, outcome.target);
}

// Makes outcomes final as their checks end (hysteresis, silences, events)
// and writes them in short transactions of whole checks, while the other
// probes still run: a check's result row, its rule state and its event are
// written together or not at all. A run killed halfway keeps the checks it
// wrote, but its run row still says running (later interrupted): the run is
// marked finished only after the last check is written.
class Recorder {
public:
  Recorder(state::Store& store, const defs::Definitions& definitions, const std::vector<Check>& checks,
           RunReport& report, const RunOptions& options)
    : m_store(store), m_results(store), m_events(store), m_definitions(definitions), m_checks(checks),
      m_report(report), m_options(options) {}

  // Queues the outcome of check index, judged for the last time, with the
  // texts its row stores; writes the queue once it is long enough.
  void add(std::size_t index, StoredText text) {
    if (m_queued.empty()) {
      m_due = std::chrono::steady_clock::now() + k_max_wait;
    }
    m_queued.emplace_back(index, std::move(text));
    if (m_queued.size() >= k_batch) {
      flush();
    }
  }

  // Returns when the queued checks must be written, if any are queued.
  std::optional<std::chrono::steady_clock::time_point> due() const {
    return m_queued.empty() ? std::nullopt : std::optional(m_due);
  }

  // Writes the queued checks if the first of them has waited long enough.
  void flush_if_due() {
    if (!m_queued.empty() && std::chrono::steady_clock::now() >= m_due) {
      flush();
    }
  }

  // Writes every queued check, then hands each to options.on_final.
  void flush() {
    if (m_queued.empty()) {
      return;
    }
    auto at = state::now_iso8601();
    auto now = std::chrono::system_clock::now();
    m_store.transaction([&] {
      for (auto& [index, text] : m_queued) {
        write(index, text, at, now);
      }
    });
    for (const auto& [index, text] : m_queued) {
      const auto& outcome = m_report.outcomes[index];
      if (!outcome.muted_by) {
        m_report.worst = probe::worst(m_report.worst, outcome.effective);
      }
      if (m_options.on_final && !m_on_final_error) {
        try {
          m_options.on_final(index, outcome);
        } catch (...) {
          m_on_final_error = std::current_exception();
        }
      }
    }
    m_queued.clear();
  }

  // Throws the first error of options.on_final, if any.
  void rethrow() const {
    if (m_on_final_error) {
      std::rethrow_exception(m_on_final_error);
    }
  }

private:
  // Checks per transaction: enough that a commit costs little per check,
  // few enough that the last one, after the probes end, is short. A check
  // waits at most k_max_wait for others to share its transaction, so a
  // slow probe does not hold back the results of quick ones.
  static constexpr std::size_t k_batch = 256;
  static constexpr std::chrono::milliseconds k_max_wait{500};

  // Carries the hysteresis of check index and writes its state, event and
  // result; the state is read in the same transaction, so runs of the same
  // rules at once do not lose each other's streaks.
  void write(std::size_t index, StoredText& text, const std::string& at,
             std::chrono::system_clock::time_point now) {
    auto& outcome = m_report.outcomes[index];
    const auto& check = m_checks[index];
    for (const auto& silence : m_definitions.silences) {
      if (silence.active(now) && silence.matches(check.rule, check.labels, check.target)) {
        outcome.muted_by = silence.header.name;
        break;
      }
    }
    auto rule_state = m_results.state(check.rule, check.target).value_or(state::RuleState{});
    rule_state.rule = check.rule;
    rule_state.target = check.target;
    outcome.transition = apply(rule_state, outcome.raw, check.fail_after, check.recover_after, at);
    outcome.effective = *probe::parse_status(rule_state.effective);
    outcome.flapping = rule_state.flapping;
    outcome.fail_streak = rule_state.fail_streak;
    rule_state.last_message = text.message;

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
      event.first_seen = at;
      event.last_seen = at;
      outcome.event_id = m_events.raise(event).first;
    } else if (outcome.transition == Transition::recovered) {
      outcome.event_id = m_events.resolve(fingerprint, at);
    }
    m_results.save_state(rule_state);

    state::InspectResult row;
    row.run_id = m_report.run_id;
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
    row.at = at;
    m_results.add_result(row);
  }

  state::Store& m_store;
  state::InspectRepository m_results;
  state::EventRepository m_events;
  const defs::Definitions& m_definitions;
  const std::vector<Check>& m_checks;
  RunReport& m_report;
  const RunOptions& m_options;
  std::vector<std::pair<std::size_t, StoredText>> m_queued;
  std::chrono::steady_clock::time_point m_due;
  std::exception_ptr m_on_final_error;
};

// Executes the checks, retrying failed ones in later rounds; fills
// outcome.result, verdict, raw and attempts, and hands every check's last
// outcome to the recorder as it is judged.
void execute(std::vector<Check>& checks, std::vector<Outcome>& outcomes, const RunOptions& options,
             Recorder& recorder) {
  expr::Engine engine;
  std::vector<std::size_t> pending(checks.size());
  for (std::size_t i = 0; i < checks.size(); ++i) {
    pending[i] = i;
  }
  std::size_t done = 0;
  while (!pending.empty()) {
    std::vector<probe::Task> tasks;
    std::vector<std::size_t> task_check;
    std::vector<std::size_t> unprepared;
    for (auto index : pending) {
      auto& check = checks[index];
      if (!check.error) {
        try {
          tasks.push_back(probe::make_task(check.spec));
          task_check.push_back(index);
          continue;
        } catch (const core::Error& e) {
          check.error = core::redact(e.render());
        }
      }
      outcomes[index].verdict = evaluate(engine, check, {}, options.explain);
      outcomes[index].raw = outcomes[index].verdict.status;
      unprepared.push_back(index);
    }
    for (auto index : unprepared) {
      recorder.add(index, stored_text(outcomes[index]));
    }
    // The probes run on a thread of their own; their results are judged and
    // written here as they arrive, so neither holds up the I/O loops and
    // both overlap the waiting.
    std::vector<std::size_t> retry;
    std::chrono::milliseconds delay{0};
    auto judge = [&](std::size_t t, probe::Result result) {
      auto index = task_check[t];
      auto& outcome = outcomes[index];
      const auto& check = checks[index];
      outcome.verdict = evaluate(engine, check, result, options.explain);
      outcome.raw = outcome.verdict.status;
      outcome.result = std::move(result);
      if (outcome.raw != probe::Status::ok && outcome.attempts <= check.retries) {
        ++outcome.attempts;
        retry.push_back(index);
        delay = std::max(delay, check.retry_delay);
        HAS_LOG("{} on {}: {} (attempt {} failed, retrying)", check.rule, check.target,
                probe::status_name(outcome.raw), outcome.attempts - 1);
      } else {
        ++done;
        recorder.add(index, stored_text(outcome));
      }
    };
    std::size_t finished = done;
    ResultQueue queue;
    std::thread runner([&, tasks = std::move(tasks)]() mutable {
      try {
        probe::run_tasks(std::move(tasks), options.limits,
                         [&](std::size_t t, probe::Result result) { queue.push(t, std::move(result)); });
      } catch (...) {
        queue.fail(std::current_exception());
        return;
      }
      queue.close();
    });
    try {
      std::vector<std::pair<std::size_t, probe::Result>> batch;
      while (queue.take(batch, recorder.due())) {
        for (auto& [t, result] : batch) {
          judge(t, std::move(result));
          if (options.progress) {
            options.progress(++finished, checks.size());
          }
        }
        batch.clear();
        recorder.flush_if_due();
      }
    } catch (...) {
      runner.join();
      throw;
    }
    runner.join();
    queue.rethrow();
    for ([[maybe_unused]] auto index : unprepared) {
      ++done;
      if (options.progress) {
        options.progress(done, checks.size());
      }
    }
    pending = std::move(retry);
    if (!pending.empty()) {
      recorder.flush();
      std::this_thread::sleep_for(delay);
    }
  }
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
  state::Run run;
  run.command = "inspect";
  run.name = options.selection.rules.empty() ? "" : fmt::format("{}", fmt::join(options.selection.rules, ","));
  run.started_at = report.started_at;
  run.host = report.provenance.host;
  run.user = report.provenance.user;
  run.pid = static_cast<std::int64_t>(getpid());
  run.workspace = definitions.root.string();
  run.git_commit = report.provenance.git_commit;
  run.git_dirty = report.provenance.git_dirty;
  report.run_id = runs.start(run);

  report.outcomes.resize(checks.size());
  for (std::size_t i = 0; i < checks.size(); ++i) {
    report.outcomes[i].rule = checks[i].rule;
    report.outcomes[i].target = checks[i].target;
    report.outcomes[i].fail_after = checks[i].fail_after;
  }
  Recorder recorder(store, definitions, checks, report, options);
  execute(checks, report.outcomes, options, recorder);
  report.finished_at = state::now_iso8601();
  recorder.flush();

  nlohmann::json summary = {{"checks", report.outcomes.size()}};
  for (auto status : {probe::Status::ok, probe::Status::warning, probe::Status::critical, probe::Status::unknown}) {
    summary[std::string(probe::status_name(status))] =
      std::count_if(report.outcomes.begin(), report.outcomes.end(),
                    [&](const Outcome& o) { return o.effective == status; });
  }
  runs.finish(report.run_id, probe::status_name(report.worst), static_cast<int>(report.worst), summary.dump());
  recorder.rethrow();
  return report;
}

} // namespace has::inspect
