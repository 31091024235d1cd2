// A run's life: recorded and locked (or taken over on resume), the loop that
// drives its steps, watching signals, aborts and the deadline, and its end.

#include <has/plan/runner.hpp>

#include <has/core/error.hpp>
#include <has/core/interrupt.hpp>
#include <has/core/log.hpp>
#include <has/core/provenance.hpp>
#include <has/core/redact.hpp>
#include <has/defs/plan.hpp>
#include <has/plan/journal.hpp>
#include <has/plan/params.hpp>
#include <has/plan/undo.hpp>
#include <has/protect/protect.hpp>
#include <has/state/clock.hpp>
#include <has/state/inspect.hpp>
#include <has/state/runs.hpp>
#include <has/util/pid.hpp>
#include <has/util/process.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <unistd.h>

namespace has::plan {

namespace fs = std::filesystem;
using core::Error;
using core::ExitCode;
using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

std::mutex g_event_mutex;

std::string explain_blocks(const std::vector<protect::Block>& blocks) {
  std::string text;
  for (const auto& block : blocks) {
    text += (text.empty() ? "" : "; ") + fmt::format("{}: {}", block.rule, block.reason);
    if (block.allowed_at) {
      text += fmt::format(" (allowed from {})", state::format_iso8601(*block.allowed_at));
    }
  }
  return text;
}

} // namespace

const action::Kind& kind_of(const std::string& name) {
  const auto* kind = action::find_kind(name);
  if (kind == nullptr) {
    throw Error(ExitCode::unavailable, fmt::format("action kind '{}' is not available in this build", name));
  }
  return *kind;
}

std::string error_text(const Error& e) {
  return e.reason().empty() ? e.what() : fmt::format("{}: {}", e.what(), e.reason());
}

std::string protection_scope(const defs::Plan& plan) { return "plan:" + plan.header.name; }

int count_targets(const defs::Definitions& definitions, const defs::Plan& plan, const nlohmann::json& params) {
  std::set<std::string> targets;
  expr::Engine engine;
  nlohmann::json values{{"params", params}, {"steps", nlohmann::json::object()}, {"event", nullptr},
                        {"run", {{"id", 0}}}, {"plan", {{"name", plan.header.name}}}};
  for (const auto& step : plan.steps) {
    nlohmann::json items;
    try {
      items = for_each_items(definitions, engine, step, values);
    } catch (const Error&) {
      continue; // depends on what earlier steps produce
    }
    for (std::size_t i = 0; i < items.size(); ++i) {
      targets.insert(item_key(items[i], i));
    }
  }
  return static_cast<int>(targets.size());
}

Runner::Runner(const defs::Definitions& definitions, state::Store& store, fs::path state_file,
               const defs::Plan& plan, nlohmann::json params, const Options& options, int depth,
               std::function<bool()> outer_cancelled)
  : m_definitions(definitions), m_store(store), m_state_file(std::move(state_file)), m_plan(plan),
    m_params(std::move(params)), m_options(options), m_depth(depth), m_outer_cancelled(std::move(outer_cancelled)),
    m_journal(store), m_schedule(plan, defs::topological_order(plan)) {
  m_runtime_dir = m_state_file.parent_path() / "run";
  std::error_code ec;
  fs::create_directories(m_runtime_dir, ec);
  fs::permissions(m_runtime_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
}

Runner::~Runner() { join_workers(); }

void Runner::emit(Event event) const {
  if (!m_options.on_event) {
    return;
  }
  event.run_id = m_run_id;
  event.depth = m_depth;
  event.message = core::redact(event.message);
  event.detail = core::redact(event.detail);
  std::lock_guard lock(g_event_mutex);
  m_options.on_event(event);
}

// --- Starting and attaching --------------------------------------------------

void Runner::start(std::optional<std::int64_t> parent_run, std::optional<std::string> parent_step, bool take) {
  auto provenance = core::provenance(m_definitions.root);
  m_host = provenance.host;
  state::RunRepository runs(m_store);
  m_run_id = runs.start(state::new_run("plan", m_plan.header.name, provenance, m_definitions.root));
  state::PlanRun plan_run;
  plan_run.run_id = m_run_id;
  plan_run.plan = m_plan.header.name;
  plan_run.params = journal_json(redacted_params(m_plan, m_params));
  plan_run.parent_run = parent_run;
  plan_run.parent_step = std::move(parent_step);
  plan_run.event_id = m_options.event_id;
  plan_run.pid_start = util::process_start_id(::getpid());
  if (take) {
    plan_run.lock_key = lock_key(m_plan, m_params);
  }
  m_journal.create(plan_run);
  if (plan_run.lock_key) {
    take_lock(*plan_run.lock_key);
    admit();
  }
  init_values();
}

void Runner::attach(std::int64_t run_id, const state::PlanRun& plan_run) {
  m_run_id = run_id;
  m_attached = true;
  m_host = core::provenance(m_definitions.root).host;
  if (plan_run.lock_key) {
    take_lock(*plan_run.lock_key);
  }
  m_admitted = plan_run.lock_key.has_value();
  init_values();
  // The values later steps read come back from the journal.
  for (const auto& row : m_journal.steps(run_id)) {
    if (row.phase != "do" || (row.state != "succeeded" && row.state != "skipped") ||
        row.step.find('[') != std::string::npos) {
      continue;
    }
    auto outputs = row.outputs ? nlohmann::json::parse(*row.outputs, nullptr, false) : nlohmann::json::object();
    m_values["steps"][row.step] = step_values(outputs.is_discarded() ? nlohmann::json::object() : outputs, row.state);
  }
}

void Runner::refuse(const std::string& reason, Error error) {
  if (m_attached) {
    // A stopped run that may not go on now keeps its state; only its lock,
    // if this process took it, is given back.
    if (auto run = m_journal.get(m_run_id); run && run->lock_key) {
      m_journal.release(*run->lock_key, m_run_id);
    }
    throw std::move(error);
  }
  finish("refused", reason);
  throw std::move(error);
}

void Runner::take_lock(const std::string& key) {
  state::LockHolder wanted{key, m_run_id, m_host, static_cast<std::int64_t>(::getpid()),
                           util::process_start_id(::getpid()), {}};
  if (auto holder = m_journal.acquire(wanted, m_host)) {
    auto reason = fmt::format("lock '{}' is held by run {} (pid {} on {}, since {})", key, holder->run_id,
                              holder->pid, holder->host, holder->acquired_at);
    refuse(reason, Error(ExitCode::tempfail,
                         fmt::format("plan '{}' is already running on the same target: run {} holds it",
                                     m_plan.header.name, holder->run_id),
                         reason,
                         fmt::format("wait for it (`has plan status {}`), or stop it with `has plan abort {}`",
                                     holder->run_id, holder->run_id)));
  }
}

// The protection rules: a run they block is recorded as refused, with why,
// and refused with exit 75; overridden rules are journaled.
void Runner::admit() {
  protect::Request request;
  request.scope = protection_scope(m_plan);
  request.targets = count_targets(m_definitions, m_plan, m_params);
  request.automatic = m_options.automatic;
  request.overrides = m_options.overrides;
  request.host = m_host;
  request.pid = ::getpid();
  request.pid_start = util::process_start_id(::getpid());
  auto decision = protect::admit(m_store, m_plan.protection, request, m_run_id, std::chrono::system_clock::now());
  if (!decision.allowed()) {
    auto reason = explain_blocks(decision.blocks);
    refuse("blocked: " + reason,
           Error(ExitCode::tempfail, fmt::format("plan '{}' may not run now", m_plan.header.name), reason,
                 m_options.automatic ? "wait until it is allowed"
                                     : fmt::format("wait, or break the rule on purpose: --override {} --reason TEXT",
                                                   decision.blocks.front().rule)));
  }
  for (const auto& block : decision.overridden) {
    m_journal.add_override(m_run_id, {block.rule, m_options.override_reason + " (" + block.reason + ")",
                                      core::provenance(m_definitions.root).user, {}});
  }
  m_admitted = true;
}

void Runner::prepare_resume() {
  auto decision = decide_resume(m_plan, m_journal.steps(m_run_id), m_options.retry_steps, m_options.skip_steps);
  if (!decision.unknown.empty()) {
    const auto& first = decision.unknown.front();
    throw Error(ExitCode::failure,
                fmt::format("step{} {} of run {} {} cut short when the run stopped and {} not idempotent",
                            decision.unknown.size() == 1 ? "" : "s", fmt::join(decision.unknown, ", "), m_run_id,
                            decision.unknown.size() == 1 ? "was" : "were",
                            decision.unknown.size() == 1 ? "is" : "are"),
                "has cannot tell whether it took effect",
                fmt::format("check, then resume with --retry {} to run it again or --skip {} if it took effect",
                            first, first));
  }
  for (const auto& key : decision.skipped) {
    m_journal.step_state(m_run_id, key, "do", "skipped", "counted as done by the operator on resume (--skip)");
    emit({Event::Type::skipped, 0, 0, key, {}, "skipped", "counted as done by the operator (--skip)", {}, 0, 0});
  }
  m_schedule.done_before(decision.done);
  // A resumed run passes the protection rules again (a pause, a freeze).
  admit();
  m_journal.reopen(m_run_id, ::getpid(), util::process_start_id(::getpid()));
}

void Runner::limit(milliseconds timeout) {
  m_deadline = SteadyClock::now() + timeout;
  m_limit = timeout;
}

void Runner::init_values() {
  m_values = {{"params", m_params},
              {"steps", nlohmann::json::object()},
              {"run", {{"id", m_run_id}}},
              {"plan", {{"name", m_plan.header.name}}},
              {"event", nullptr}};
  if (m_options.event_id) {
    state::EventRepository events(m_store);
    auto event = events.get(*m_options.event_id);
    m_values["event"] = event ? state::event_values(*event) : nlohmann::json{{"id", *m_options.event_id}};
  }
}

// --- The loop ----------------------------------------------------------------

void Runner::execute() {
  m_journal.set_state(m_run_id, "running");
  if (m_plan.timeout) {
    auto own = SteadyClock::now() + *m_plan.timeout;
    if (!m_deadline || own < *m_deadline) {
      m_deadline = own;
      m_limit = *m_plan.timeout;
    }
  }
  // A step run on this thread blocks the loop: this thread sees `has plan
  // abort` meanwhile, through a handle of its own (a handle is one thread's).
  std::atomic<bool> done{false};
  std::thread watchdog([this, &done] {
    try {
      auto store = state::Store::open(m_state_file);
      state::PlanRepository journal(store);
      while (!done.load()) {
        for (auto slept = milliseconds(0); slept < m_options.poll && !done.load(); slept += milliseconds(50)) {
          std::this_thread::sleep_for(milliseconds(50));
        }
        if (!done.load() && !m_cancel.load() && journal.abort_requested(m_run_id)) {
          m_cancel = true;
          util::stop_running_children();
        }
      }
    } catch (const std::exception& e) {
      HAS_DEBUG("plan watchdog stopped: {}", e.what());
    }
  });
  struct Stop {
    std::atomic<bool>& done;
    std::thread& watchdog;
    ~Stop() {
      done = true;
      watchdog.join();
    }
  } stop_watchdog{done, watchdog};
  auto last_poll = SteadyClock::now() - m_options.poll;
  while (true) {
    if (SteadyClock::now() - last_poll >= m_options.poll) {
      poll_control();
      check_gates();
      last_poll = SteadyClock::now();
    }
    if (!m_stopping) {
      schedule();
      launch();
    }
    if (m_schedule.running() == 0 && (m_stopping || !m_schedule.more())) {
      break;
    }
    std::unique_lock lock(m_mutex);
    m_wake.wait_for(lock, std::min<milliseconds>(m_options.poll, milliseconds(100)),
                    [&] { return !m_messages.empty(); });
    std::deque<Message> messages;
    messages.swap(m_messages);
    lock.unlock();
    for (auto& message : messages) {
      receive(std::move(message));
    }
  }
  join_workers();
  conclude();
}

bool Runner::cancelled() const {
  return m_cancel.load() || core::interrupt_requested() || (m_outer_cancelled && m_outer_cancelled());
}

void Runner::poll_control() {
  if (core::interrupt_requested() && !m_interrupted) {
    // The signal handler already asked the running processes to stop.
    m_interrupted = true;
    m_cancel = true;
    stop(core::interrupt_reason());
  }
  if (!m_aborted && m_journal.abort_requested(m_run_id)) {
    m_aborted = true;
    m_cancel = true;
    util::stop_running_children();
    stop("aborted by `has plan abort`");
  }
  if (m_outer_cancelled && m_outer_cancelled() && !m_stopping) {
    m_cancel = true;
    stop("the calling plan stopped");
  }
  if (m_deadline && SteadyClock::now() > *m_deadline && !m_stopping) {
    m_timed_out = true;
    m_cancel = true;
    stop(fmt::format("{} timed out after {} ms", m_depth > 0 && m_limit != m_plan.timeout ? "the calling step" : "plan",
                     m_limit ? m_limit->count() : 0));
    m_failure_mode = m_plan.on_failure;
  }
}

void Runner::stop(std::string reason) {
  if (!m_stopping) {
    m_stopping = true;
    m_reason = std::move(reason);
  }
}

void Runner::join_workers() {
  for (auto& [key, worker] : m_workers) {
    if (worker.joinable()) {
      worker.join();
    }
  }
  m_workers.clear();
}

// --- The end -----------------------------------------------------------------

void Runner::conclude() {
  if (m_interrupted) {
    m_state = "interrupted";
    return;
  }
  if (m_aborted) {
    m_state = "aborted";
    return;
  }
  if (m_parked) {
    m_state = "waiting";
    return;
  }
  if (!m_stopping) {
    m_state = "succeeded";
    if (!m_tolerated.empty()) {
      m_reason = fmt::format("tolerated failures (on_failure: continue): {}", fmt::join(m_tolerated, ", "));
    }
    return;
  }
  if (m_failure_mode == defs::OnFailure::rollback) {
    emit({Event::Type::note, 0, 0, {}, {}, {}, "rolling back the completed steps", {}, 0, 0});
    m_state = undo_all() ? "rolled_back" : "rollback_failed";
    if (m_state == "rollback_failed") {
      m_reason += fmt::format("; rollback stopped, left undone: {}", fmt::join(m_left_undone, ", "));
    }
    return;
  }
  m_state = "failed";
}

std::vector<std::string> Runner::undoable_steps() {
  std::vector<std::string> out;
  for (const auto& row : undo_order(m_plan, m_journal.steps(m_run_id))) {
    out.push_back(row.step);
  }
  return out;
}

Report Runner::finish(const std::string& state, const std::string& reason) {
  Report report;
  report.run_id = m_run_id;
  report.plan = m_plan.header.name;
  report.state = state;
  report.reason = reason;
  report.params = redacted_params(m_plan, m_params);
  report.left_undone = m_left_undone;
  report.waiting = m_waiting;
  if (state == "interrupted" || state == "aborted" || (state == "failed" && m_left_undone.empty())) {
    report.undoable = undoable_steps();
  }
  m_journal.set_state(m_run_id, state, core::redact(reason)); // a resumed run drops the old reason
  state::RunRepository runs(m_store);
  // runs holds every command's runs in a few words: a run waiting at a gate
  // stopped short as an interrupted one did; a refused one did not succeed.
  auto status = state == "succeeded" ? "ok" : state == "interrupted" || state == "waiting" ? "interrupted" : "failed";
  nlohmann::json summary{{"plan", m_plan.header.name}, {"state", state}, {"reason", core::redact(reason)}};
  runs.finish(m_run_id, status, report.exit_code(), summary.dump());
  if (auto run = m_journal.get(m_run_id); run && run->lock_key) {
    m_journal.release(*run->lock_key, m_run_id);
  }
  // Only a run that ended counts for the protection rules: not one that
  // stops to continue later, not one that was refused.
  if (m_admitted && state != "interrupted" && state != "waiting" && state != "refused") {
    protect::finish(m_store, protection_scope(m_plan), m_run_id, state == "succeeded",
                    std::chrono::system_clock::now());
  }
  report.journal = m_journal.steps(m_run_id);
  return report;
}

} // namespace has::plan
