// The engine's interface: each call opens the state file once and hands the
// run to a Runner (runner.cpp), which does the work with the schedule,
// journal, undo and gates parts.

#include <has/plan/engine.hpp>

#include <has/core/error.hpp>
#include <has/core/provenance.hpp>
#include <has/core/redact.hpp>
#include <has/plan/journal.hpp>
#include <has/plan/runner.hpp>
#include <has/state/runs.hpp>
#include <has/state/store.hpp>
#include <has/util/pid.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <initializer_list>
#include <utility>
#include <unistd.h>

namespace has::plan {

namespace fs = std::filesystem;
using core::Error;
using core::ExitCode;

int Report::exit_code() const {
  if (state == "succeeded") {
    return 0;
  }
  if (state == "waiting") {
    return core::to_int(ExitCode::tempfail);
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

Report run(const defs::Definitions& definitions, const fs::path& state_file, const defs::Plan& plan,
           const nlohmann::json& params, const Options& options) {
  auto store = state::Store::open(state_file);
  Runner runner(definitions, store, state_file, plan, params, options, 0, {});
  runner.start(std::nullopt, std::nullopt, true);
  runner.execute();
  return runner.finish(runner.final_state(), runner.final_reason());
}

namespace {

bool live_state(std::string_view state) { return state == "running" || state == "waiting" || state == "rolling_back"; }

// Returns whether the process that ran the run is alive on this host.
bool process_alive(const state::Run& run, const state::PlanRun& plan_run, const std::string& host) {
  return run.host == host && run.pid && util::process_alive(static_cast<pid_t>(*run.pid), plan_run.pid_start) &&
         *run.pid != static_cast<std::int64_t>(::getpid());
}

// The run and its plan, checked to be continued by this process.
struct Stopped {
  state::Run run;
  state::PlanRun plan_run;
  const defs::Plan* plan = nullptr;
  nlohmann::json params;
};

// Returns the run's rows; throws core::Error(ExitCode::usage) for a run that
// is no plan run.
std::pair<state::Run, state::PlanRun> find_run(state::Store& store, std::int64_t run_id) {
  auto plan_run = state::PlanRepository(store).get(run_id);
  auto run = state::RunRepository(store).get(run_id);
  if (!plan_run || !run) {
    throw Error(ExitCode::usage, fmt::format("there is no plan run {}", run_id), {},
                "list the runs with `has plan history`");
  }
  return {*run, *plan_run};
}

Stopped stopped_run(state::Store& store, const defs::Definitions& definitions, std::int64_t run_id,
                    const nlohmann::json& secrets, std::initializer_list<std::string_view> states) {
  auto [found_run, found_plan_run] = find_run(store, run_id);
  const auto* run = &found_run;
  const auto* plan_run = &found_plan_run;
  if (plan_run->parent_run) {
    throw Error(ExitCode::usage, fmt::format("run {} was called by run {}", run_id, *plan_run->parent_run), {},
                fmt::format("resume or roll back run {} instead", *plan_run->parent_run));
  }
  auto host = core::provenance(definitions.root).host;
  // A run that ended waiting at a gate has no process, on purpose.
  bool parked = plan_run->state == "waiting" && run->finished_at.has_value();
  if (process_alive(*run, *plan_run, host) && live_state(plan_run->state) && !parked) {
    throw Error(ExitCode::tempfail, fmt::format("run {} is still running (pid {})", run_id, *run->pid), {},
                fmt::format("wait for it, or stop it with `has plan abort {}`", run_id));
  }
  if (run->host != host && (plan_run->state == "running" || plan_run->state == "waiting") && !parked) {
    throw Error(ExitCode::tempfail, fmt::format("run {} is running on {}, not here", run_id, run->host.value_or("?")),
                {}, "resume it there, or abort it first");
  }
  if (std::find(states.begin(), states.end(), plan_run->state) == states.end() && !live_state(plan_run->state)) {
    throw Error(ExitCode::usage, fmt::format("run {} ended {}", run_id, plan_run->state), {},
                fmt::format("only a run that is {} (or whose process died) can be continued",
                            fmt::join(states, ", ")));
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

Report resume_in(state::Store& store, const defs::Definitions& definitions, const fs::path& state_file,
                 std::int64_t run_id, const nlohmann::json& secrets, const Options& options) {
  auto stopped = stopped_run(store, definitions, run_id, secrets, {"interrupted", "failed", "aborted", "waiting"});
  Runner runner(definitions, store, state_file, *stopped.plan, stopped.params, options, 0, {});
  runner.attach(run_id, stopped.plan_run);
  runner.prepare_resume();
  if (options.on_event) {
    Event note;
    note.run_id = run_id;
    note.message = fmt::format("resuming run {}", run_id);
    options.on_event(note);
  }
  runner.execute();
  return runner.finish(runner.final_state(), runner.final_reason());
}

} // namespace

Report resume(const defs::Definitions& definitions, const fs::path& state_file, std::int64_t run_id,
              const nlohmann::json& secrets, const Options& options) {
  auto store = state::Store::open(state_file);
  return resume_in(store, definitions, state_file, run_id, secrets, options);
}

Report rollback(const defs::Definitions& definitions, const fs::path& state_file, std::int64_t run_id,
                const nlohmann::json& secrets, const Options& options) {
  auto store = state::Store::open(state_file);
  auto stopped = stopped_run(store, definitions, run_id, secrets,
                             {"interrupted", "failed", "aborted", "rollback_failed", "rolled_back", "succeeded",
                              "waiting"});
  Runner runner(definitions, store, state_file, *stopped.plan, stopped.params, options, 0, {});
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
  if (!live_state(plan_run->state)) {
    throw Error(ExitCode::usage, fmt::format("run {} already ended {}", run_id, plan_run->state));
  }
  char name[256] = {};
  ::gethostname(name, sizeof(name) - 1);
  bool alive = !run->finished_at && run->pid &&
               (run->host != std::string(name) ||
                util::process_alive(static_cast<pid_t>(*run->pid), plan_run->pid_start));
  journal.request_abort(run_id);
  if (alive) {
    return true;
  }
  journal.set_state(run_id, "aborted", std::string("aborted after its process had ended"));
  for (const auto& row : journal.steps(run_id)) {
    if (row.state == "running" || row.state == "waiting") {
      journal.step_state(run_id, row.step, row.phase, k_interrupted, std::string("the process running it ended"));
    }
  }
  runs.finish(run_id, "failed", 1, nlohmann::json{{"plan", plan_run->plan}, {"state", "aborted"}}.dump());
  if (plan_run->lock_key) {
    journal.release(*plan_run->lock_key, run_id);
  }
  return false;
}

Approval approve(const defs::Definitions& definitions, const fs::path& state_file, std::int64_t run_id,
                 const std::string& step, const std::string& by, const nlohmann::json& secrets,
                 const Options& options, std::optional<Report>& report) {
  auto store = state::Store::open(state_file);
  state::PlanRepository journal(store);
  auto [found_run, found_plan_run] = find_run(store, run_id);
  const auto* run = &found_run;
  const auto* plan_run = &found_plan_run;
  std::vector<std::string> waiting;
  bool gate = false;
  for (const auto& row : journal.steps(run_id)) {
    const auto* kind = action::find_kind(row.kind);
    bool is_gate = kind != nullptr && kind->flow == action::Flow::gate && row.phase == "do";
    gate = gate || (is_gate && row.step == step);
    if (is_gate && row.state == "waiting") {
      waiting.push_back(row.step);
    }
  }
  if (!gate) {
    throw Error(ExitCode::usage, fmt::format("run {} has no confirm step '{}' that has been reached", run_id, step),
                {},
                waiting.empty() ? "nothing of it is waiting for approval"
                                : fmt::format("waiting: {}", fmt::join(waiting, ", ")));
  }
  journal.approve(run_id, step, by);
  auto host = core::provenance(definitions.root).host;
  if (!live_state(plan_run->state) || plan_run->parent_run ||
      (process_alive(*run, *plan_run, host) && !run->finished_at) || run->host != host) {
    return Approval::recorded; // the live run (or its caller) picks it up
  }
  report = resume_in(store, definitions, state_file, run_id, secrets, options);
  return Approval::continued;
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
  for (const auto& row : report.journal) {
    if (row.phase == "do" && row.state == "waiting") {
      report.waiting.push_back(row.step);
    }
  }
  return report;
}

} // namespace has::plan
