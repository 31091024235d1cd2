#include <has/plan/engine.hpp>

#include <has/action/action.hpp>
#include <has/core/error.hpp>
#include <has/core/interrupt.hpp>
#include <has/core/log.hpp>
#include <has/core/provenance.hpp>
#include <has/core/redact.hpp>
#include <has/defs/env.hpp>
#include <has/defs/template.hpp>
#include <has/defs/plan.hpp>
#include <has/expr/expr.hpp>
#include <has/notify/deliver.hpp>
#include <has/plan/params.hpp>
#include <has/protect/protect.hpp>
#include <has/state/clock.hpp>
#include <has/state/inspect.hpp>
#include <has/state/runs.hpp>
#include <has/state/store.hpp>
#include <has/util/pid.hpp>
#include <has/util/process.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <unistd.h>

namespace has::plan {

namespace fs = std::filesystem;
using core::Error;
using core::ExitCode;
using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr std::size_t k_journal_text = 64 * 1024;
constexpr milliseconds k_default_timeout = std::chrono::minutes(10);
constexpr milliseconds k_default_confirm_timeout = std::chrono::hours(24);
constexpr milliseconds k_max_backoff = std::chrono::minutes(5);
constexpr int k_max_depth = 8;

std::mutex g_event_mutex;

void emit(const Options& options, Event event) {
  if (!options.on_event) {
    return;
  }
  event.message = core::redact(event.message);
  event.detail = core::redact(event.detail);
  std::lock_guard lock(g_event_mutex);
  options.on_event(event);
}

bool is_call(std::string_view kind) { return kind == "plan" || kind == "use"; }

// The step id of a journal key: "drain[web1]" -> "drain".
std::string base_id(const std::string& key) { return key.substr(0, key.find('[')); }

std::string item_key(const nlohmann::json& item, std::size_t index) {
  if (item.is_string()) {
    return item.get<std::string>();
  }
  if (item.is_number()) {
    return item.dump();
  }
  if (item.is_object() && item.contains("name") && item["name"].is_string()) {
    return item["name"].get<std::string>();
  }
  return std::to_string(index);
}

// Keeps journal rows small: long strings are cut with a note.
nlohmann::json bounded(const nlohmann::json& value) {
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    if (text.size() > k_journal_text) {
      return text.substr(0, k_journal_text) + fmt::format("\n[... {} more bytes]", text.size() - k_journal_text);
    }
    return value;
  }
  if (value.is_structured()) {
    auto out = value;
    for (auto& item : out) {
      item = bounded(item);
    }
    return out;
  }
  return value;
}

std::string journal_json(const nlohmann::json& value) {
  return core::redact(bounded(value).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

nlohmann::json resolve(expr::Engine& engine, const nlohmann::json& value, const nlohmann::json& values,
                       const defs::Location& where) {
  return defs::resolve_template(engine, value, values, where);
}

state::StepRecord make_record(std::int64_t run_id, std::string step, std::string phase, std::int64_t seq,
                              std::string kind, std::string state, bool idempotent = false, int attempts = 0) {
  state::StepRecord record;
  record.run_id = run_id;
  record.step = std::move(step);
  record.phase = std::move(phase);
  record.seq = seq;
  record.kind = std::move(kind);
  record.state = std::move(state);
  record.idempotent = idempotent;
  record.attempts = attempts;
  return record;
}

std::string describe_call(const std::string& kind, const nlohmann::json& fields) {
  auto name = fields.value("name", std::string());
  const auto& given = fields.contains(kind == "plan" ? "params" : "with") ? fields[kind == "plan" ? "params" : "with"]
                                                                          : nlohmann::json::object();
  std::string text = kind == "plan" ? "plan " + name : "use " + name;
  if (given.is_object()) {
    for (const auto& item : given.items()) {
      auto value = item.value().is_string() ? item.value().get<std::string>() : item.value().dump();
      text += fmt::format(" {}={}", item.key(), util::shell_quote(value));
    }
  }
  return text;
}

std::string describe_action(const std::string& kind, const nlohmann::json& fields, milliseconds timeout,
                            const action::Context& context) {
  if (is_call(kind)) {
    return describe_call(kind, fields);
  }
  if (kind == "confirm") {
    return "confirm: " + fields.value("message", std::string("continue?"));
  }
  if (kind == "notify") {
    return fmt::format("notify {}: {}", fields.value("notifier", std::string()), fields.value("text", std::string()));
  }
  const auto* handler = action::find_kind(kind);
  if (handler == nullptr) {
    throw Error(ExitCode::unavailable, fmt::format("action kind '{}' is not available in this build", kind));
  }
  return handler->describe(action::Spec{kind, fields, timeout}, context);
}

// A step's values for later steps: its outputs and its state.
nlohmann::json step_values(const nlohmann::json& outputs, std::string_view state) {
  auto out = outputs.is_object() ? outputs : nlohmann::json::object();
  out["status"] = state;
  return out;
}

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

int Report::exit_code() const {
  if (state == "succeeded") {
    return 0;
  }
  if (state == "interrupted") {
    return core::to_int(ExitCode::interrupted);
  }
  return 1;
}

std::string lock_key(const defs::Plan& plan, const nlohmann::json& params) {
  if (plan.lock) {
    expr::Engine engine;
    auto values = nlohmann::json{{"params", params}, {"plan", {{"name", plan.header.name}}}};
    return "lock:" + engine.interpolate(*plan.lock, values);
  }
  std::string key = "plan:" + plan.header.name;
  for (const auto& param : plan.params) {
    if (param.secret || !params.contains(param.name)) {
      continue;
    }
    const auto& value = params[param.name];
    key += fmt::format(" {}={}", param.name, value.is_string() ? value.get<std::string>() : value.dump());
  }
  return key;
}

namespace {

std::string protection_scope(const defs::Plan& plan) { return "plan:" + plan.header.name; }

// Returns the items a for_each step runs over: inventory hosts (as {name,
// address, labels}), a list written in the step, or what its expression
// gives; throws core::Error when they cannot be known from values.
nlohmann::json step_items(const defs::Definitions& definitions, expr::Engine& engine, const defs::Step& step,
                          const nlohmann::json& values) {
  nlohmann::json items = nlohmann::json::array();
  if (step.for_each_hosts) {
    for (const auto& host : definitions.config.hosts) {
      bool match = std::all_of(step.for_each_hosts->labels.begin(), step.for_each_hosts->labels.end(),
                               [&](const auto& label) {
                                 auto it = host.labels.find(label.first);
                                 return it != host.labels.end() && it->second == label.second;
                               });
      if (match) {
        items.push_back({{"name", host.name}, {"address", host.address}, {"labels", host.labels}});
      }
    }
  } else if (step.for_each_list) {
    items = resolve(engine, *step.for_each_list, values, step.where);
  } else if (step.for_each) {
    expr::Source source{step.for_each->where.file, step.for_each->where.line, step.for_each->where.column};
    items = engine.evaluate(step.for_each->text, values, source);
    if (items.is_null()) {
      items = nlohmann::json::array();
    }
  }
  if (!items.is_array()) {
    throw Error(ExitCode::failure, fmt::format("for_each of step '{}' is not a list: {}", step.id, items.dump()));
  }
  return items;
}

// The targets a run will touch, as far as the parameters tell before it
// starts: the distinct items of its for_each steps.
int count_targets(const defs::Definitions& definitions, const defs::Plan& plan, const nlohmann::json& params) {
  std::set<std::string> targets;
  expr::Engine engine;
  nlohmann::json values{{"params", params}, {"steps", nlohmann::json::object()}, {"event", nullptr},
                        {"run", {{"id", 0}}}, {"plan", {{"name", plan.header.name}}}};
  for (const auto& step : plan.steps) {
    nlohmann::json items;
    try {
      items = step_items(definitions, engine, step, values);
    } catch (const Error&) {
      continue; // depends on what earlier steps produce
    }
    for (std::size_t i = 0; i < items.size(); ++i) {
      targets.insert(item_key(items[i], i));
    }
  }
  return static_cast<int>(targets.size());
}

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

// What a worker tells the scheduler.
struct Message {
  enum class Type { retrying, finished } type = Type::finished;
  std::string key;
  int attempt = 1;
  bool ok = false;
  std::string message;
  std::optional<int> exit_code;
  nlohmann::json outputs = nlohmann::json::object();
  double elapsed_ms = 0;
};

struct Unit {
  std::string key;
  std::optional<nlohmann::json> item;
};

// Where a step is.
struct Progress {
  enum class Phase { waiting, active, done } phase = Phase::waiting;
  bool ok = true;
  bool repeated = false;
  std::vector<Unit> units; // for_each items (or the one unit) to launch
  std::size_t next = 0;
  int running = 0;
  int failed = 0;
  int succeeded = 0;
  int allowed_failures = 0;
  nlohmann::json items = nlohmann::json::array();
  std::set<std::string> done_keys; // finished in an earlier process (resume)
};

struct Gate {
  std::string key;
  std::string step;
  SteadyClock::time_point deadline;
};

class Runner {
public:
  Runner(const defs::Definitions& definitions, fs::path state_file, const defs::Plan& plan, nlohmann::json params,
         const Options& options, int depth, std::function<bool()> outer_cancelled)
    : m_definitions(definitions), m_state_file(std::move(state_file)), m_plan(plan), m_params(std::move(params)),
      m_options(options), m_depth(depth), m_outer_cancelled(std::move(outer_cancelled)),
      m_store(state::Store::open(m_state_file)), m_journal(m_store) {
    m_progress.resize(m_plan.steps.size());
    for (std::size_t i = 0; i < m_plan.steps.size(); ++i) {
      m_index[m_plan.steps[i].id] = i;
    }
    for (const auto& step : m_plan.steps) {
      auto& needs = m_needs.emplace_back();
      for (const auto& need : step.needs) {
        needs.push_back(m_index.at(need));
      }
    }
    m_runtime_dir = m_state_file.parent_path() / "run";
    std::error_code ec;
    fs::create_directories(m_runtime_dir, ec);
    fs::permissions(m_runtime_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  }

  ~Runner() { join_workers(); }

  // Records a new run (before anything happens) and takes its lock.
  void start(std::optional<std::int64_t> parent_run, std::optional<std::string> parent_step, bool take_lock) {
    auto provenance = core::provenance(m_definitions.root);
    m_host = provenance.host;
    state::RunRepository runs(m_store);
    m_run_id = runs.start(state::new_run("plan", m_plan.header.name, provenance, m_definitions.root));
    state::PlanRun plan_run;
    plan_run.run_id = m_run_id;
    plan_run.plan = m_plan.header.name;
    plan_run.params = journal_json(redacted_params(m_plan, m_params));
    plan_run.parent_run = parent_run;
    plan_run.parent_step = parent_step;
    plan_run.event_id = m_options.event_id;
    plan_run.pid_start = util::process_start_id(::getpid());
    if (take_lock) {
      plan_run.lock_key = lock_key(m_plan, m_params);
    }
    m_journal.create(plan_run);
    if (plan_run.lock_key) {
      take(*plan_run.lock_key, plan_run.pid_start);
      admit(plan_run.pid_start);
    }
    init_values();
  }

  // Takes over an existing run (resume, rollback) in this process.
  void attach(std::int64_t run_id, const state::PlanRun& plan_run) {
    m_run_id = run_id;
    m_host = core::provenance(m_definitions.root).host;
    if (plan_run.lock_key) {
      take(*plan_run.lock_key, util::process_start_id(::getpid()));
    }
    m_admitted = plan_run.lock_key.has_value();
    init_values();
    // The values later steps read come back from the journal.
    for (const auto& row : m_journal.steps(run_id)) {
      if (row.phase != "do" || (row.state != "succeeded" && row.state != "skipped")) {
        continue;
      }
      auto outputs = row.outputs ? nlohmann::json::parse(*row.outputs, nullptr, false) : nlohmann::json::object();
      if (outputs.is_discarded()) {
        outputs = nlohmann::json::object();
      }
      if (row.step.find('[') == std::string::npos) {
        m_values["steps"][row.step] = step_values(outputs, row.state);
      }
    }
  }

  std::int64_t run_id() const { return m_run_id; }

  // Bounds the run by the timeout of the step that calls it.
  void limit(milliseconds timeout) {
    m_deadline = SteadyClock::now() + timeout;
    m_limit = timeout;
  }

  // A resumed run passes the protection rules again (a pause, a freeze).
  void readmit() { admit(util::process_start_id(::getpid())); }

  // Resume: decides what happens to each step from the journal.
  void prepare_resume() {
    std::vector<std::string> blocked;
    for (const auto& row : m_journal.steps(m_run_id)) {
      if (row.phase != "do") {
        continue;
      }
      const auto id = base_id(row.step);
      const auto* step = m_plan.find_step(id);
      if (step == nullptr) {
        throw Error(ExitCode::failure,
                    fmt::format("run {} has step '{}', which plan '{}' no longer has", m_run_id, id,
                                m_plan.header.name),
                    "the plan changed since the run started", "roll it back with `has plan rollback` instead");
      }
      auto& progress = progress_of(id);
      if (row.state == "succeeded" || row.state == "skipped") {
        progress.done_keys.insert(row.step);
        continue;
      }
      if (row.state == "failed" || row.kind == "confirm") {
        continue; // failed steps run again; gates ask again
      }
      // In flight when the run stopped (running, waiting, interrupted).
      auto listed = [&](const std::vector<std::string>& list) {
        return std::find(list.begin(), list.end(), row.step) != list.end() ||
               std::find(list.begin(), list.end(), id) != list.end();
      };
      if (listed(m_options.skip_steps)) {
        m_journal.step_state(m_run_id, row.step, "do", "skipped", "counted as done by the operator on resume");
        progress.done_keys.insert(row.step);
        emit(m_options, {Event::Type::skipped, m_run_id, m_depth, row.step, row.kind, "skipped",
                         "counted as done by the operator (--skip-step)", {}, 0, 0});
      } else if (!row.idempotent && !listed(m_options.rerun_steps) && row.step == id && !step->repeated()) {
        blocked.push_back(row.step);
      } else if (!row.idempotent && !listed(m_options.rerun_steps) && row.step != id) {
        blocked.push_back(row.step);
      }
    }
    if (!blocked.empty()) {
      throw Error(ExitCode::failure,
                  fmt::format("step{} {} of run {} {} in flight when the run stopped and {} not idempotent",
                              blocked.size() == 1 ? "" : "s", fmt::join(blocked, ", "), m_run_id,
                              blocked.size() == 1 ? "was" : "were", blocked.size() == 1 ? "is" : "are"),
                  "has cannot tell whether it completed",
                  fmt::format("check, then resume with --rerun-step {} to run it again or --skip-step {} if it "
                              "completed", blocked.front(), blocked.front()));
    }
    // A step (or a whole for_each) that finished before stays done.
    for (std::size_t i = 0; i < m_progress.size(); ++i) {
      if (m_progress[i].done_keys.count(m_plan.steps[i].id) != 0) {
        m_progress[i].phase = Progress::Phase::done;
      }
    }
  }

  // Runs the DAG to its end; then rolls back if the plan failed and says so.
  void execute() {
    m_journal.set_state(m_run_id, "running");
    const auto order = defs::topological_order(m_plan);
    if (m_plan.timeout) {
      auto own = SteadyClock::now() + *m_plan.timeout;
      if (!m_deadline || own < *m_deadline) {
        m_deadline = own;
        m_limit = *m_plan.timeout;
      }
    }
    // Sees `has plan abort` while a step runs on this thread.
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
            util::kill_running_children(SIGKILL);
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
        schedule(order);
        launch();
      }
      if (m_running == 0 && m_gates.empty() && (m_stopping || !launchable(order))) {
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

  // Undoes the run's completed steps, newest first; returns false if an
  // undo failed (the rest stay done and are listed in m_left_undone).
  bool undo_all() {
    m_journal.set_state(m_run_id, "rolling_back");
    auto rows = m_journal.steps(m_run_id);
    std::set<std::string> undone;
    for (const auto& row : rows) {
      if (row.phase == "undo" && row.state == "succeeded") {
        undone.insert(row.step);
      }
    }
    std::vector<const state::StepRecord*> todo;
    for (auto it = rows.rbegin(); it != rows.rend(); ++it) {
      if (it->phase == "do" && it->state == "succeeded" && undone.count(it->step) == 0 && undoable(*it)) {
        todo.push_back(&*it);
      }
    }
    expr::Engine engine;
    for (std::size_t i = 0; i < todo.size(); ++i) {
      const auto& row = *todo[i];
      if (!undo_one(engine, row)) {
        for (std::size_t j = i; j < todo.size(); ++j) {
          m_left_undone.push_back(todo[j]->step);
        }
        return false;
      }
    }
    return true;
  }

  // Returns whether the journal row has something to undo.
  bool undoable(const state::StepRecord& row) const {
    const auto* step = m_plan.find_step(base_id(row.step));
    if (step == nullptr) {
      return false;
    }
    if (step->repeated() && row.step == step->id) {
      return false; // the items are undone one by one
    }
    return step->rollback.has_value() || is_call(step->action.kind);
  }

  std::vector<std::string> undoable_steps() {
    std::vector<std::string> out;
    auto rows = m_journal.steps(m_run_id);
    std::set<std::string> undone;
    for (const auto& row : rows) {
      if (row.phase == "undo" && row.state == "succeeded") {
        undone.insert(row.step);
      }
    }
    for (auto it = rows.rbegin(); it != rows.rend(); ++it) {
      if (it->phase == "do" && it->state == "succeeded" && undone.count(it->step) == 0 && undoable(*it)) {
        out.push_back(it->step);
      }
    }
    return out;
  }

  // Finishes the run's records and returns its report.
  Report finish(std::string state, std::string reason) {
    Report report;
    report.run_id = m_run_id;
    report.plan = m_plan.header.name;
    report.state = state;
    report.reason = reason;
    report.params = redacted_params(m_plan, m_params);
    report.left_undone = m_left_undone;
    if (state == "interrupted" || state == "aborted" || (state == "failed" && m_left_undone.empty())) {
      report.undoable = undoable_steps();
    }
    m_journal.set_state(m_run_id, state, core::redact(reason)); // a resumed run drops the old reason
    state::RunRepository runs(m_store);
    auto status = state == "succeeded" ? "ok" : state == "interrupted" ? "interrupted" : "failed";
    nlohmann::json summary{{"plan", m_plan.header.name}, {"state", state}, {"reason", core::redact(reason)}};
    runs.finish(m_run_id, status, report.exit_code(), summary.dump());
    if (auto run = m_journal.get(m_run_id); run && run->lock_key) {
      m_journal.release(*run->lock_key, m_run_id);
    }
    if (m_admitted && state != "interrupted") {
      protect::finish(m_store, protection_scope(m_plan), m_run_id, state == "succeeded", std::chrono::system_clock::now());
    }
    report.journal = m_journal.steps(m_run_id);
    return report;
  }

  // The outcome of execute(): state and reason.
  const std::string& final_state() const { return m_state; }
  const std::string& final_reason() const { return m_reason; }
  const nlohmann::json& values() const { return m_values; }

private:
  void take(const std::string& key, const std::optional<std::string>& pid_start) {
    state::LockHolder wanted{key, m_run_id, m_host, static_cast<std::int64_t>(::getpid()), pid_start, {}};
    if (auto holder = m_journal.acquire(wanted, m_host)) {
      auto reason = fmt::format("lock '{}' is held by run {} (pid {} on {}, since {})", key, holder->run_id,
                                holder->pid, holder->host, holder->acquired_at);
      finish("failed", reason);
      throw Error(ExitCode::tempfail,
                  fmt::format("plan '{}' is already running on the same target: run {} holds it", m_plan.header.name,
                              holder->run_id),
                  reason,
                  fmt::format("wait for it (`has plan status {}`), or stop it with `has plan abort {}`",
                              holder->run_id, holder->run_id));
    }
  }

  // The protection rules: a run they block is recorded as failed, with
  // why, and refused with exit 75; overridden rules are journaled.
  void admit(const std::optional<std::string>& pid_start) {
    protect::Request request;
    request.scope = protection_scope(m_plan);
    request.targets = count_targets(m_definitions, m_plan, m_params);
    request.automatic = m_options.automatic;
    request.overrides = m_options.overrides;
    request.host = m_host;
    request.pid = ::getpid();
    request.pid_start = pid_start;
    auto decision = protect::admit(m_store, m_plan.protection, request, m_run_id, std::chrono::system_clock::now());
    if (!decision.allowed()) {
      auto reason = explain_blocks(decision.blocks);
      if (auto run = m_journal.get(m_run_id); run && run->lock_key) {
        m_journal.release(*run->lock_key, m_run_id);
      }
      finish("failed", "blocked: " + reason);
      throw Error(ExitCode::tempfail, fmt::format("plan '{}' may not run now", m_plan.header.name), reason,
                  m_options.automatic ? "wait until it is allowed"
                                      : fmt::format("wait, or break the rule on purpose: --override {} --reason TEXT",
                                                    decision.blocks.front().rule));
    }
    for (const auto& block : decision.overridden) {
      m_journal.add_override(m_run_id, {block.rule, m_options.override_reason + " (" + block.reason + ")",
                                        core::provenance(m_definitions.root).user, {}});
    }
    m_admitted = true;
  }

  void init_values() {
    m_values = {{"params", m_params},
                {"steps", nlohmann::json::object()},
                {"run", {{"id", m_run_id}}},
                {"plan", {{"name", m_plan.header.name}}},
                {"event", nullptr}};
    if (m_options.event_id) {
      state::EventRepository events(m_store);
      if (auto event = events.get(*m_options.event_id)) {
        m_values["event"] = state::event_values(*event);
      } else {
        m_values["event"] = {{"id", *m_options.event_id}};
      }
    }
  }

  bool cancelled() const {
    return m_cancel.load() || core::interrupt_requested() || (m_outer_cancelled && m_outer_cancelled());
  }

  void poll_control() {
    if (core::interrupt_requested() && !m_interrupted) {
      m_interrupted = true;
      stop("interrupted by a signal");
    }
    if (!m_aborted && m_journal.abort_requested(m_run_id)) {
      m_aborted = true;
      m_cancel = true;
      util::kill_running_children(SIGKILL);
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

  void stop(std::string reason) {
    if (!m_stopping) {
      m_stopping = true;
      m_reason = std::move(reason);
    }
  }

  std::size_t index_of(const defs::Step& step) const {
    return static_cast<std::size_t>(&step - m_plan.steps.data());
  }

  Progress& progress_of(const std::string& id) { return m_progress.at(m_index.at(id)); }

  bool needs_met(const defs::Step& step) const {
    for (auto need : m_needs[index_of(step)]) {
      if (m_progress[need].phase != Progress::Phase::done) {
        return false;
      }
    }
    return true;
  }

  bool launchable(const std::vector<const defs::Step*>& order) const {
    for (const auto* step : order) {
      const auto& progress = m_progress[index_of(*step)];
      if (progress.phase == Progress::Phase::waiting) {
        if (needs_met(*step)) {
          return true;
        }
      } else if (progress.phase == Progress::Phase::active && progress.next < progress.units.size()) {
        return true;
      }
    }
    return false;
  }

  // Moves steps whose needs are met from waiting to active (or skipped).
  void schedule(const std::vector<const defs::Step*>& order) {
    for (const auto* step : order) {
      auto& progress = m_progress[index_of(*step)];
      if (progress.phase != Progress::Phase::waiting || !needs_met(*step)) {
        continue;
      }
      if (step->when) {
        bool holds = false;
        try {
          expr::Source source{step->when->where.file, step->when->where.line, step->when->where.column};
          holds = m_engine.condition(step->when->text, m_values, source);
        } catch (const Error& e) {
          fail_step(*step, step->id, fmt::format("when: {}", e.what()));
          continue;
        }
        if (!holds) {
          progress.phase = Progress::Phase::done;
          m_values["steps"][step->id] = step_values(nlohmann::json::object(), "skipped");
          auto record = make_record(m_run_id, step->id, "do", 0, step->action.kind, "skipped");
          record.message = fmt::format("when: {} is false", step->when->text);
          m_journal.step_finished(record);
          emit(m_options, {Event::Type::skipped, m_run_id, m_depth, step->id, step->action.kind, "skipped",
                           *record.message, {}, 0, 0});
          continue;
        }
      }
      progress.phase = Progress::Phase::active;
      progress.repeated = step->repeated();
      if (!step->repeated()) {
        progress.units.push_back({step->id, std::nullopt});
        continue;
      }
      nlohmann::json items;
      try {
        items = expand_items(*step, m_values);
      } catch (const Error& e) {
        fail_step(*step, step->id, fmt::format("for_each: {}", e.what()));
        continue;
      }
      for (std::size_t i = 0; i < items.size(); ++i) {
        auto key = fmt::format("{}[{}]", step->id, item_key(items[i], i));
        progress.units.push_back({key, items[i]});
      }
      if (step->max_fail) {
        progress.allowed_failures =
          step->max_fail->percent
            ? static_cast<int>(step->max_fail->value * static_cast<double>(items.size()) / 100.0)
            : static_cast<int>(step->max_fail->value);
      }
      auto record = make_record(m_run_id, step->id, "do", 0, step->action.kind, "running", step->idempotent, 1);
      record.detail = fmt::format("for_each over {} item{}", items.size(), items.size() == 1 ? "" : "s");
      m_journal.step_started(record);
      if (items.empty()) {
        finish_repeated(*step);
      }
    }
  }

  nlohmann::json expand_items(const defs::Step& step, const nlohmann::json& values) {
    if (!step.for_each_hosts && !step.for_each_list && !step.for_each) {
      return nlohmann::json::array();
    }
    return step_items(m_definitions, m_engine, step, values);
  }

  // Returns how many units could start now (before limits): the one about
  // to start included.
  std::size_t ready_units() const {
    std::size_t count = 1;
    for (std::size_t i = 0; i < m_progress.size(); ++i) {
      const auto& progress = m_progress[i];
      if (progress.phase == Progress::Phase::active) {
        count += progress.units.size() - progress.next;
      } else if (progress.phase == Progress::Phase::waiting && needs_met(m_plan.steps[i])) {
        ++count;
      }
      if (count > 1) {
        return count;
      }
    }
    return count;
  }

  void launch() {
    for (const auto& step : m_plan.steps) {
      auto& progress = m_progress[index_of(step)];
      if (progress.phase != Progress::Phase::active) {
        continue;
      }
      while (progress.next < progress.units.size()) {
        if (progress.repeated) {
          if (progress.running >= step.max_parallel || progress.failed > progress.allowed_failures) {
            break;
          }
        } else if (m_running_steps >= m_plan.max_parallel) {
          return;
        }
        auto unit = progress.units[progress.next++];
        if (progress.done_keys.count(unit.key) != 0) {
          ++progress.succeeded;
          progress.items.push_back({{"item", unit.item ? *unit.item : nullptr}, {"status", "succeeded"}});
          if (progress.next == progress.units.size() && progress.running == 0) {
            finish_repeated(step);
          }
          continue;
        }
        start_unit(step, progress, unit, m_running == 0 && m_gates.empty() && ready_units() == 1);
        if (m_stopping) {
          return;
        }
      }
    }
  }

  void start_unit(const defs::Step& step, Progress& progress, const Unit& unit, bool alone) {
    // The item is bound while the step's fields are resolved; a copy of the
    // values goes to the worker only when it evaluates expressions.
    struct Bind {
      nlohmann::json& values;
      ~Bind() { values.erase("item"); }
    } bind{m_values};
    if (unit.item) {
      m_values["item"] = *unit.item;
    }
    const auto& local = m_values;
    action::Context context;
    context.definitions = &m_definitions;
    context.runtime_dir = m_runtime_dir;
    nlohmann::json fields;
    std::string detail;
    milliseconds timeout = step.timeout.value_or(step.action.kind == "confirm" ? k_default_confirm_timeout
                                                                                : k_default_timeout);
    if (m_deadline) {
      auto left = std::chrono::duration_cast<milliseconds>(*m_deadline - SteadyClock::now());
      timeout = std::max(milliseconds(1), std::min(timeout, left));
    }
    try {
      fields = resolve(m_engine, step.action.fields, local, step.action.where);
      detail = describe_action(step.action.kind, fields, timeout, context);
    } catch (const Error& e) {
      auto record = make_record(m_run_id, unit.key, "do", 0, step.action.kind, "running", step.idempotent, 1);
      m_journal.step_started(record);
      ++progress.running;
      ++m_running;
      if (!progress.repeated) {
        ++m_running_steps;
      }
      Message message;
      message.key = unit.key;
      message.message = e.reason().empty() ? e.what() : fmt::format("{}: {}", e.what(), e.reason());
      receive(std::move(message));
      return;
    }
    auto record = make_record(m_run_id, unit.key, "do", 0, step.action.kind, "running", step.idempotent, 1);
    record.detail = core::redact(detail);
    m_journal.step_started(record);
    ++progress.running;
    if (!progress.repeated) {
      ++m_running_steps;
    }
    emit(m_options, {Event::Type::started, m_run_id, m_depth, unit.key, step.action.kind, "running", {}, detail, 1, 0});
    if (unit.item) {
      m_unit_items[unit.key] = *unit.item;
    }
    if (step.action.kind == "confirm") {
      open_gate(step, unit.key, fields.value("message", fmt::format("continue with step '{}'?", step.id)), timeout);
      return;
    }
    ++m_running;
    nlohmann::json values;
    if (step.action.kind == "wait" || !step.expect.empty()) {
      values = local;
    }
    if (alone) {
      // Nothing else can run meanwhile: run it here, as a shell script would,
      // without a thread and its hand-offs (the watchdog still sees aborts).
      context.cancelled = [this] { return cancelled(); };
      context.values = values;
      work(step, unit.key, fields, values, timeout, context);
      return;
    }
    m_workers.emplace(unit.key, std::thread([this, &step, key = unit.key, fields = std::move(fields),
                                             values = std::move(values), timeout,
                                             context = std::move(context)]() mutable {
      context.cancelled = [this] { return cancelled(); };
      context.values = values;
      work(step, key, fields, values, timeout, context);
    }));
  }

  // A worker thread: attempts with backoff, expectations, one message per
  // retry and one at the end.
  void work(const defs::Step& step, const std::string& key, const nlohmann::json& fields, const nlohmann::json& local,
            milliseconds timeout, const action::Context& context) {
    Message result;
    result.key = key;
    std::optional<expr::Engine> engine;
    auto delay = step.retry_delay;
    for (int attempt = 1; attempt <= step.retries + 1; ++attempt) {
      result.attempt = attempt;
      if (attempt > 1) {
        Message retrying;
        retrying.type = Message::Type::retrying;
        retrying.key = key;
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
        action::Outcome outcome = is_call(step.action.kind) ? call(step.action.kind, fields, key, step.timeout)
                                  : step.action.kind == "notify" ? notify(fields)
                                                                 : run_action(step.action.kind, fields, timeout, context);
        result.ok = outcome.ok;
        result.message = outcome.message;
        result.exit_code = outcome.exit_code;
        result.outputs = std::move(outcome.outputs);
      } catch (const Error& e) {
        result.ok = false;
        result.message = e.reason().empty() ? e.what() : fmt::format("{}: {}", e.what(), e.reason());
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
        if (!expectations_hold(*engine, step, local, result.outputs, why)) {
          result.ok = false;
          result.message = why + (result.message.empty() ? "" : " (" + result.message + ")");
        }
      }
      if (result.ok || fatal || cancelled()) {
        break;
      }
    }
    result.type = Message::Type::finished;
    post(std::move(result));
  }

  static action::Outcome run_action(const std::string& kind, const nlohmann::json& fields, milliseconds timeout,
                                    const action::Context& context) {
    const auto* handler = action::find_kind(kind);
    if (handler == nullptr) {
      throw Error(ExitCode::unavailable, fmt::format("action kind '{}' is not available in this build", kind));
    }
    return handler->run(action::Spec{kind, fields, timeout}, context);
  }

  action::Outcome notify(const nlohmann::json& fields);

  // Runs a plan (`plan:`) or an Action template (`use:`) as a child run; the
  // calling step's timeout bounds it.
  action::Outcome call(const std::string& kind, const nlohmann::json& fields, const std::string& key,
                       std::optional<milliseconds> timeout = std::nullopt) {
    if (m_depth + 1 > k_max_depth) {
      throw Error(ExitCode::failure, fmt::format("plans nest deeper than {} levels", k_max_depth));
    }
    auto name = fields.value("name", std::string());
    const auto* callee = kind == "plan" ? m_definitions.find_plan(name) : m_definitions.find_action(name);
    if (callee == nullptr) {
      throw Error(ExitCode::bad_definitions, fmt::format("no {} named '{}'", kind == "plan" ? "plan" : "Action", name));
    }
    auto given = fields.contains(kind == "plan" ? "params" : "with") ? fields[kind == "plan" ? "params" : "with"]
                                                                     : nlohmann::json::object();
    auto params = params_from_json(*callee, given);
    Options options = m_options;
    options.rerun_steps.clear();
    options.skip_steps.clear();
    Runner child(m_definitions, m_state_file, *callee, params, options, m_depth + 1, [this] { return cancelled(); });
    child.start(m_run_id, key, kind == "plan");
    if (timeout) {
      child.limit(*timeout);
    }
    child.execute();
    auto report = child.finish(child.final_state(), child.final_reason());
    action::Outcome outcome;
    outcome.ok = report.state == "succeeded";
    outcome.message = fmt::format("run {} of {} '{}' {}{}", report.run_id, kind == "plan" ? "plan" : "Action", name,
                                  report.state, report.reason.empty() ? "" : ": " + report.reason);
    outcome.outputs = {{"run_id", report.run_id}, {"state", report.state}, {"steps", child.values()["steps"]}};
    return outcome;
  }

  void post(Message message) {
    {
      std::lock_guard lock(m_mutex);
      m_messages.push_back(std::move(message));
    }
    m_wake.notify_one();
  }

  void receive(Message message) {
    const auto id = base_id(message.key);
    const auto* step = m_plan.find_step(id);
    auto& progress = progress_of(id);
    if (message.type == Message::Type::retrying) {
      auto record = make_record(m_run_id, message.key, "do", 0, step->action.kind, "running", step->idempotent,
                               message.attempt);
      m_journal.step_started(record);
      emit(m_options, {Event::Type::retrying, m_run_id, m_depth, message.key, step->action.kind, "running",
                       message.message, {}, message.attempt, 0});
      return;
    }
    join_worker(message.key);
    if (!message.ok) {
      poll_control(); // a step killed by Ctrl-C or abort was not a failure of its own
    }
    if (step->action.kind != "confirm") {
      --m_running;
    }
    --progress.running;
    if (!progress.repeated) {
      --m_running_steps;
    }
    const bool killed = (m_interrupted || m_aborted || (m_cancel && !m_timed_out)) && !message.ok;
    auto state = message.ok ? "succeeded" : killed ? "interrupted" : "failed";
    auto outputs = message.outputs;
    if (auto it = m_unit_items.find(message.key); it != m_unit_items.end()) {
      outputs["item"] = it->second;
    }
    auto record = make_record(m_run_id, message.key, "do", 0, step->action.kind, state, step->idempotent,
                             message.attempt);
    record.exit_code = message.exit_code;
    record.message = core::redact(message.message);
    record.outputs = journal_json(outputs);
    m_journal.step_finished(record);
    emit(m_options, {Event::Type::finished, m_run_id, m_depth, message.key, step->action.kind, state,
                     message.message, {}, message.attempt, message.elapsed_ms});
    if (progress.repeated) {
      progress.items.push_back(step_values(outputs, state));
      message.ok ? ++progress.succeeded : ++progress.failed;
      if (progress.running == 0 && (progress.next >= progress.units.size() ||
                                    progress.failed > progress.allowed_failures || m_stopping)) {
        finish_repeated(*step);
      }
      return;
    }
    progress.phase = Progress::Phase::done;
    progress.ok = message.ok;
    m_values["steps"][id] = step_values(message.outputs, state);
    if (!message.ok && !killed) {
      on_step_failed(*step, message.message);
    }
  }

  void finish_repeated(const defs::Step& step) {
    auto& progress = m_progress[index_of(step)];
    progress.phase = Progress::Phase::done;
    const bool ok = progress.failed <= progress.allowed_failures && progress.next >= progress.units.size();
    progress.ok = ok;
    nlohmann::json outputs{{"items", progress.items},
                           {"succeeded", progress.succeeded},
                           {"failed", progress.failed},
                           {"total", progress.units.size()}};
    const bool killed = !ok && (m_interrupted || m_aborted);
    auto state = ok ? "succeeded" : killed ? "interrupted" : "failed";
    std::string message = fmt::format("{} of {} item{} succeeded, {} failed{}", progress.succeeded,
                                      progress.units.size(), progress.units.size() == 1 ? "" : "s", progress.failed,
                                      progress.allowed_failures > 0
                                        ? fmt::format(" (max_fail {})", progress.allowed_failures)
                                        : "");
    if (progress.next < progress.units.size()) {
      message += fmt::format("; {} not started", progress.units.size() - progress.next);
    }
    auto record = make_record(m_run_id, step.id, "do", 0, step.action.kind, state, step.idempotent, 1);
    record.message = message;
    record.outputs = journal_json(outputs);
    m_journal.step_finished(record);
    m_values["steps"][step.id] = step_values(outputs, state);
    if (!ok && !killed) {
      on_step_failed(step, message);
    }
  }

  void fail_step(const defs::Step& step, const std::string& key, const std::string& why) {
    auto& progress = m_progress[index_of(step)];
    progress.phase = Progress::Phase::done;
    progress.ok = false;
    auto record = make_record(m_run_id, key, "do", 0, step.action.kind, "failed", step.idempotent, 0);
    record.message = core::redact(why);
    m_journal.step_finished(record);
    m_values["steps"][step.id] = step_values(nlohmann::json::object(), "failed");
    emit(m_options, {Event::Type::finished, m_run_id, m_depth, key, step.action.kind, "failed", why, {}, 0, 0});
    on_step_failed(step, why);
  }

  void on_step_failed(const defs::Step& step, const std::string& why) {
    auto mode = step.on_failure.value_or(m_plan.on_failure);
    if (mode == defs::OnFailure::continue_on) {
      m_tolerated.push_back(step.id);
      return;
    }
    if (!m_stopping) {
      m_failure_mode = mode;
      m_failed_step = step.id;
      stop(fmt::format("step '{}' failed: {}", step.id, why));
    }
  }

  void open_gate(const defs::Step& step, const std::string& key, const std::string& message, milliseconds timeout) {
    auto approve = [&](const std::string& by) {
      m_journal.approve(m_run_id, key, by);
      Message done;
      done.key = key;
      done.ok = true;
      done.message = "approved by " + by;
      done.outputs = {{"approved_by", by}};
      receive(std::move(done));
    };
    if (m_journal.approved(m_run_id, key)) {
      approve("an earlier approval");
      return;
    }
    if (m_options.yes) {
      approve("--yes");
      return;
    }
    if (m_options.ask) {
      auto answer = m_options.ask(key, message);
      if (answer == Answer::approve) {
        approve(core::provenance(m_definitions.root).user);
        return;
      }
      if (answer == Answer::reject) {
        Message done;
        done.key = key;
        done.message = "rejected by the operator";
        receive(std::move(done));
        return;
      }
    }
    m_journal.step_state(m_run_id, key, "do", "waiting", message);
    m_journal.set_state(m_run_id, "waiting");
    emit(m_options, {Event::Type::waiting, m_run_id, m_depth, key, "confirm", "waiting",
                     fmt::format("{} — approve with: has plan approve {} {}", message, m_run_id, key), {}, 0, 0});
    m_gates.push_back({key, step.id, SteadyClock::now() + timeout});
  }

  void check_gates() {
    for (auto it = m_gates.begin(); it != m_gates.end();) {
      Message done;
      done.key = it->key;
      if (m_journal.approved(m_run_id, it->key)) {
        done.ok = true;
        done.message = "approved with `has plan approve`";
      } else if (m_stopping) {
        done.message = "not approved before the run stopped";
      } else if (SteadyClock::now() > it->deadline) {
        done.message = "not approved in time";
      } else {
        ++it;
        continue;
      }
      it = m_gates.erase(it);
      receive(std::move(done));
      if (m_gates.empty() && !m_stopping) {
        m_journal.set_state(m_run_id, "running");
      }
    }
  }

  void join_workers() {
    for (auto& [key, worker] : m_workers) {
      if (worker.joinable()) {
        worker.join();
      }
    }
    m_workers.clear();
  }

  // Joins the worker of key, which posted its last message.
  void join_worker(const std::string& key) {
    if (auto it = m_workers.find(key); it != m_workers.end()) {
      if (it->second.joinable()) {
        it->second.join();
      }
      m_workers.erase(it);
    }
  }

  // Decides how the run ended; rolls back when the plan says so.
  void conclude() {
    if (m_interrupted) {
      m_state = "interrupted";
      return;
    }
    if (m_aborted) {
      m_state = "aborted";
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
      emit(m_options, {Event::Type::note, m_run_id, m_depth, {}, {}, {}, "rolling back the completed steps", {}, 0, 0});
      m_state = undo_all() ? "rolled_back" : "rollback_failed";
      if (m_state == "rollback_failed") {
        m_reason += fmt::format("; rollback stopped, left undone: {}", fmt::join(m_left_undone, ", "));
      }
      return;
    }
    m_state = "failed";
  }

  bool undo_one(expr::Engine& engine, const state::StepRecord& row) {
    const auto* step = m_plan.find_step(base_id(row.step));
    auto outputs = row.outputs ? nlohmann::json::parse(*row.outputs, nullptr, false) : nlohmann::json::object();
    if (outputs.is_discarded()) {
      outputs = nlohmann::json::object();
    }
    auto local = m_values;
    if (outputs.contains("item")) {
      local["item"] = outputs["item"];
    }
    local["self"] = outputs;
    std::string kind = step->rollback ? step->rollback->kind : "rollback";
    auto record = make_record(m_run_id, row.step, "undo", 0, kind, "running", false, 1);
    action::Outcome outcome;
    std::string detail;
    const auto started = SteadyClock::now();
    try {
      if (step->rollback) {
        action::Context context;
        context.definitions = &m_definitions;
        context.runtime_dir = m_runtime_dir;
        context.cancelled = [] { return core::interrupt_requested(); };
        context.values = local;
        auto fields = resolve(engine, step->rollback->fields, local, step->rollback->where);
        auto timeout = step->timeout.value_or(k_default_timeout);
        detail = describe_action(kind, fields, timeout, context);
        record.detail = core::redact(detail);
        m_journal.step_started(record);
        emit(m_options, {Event::Type::undo_started, m_run_id, m_depth, row.step, kind, "running", {}, detail, 1, 0});
        if (is_call(kind)) {
          outcome = call(kind, fields, row.step + ":undo");
        } else if (kind == "notify") {
          outcome = notify(fields);
        } else if (kind == "confirm") {
          outcome.ok = m_options.yes || (m_options.ask && m_options.ask(row.step + ":undo",
                                                                        fields.value("message", "undo?")) ==
                                                            Answer::approve);
          outcome.message = outcome.ok ? "approved" : "not approved";
        } else {
          outcome = run_action(kind, fields, timeout, context);
        }
      } else {
        // A called plan or Action: undo its own completed steps.
        auto child_id = outputs.value("run_id", std::int64_t{0});
        detail = fmt::format("roll back run {}", child_id);
        record.detail = detail;
        m_journal.step_started(record);
        emit(m_options, {Event::Type::undo_started, m_run_id, m_depth, row.step, kind, "running", {}, detail, 1, 0});
        auto name = step->action.fields.value("name", std::string());
        const auto* callee = step->action.kind == "plan" ? m_definitions.find_plan(name) : m_definitions.find_action(name);
        state::PlanRepository journal(m_store);
        auto child_run = journal.get(child_id);
        if (callee == nullptr || !child_run) {
          throw Error(ExitCode::failure, fmt::format("cannot find run {} of '{}' to roll back", child_id, name));
        }
        auto params = nlohmann::json::parse(child_run->params, nullptr, false);
        Runner child(m_definitions, m_state_file, *callee, params.is_discarded() ? nlohmann::json::object() : params,
                     m_options, m_depth + 1, [] { return core::interrupt_requested(); });
        child.attach(child_id, *child_run);
        bool ok = child.undo_all();
        auto report = child.finish(ok ? "rolled_back" : "rollback_failed",
                                   ok ? "" : fmt::format("left undone: {}", fmt::join(child.m_left_undone, ", ")));
        outcome.ok = ok;
        outcome.message = fmt::format("run {} {}", child_id, report.state);
      }
    } catch (const Error& e) {
      outcome.ok = false;
      outcome.message = e.reason().empty() ? e.what() : fmt::format("{}: {}", e.what(), e.reason());
      if (!record.detail) {
        m_journal.step_started(record);
      }
    }
    record.state = outcome.ok ? "succeeded" : "failed";
    record.exit_code = outcome.exit_code;
    record.message = core::redact(outcome.message);
    record.outputs = journal_json(outcome.outputs);
    m_journal.step_finished(record);
    emit(m_options, {Event::Type::undo_finished, m_run_id, m_depth, row.step, kind, record.state, outcome.message,
                     {}, 1, std::chrono::duration<double, std::milli>(SteadyClock::now() - started).count()});
    return outcome.ok;
  }

  const defs::Definitions& m_definitions;
  fs::path m_state_file;
  const defs::Plan& m_plan;
  nlohmann::json m_params;
  const Options& m_options;
  int m_depth = 0;
  std::function<bool()> m_outer_cancelled;
  state::Store m_store;
  state::PlanRepository m_journal;
  expr::Engine m_engine;
  fs::path m_runtime_dir;
  std::string m_host;
  std::int64_t m_run_id = 0;
  nlohmann::json m_values = nlohmann::json::object();
  std::vector<Progress> m_progress;                      // by the step's index in the plan
  std::unordered_map<std::string, std::size_t> m_index; // step id -> index
  std::vector<std::vector<std::size_t>> m_needs;        // the indexes each step needs
  std::map<std::string, nlohmann::json> m_unit_items;
  std::vector<Gate> m_gates;
  std::map<std::string, std::thread> m_workers; // by unit key; joined as they finish
  std::mutex m_mutex;
  std::condition_variable m_wake;
  std::deque<Message> m_messages;
  int m_running = 0;       // worker threads in flight
  int m_running_steps = 0; // steps (not for_each items) in flight
  std::atomic<bool> m_cancel{false};
  bool m_stopping = false;
  bool m_interrupted = false;
  bool m_aborted = false;
  bool m_timed_out = false;
  std::optional<SteadyClock::time_point> m_deadline;
  std::optional<milliseconds> m_limit; // what m_deadline was set from
  defs::OnFailure m_failure_mode = defs::OnFailure::abort;
  std::string m_failed_step;
  std::vector<std::string> m_tolerated;
  std::vector<std::string> m_left_undone;
  std::string m_state;
  std::string m_reason;
  bool m_admitted = false;
};


action::Outcome Runner::notify(const nlohmann::json& fields) {
  auto name = fields.value("notifier", std::string());
  const defs::NotifierConfig* config = nullptr;
  for (const auto& candidate : m_definitions.config.notifiers) {
    if (candidate.name == name) {
      config = &candidate;
    }
  }
  if (config == nullptr) {
    throw Error(ExitCode::bad_definitions, fmt::format("no notifier named '{}' in has.yaml", name));
  }
  notify::Message message;
  message.title = fields.contains("title") ? fields["title"].get<std::string>()
                                           : fmt::format("plan {} (run {})", m_plan.header.name, m_run_id);
  message.text = fields.value("text", std::string());
  auto severity = fields.value("severity", std::string("warning"));
  message.status = probe::parse_status(severity).value_or(probe::Status::warning);
  notify::SystemClock clock;
  auto sent = notify::send_now(*config, message, clock);
  action::Outcome outcome;
  outcome.ok = sent.ok;
  outcome.message = sent.ok ? fmt::format("{} accepted the message", name)
                            : fmt::format("{}: {}", name, sent.error);
  outcome.outputs = {{"http_status", sent.http_status}, {"body", sent.body}};
  return outcome;
}

} // namespace

Report run(const defs::Definitions& definitions, const fs::path& state_file, const defs::Plan& plan,
           const nlohmann::json& params, const Options& options) {
  Runner runner(definitions, state_file, plan, params, options, 0, {});
  runner.start(std::nullopt, std::nullopt, true);
  runner.execute();
  return runner.finish(runner.final_state(), runner.final_reason());
}

namespace {

// The run and its plan, checked to be resumable by this process.
struct Stopped {
  state::Run run;
  state::PlanRun plan_run;
  const defs::Plan* plan = nullptr;
  nlohmann::json params;
};

Stopped stopped_run(const defs::Definitions& definitions, const fs::path& state_file, std::int64_t run_id,
                    const nlohmann::json& secrets, std::initializer_list<std::string_view> states) {
  auto store = state::Store::open(state_file);
  state::PlanRepository journal(store);
  state::RunRepository runs(store);
  auto plan_run = journal.get(run_id);
  auto run = runs.get(run_id);
  if (!plan_run || !run) {
    throw Error(ExitCode::usage, fmt::format("there is no plan run {}", run_id), {},
                "list the runs with `has plan history`");
  }
  if (plan_run->parent_run) {
    throw Error(ExitCode::usage, fmt::format("run {} was called by run {}", run_id, *plan_run->parent_run), {},
                fmt::format("resume or roll back run {} instead", *plan_run->parent_run));
  }
  auto host = core::provenance(definitions.root).host;
  bool alive = run->host == host && run->pid &&
               util::process_alive(static_cast<pid_t>(*run->pid), plan_run->pid_start) &&
               *run->pid != static_cast<std::int64_t>(::getpid());
  bool elsewhere = run->host != host && (plan_run->state == "running" || plan_run->state == "waiting");
  if (alive && (plan_run->state == "running" || plan_run->state == "waiting" || plan_run->state == "rolling_back")) {
    throw Error(ExitCode::tempfail, fmt::format("run {} is still running (pid {})", run_id, *run->pid), {},
                fmt::format("wait for it, or stop it with `has plan abort {}`", run_id));
  }
  if (elsewhere) {
    throw Error(ExitCode::tempfail, fmt::format("run {} is running on {}, not here", run_id, run->host.value_or("?")),
                {}, "resume it there, or abort it first");
  }
  if (std::find(states.begin(), states.end(), plan_run->state) == states.end() &&
      !(plan_run->state == "running" || plan_run->state == "waiting" || plan_run->state == "rolling_back")) {
    std::string list;
    for (auto state : states) {
      list += (list.empty() ? "" : ", ") + std::string(state);
    }
    throw Error(ExitCode::usage, fmt::format("run {} ended {}", run_id, plan_run->state), {},
                fmt::format("only a run that is {} (or whose process died) can be continued", list));
  }
  Stopped out;
  out.run = *run;
  out.plan_run = *plan_run;
  out.plan = definitions.find_plan(plan_run->plan);
  if (out.plan == nullptr) {
    throw Error(ExitCode::bad_definitions, fmt::format("run {} is of plan '{}', which the workspace no longer has",
                                                       run_id, plan_run->plan));
  }
  auto params = nlohmann::json::parse(plan_run->params, nullptr, false);
  if (params.is_discarded() || !params.is_object()) {
    params = nlohmann::json::object();
  }
  for (const auto& param : out.plan->params) {
    if (!param.secret || !params.contains(param.name) || params[param.name].is_null()) {
      continue;
    }
    if (!secrets.contains(param.name)) {
      throw Error(ExitCode::usage, fmt::format("parameter '{}' is secret and was not stored", param.name), {},
                  fmt::format("give it again: -p {}=...", param.name));
    }
    params[param.name] = secrets[param.name];
    if (params[param.name].is_string()) {
      core::register_secret(params[param.name].get<std::string>());
    }
  }
  out.params = std::move(params);
  return out;
}

} // namespace

Report resume(const defs::Definitions& definitions, const fs::path& state_file, std::int64_t run_id,
              const nlohmann::json& secrets, const Options& options) {
  auto stopped = stopped_run(definitions, state_file, run_id, secrets, {"interrupted", "failed", "aborted"});
  Runner runner(definitions, state_file, *stopped.plan, stopped.params, options, 0, {});
  runner.attach(run_id, stopped.plan_run);
  runner.prepare_resume();
  runner.readmit();
  {
    auto store = state::Store::open(state_file);
    state::RunRepository runs(store);
    // The run is live again: back to running in runs, with this process.
    store.transaction([&] {
      auto update = store.connection().prepare(
        "UPDATE runs SET status = 'running', finished_at = NULL, exit_code = NULL, pid = ? WHERE id = ?");
      update.bind(1, static_cast<std::int64_t>(::getpid())).bind(2, run_id);
      update.step();
      auto plan_update = store.connection().prepare(
        "UPDATE plan_runs SET pid_start = ?, abort_requested = 0 WHERE run_id = ?");
      plan_update.bind(1, util::process_start_id(::getpid())).bind(2, run_id);
      plan_update.step();
    });
  }
  emit(options, {Event::Type::note, run_id, 0, {}, {}, {}, fmt::format("resuming run {}", run_id), {}, 0, 0});
  runner.execute();
  return runner.finish(runner.final_state(), runner.final_reason());
}

Report rollback(const defs::Definitions& definitions, const fs::path& state_file, std::int64_t run_id,
                const nlohmann::json& secrets, const Options& options) {
  auto stopped = stopped_run(definitions, state_file, run_id, secrets,
                             {"interrupted", "failed", "aborted", "rollback_failed", "rolled_back", "succeeded"});
  Runner runner(definitions, state_file, *stopped.plan, stopped.params, options, 0, {});
  runner.attach(run_id, stopped.plan_run);
  bool ok = runner.undo_all();
  return runner.finish(ok ? "rolled_back" : "rollback_failed",
                       ok ? "rolled back by the operator" : "rollback stopped at a failed undo");
}

bool abort(const fs::path& state_file, std::int64_t run_id) {
  auto store = state::Store::open(state_file);
  state::PlanRepository journal(store);
  state::RunRepository runs(store);
  auto plan_run = journal.get(run_id);
  auto run = runs.get(run_id);
  if (!plan_run || !run) {
    throw Error(ExitCode::usage, fmt::format("there is no plan run {}", run_id));
  }
  if (plan_run->state != "running" && plan_run->state != "waiting" && plan_run->state != "rolling_back") {
    throw Error(ExitCode::usage, fmt::format("run {} already ended {}", run_id, plan_run->state));
  }
  char name[256] = {};
  ::gethostname(name, sizeof(name) - 1);
  bool alive = run->pid && (run->host != std::string(name) ||
                            util::process_alive(static_cast<pid_t>(*run->pid), plan_run->pid_start));
  journal.request_abort(run_id);
  if (alive) {
    return true;
  }
  journal.set_state(run_id, "aborted", std::string("aborted after its process had died"));
  for (const auto& row : journal.steps(run_id)) {
    if (row.state == "running" || row.state == "waiting") {
      journal.step_state(run_id, row.step, row.phase, "interrupted", std::string("the process running it died"));
    }
  }
  runs.finish(run_id, "failed", 1, nlohmann::json{{"plan", plan_run->plan}, {"state", "aborted"}}.dump());
  if (plan_run->lock_key) {
    journal.release(*plan_run->lock_key, run_id);
  }
  return false;
}

Explanation explain(const defs::Definitions& definitions, const fs::path& state_file, const defs::Plan& plan,
                    const nlohmann::json& params, const Options& options) {
  Explanation out;
  auto store = state::Store::open(state_file);
  state::PlanRepository journal(store);
  out.lock = lock_key(plan, params);
  for (const auto& holder : journal.locks()) {
    if (holder.key == out.lock) {
      out.holder = holder;
    }
  }
  protect::Request request;
  request.scope = protection_scope(plan);
  request.targets = count_targets(definitions, plan, params);
  request.automatic = options.automatic;
  request.overrides = options.overrides;
  request.host = core::provenance(definitions.root).host;
  request.pid = ::getpid();
  out.targets = request.targets;
  auto decision = protect::check(store, plan.protection, request, std::chrono::system_clock::now());
  out.blocks = decision.blocks;
  out.overridden = decision.overridden;
  if (out.holder) {
    auto run = state::RunRepository(store).get(out.holder->run_id);
    bool alive = !run || !run->pid || run->host != request.host ||
                 util::process_alive(static_cast<pid_t>(*run->pid), out.holder->pid_start);
    if (!alive) {
      out.holder.reset(); // a dead holder's lock is taken over
    }
  }
  return out;
}

Report report_of(const fs::path& state_file, std::int64_t run_id) {
  auto store = state::Store::open(state_file);
  state::PlanRepository journal(store);
  auto plan_run = journal.get(run_id);
  if (!plan_run) {
    throw Error(ExitCode::usage, fmt::format("there is no plan run {}", run_id), {},
                "list the runs with `has plan history`");
  }
  Report report;
  report.run_id = run_id;
  report.plan = plan_run->plan;
  report.state = plan_run->state;
  report.reason = plan_run->reason.value_or("");
  auto params = nlohmann::json::parse(plan_run->params, nullptr, false);
  report.params = params.is_discarded() ? nlohmann::json::object() : params;
  report.journal = journal.steps(run_id);
  return report;
}

namespace {

nlohmann::json placeholder_steps(const defs::Plan& plan) {
  auto steps = nlohmann::json::object();
  for (const auto& step : plan.steps) {
    auto name = [&](std::string_view field) { return fmt::format("<steps.{}.{}>", step.id, field); };
    steps[step.id] = {{"status", "succeeded"}, {"stdout", name("stdout")}, {"stderr", name("stderr")},
                      {"exit_code", 0},         {"body", name("body")},     {"run_id", 0},
                      {"items", nlohmann::json::array()}};
  }
  return steps;
}

std::vector<DryStep> dry_steps(const defs::Definitions& definitions, const defs::Plan& plan,
                               const nlohmann::json& params, int depth) {
  std::vector<DryStep> out;
  expr::Engine engine;
  nlohmann::json values{{"params", params}, {"steps", placeholder_steps(plan)}, {"run", {{"id", 0}}},
                        {"plan", {{"name", plan.header.name}}}, {"event", nullptr}};
  action::Context context;
  context.definitions = &definitions;
  // A placeholder ssh accepts as a control socket directory (no white space).
  context.runtime_dir = "<state-dir>/run";
  auto later = [](const Error& e) {
    return fmt::format("(resolved when it runs: {})", e.reason().empty() ? e.what() : e.reason());
  };
  for (const auto* step : defs::topological_order(plan)) {
    DryStep dry;
    dry.id = step->id;
    dry.kind = step->action.kind;
    dry.needs = step->needs;
    if (step->when) {
      try {
        dry.when = fmt::format("{} (now {})", step->when->text, engine.condition(step->when->text, values) ? "true" : "false");
      } catch (const Error&) {
        dry.when = step->when->text + " (decided when it runs)";
      }
    }
    std::vector<std::optional<nlohmann::json>> items{std::nullopt};
    if (step->repeated()) {
      items.clear();
      try {
        auto list = step_items(definitions, engine, *step, values);
        dry.for_each = fmt::format("{} item{}, {} at a time", list.size(), list.size() == 1 ? "" : "s",
                                   step->max_parallel);
        for (const auto& item : list) {
          items.emplace_back(item);
        }
      } catch (const Error& e) {
        dry.for_each = later(e);
      }
    }
    for (const auto& item : items) {
      auto local = values;
      if (item) {
        local["item"] = *item;
      }
      auto prefix = item ? fmt::format("[{}] ", item_key(*item, 0)) : std::string();
      auto timeout = step->timeout.value_or(k_default_timeout);
      try {
        auto fields = resolve(engine, step->action.fields, local, step->action.where);
        dry.detail.push_back(prefix + core::redact(describe_action(step->action.kind, fields, timeout, context)));
        if (is_call(step->action.kind) && depth < 3 && dry.called.empty()) {
          auto name = fields.value("name", std::string());
          const auto* callee = step->action.kind == "plan" ? definitions.find_plan(name) : definitions.find_action(name);
          if (callee != nullptr) {
            auto given = fields.value(step->action.kind == "plan" ? "params" : "with", nlohmann::json::object());
            dry.called = dry_steps(definitions, *callee, params_from_json(*callee, given), depth + 1);
          }
        }
      } catch (const Error& e) {
        dry.detail.push_back(prefix + later(e));
      }
      if (step->rollback) {
        try {
          auto fields = resolve(engine, step->rollback->fields, local, step->rollback->where);
          dry.rollback.push_back(prefix + core::redact(describe_action(step->rollback->kind, fields, timeout, context)));
        } catch (const Error& e) {
          dry.rollback.push_back(prefix + later(e));
        }
      } else if (is_call(step->action.kind)) {
        dry.rollback.push_back(prefix + "roll back the steps it ran");
      }
    }
    out.push_back(std::move(dry));
  }
  return out;
}

} // namespace

std::vector<DryStep> dry_run(const defs::Definitions& definitions, const defs::Plan& plan,
                             const nlohmann::json& params) {
  return dry_steps(definitions, plan, params, 0);
}

} // namespace has::plan
