#pragma once

// The runner ties the engine's parts together for one run of a plan: it
// records the run and takes its lock (or attaches to a stopped one), then
// loops — start what the schedule allows, journal each step before it starts
// and when it ends, keep gates open, watch for signals, aborts and the
// deadline — and finally concludes, rolling back when the plan says so. It
// holds one Store handle for its run; a plan called from a worker thread
// runs with a handle of its own. Internal to plan/: engine.cpp is the
// interface. Its methods live in runner.cpp (a run's life), dispatch.cpp
// (its steps and gates) and undo.cpp (rollback).

#include <has/action/action.hpp>
#include <has/core/error.hpp>
#include <has/expr/expr.hpp>
#include <has/plan/engine.hpp>
#include <has/plan/gates.hpp>
#include <has/plan/schedule.hpp>
#include <has/state/plan.hpp>
#include <has/state/store.hpp>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace has::plan {

class Runner {
public:
  // store is the run's handle, used on the calling thread only.
  Runner(const defs::Definitions& definitions, state::Store& store, std::filesystem::path state_file,
         const defs::Plan& plan, nlohmann::json params, const Options& options, int depth,
         std::function<bool()> outer_cancelled);
  ~Runner();
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  // Records a new run (before anything happens), takes its lock and passes
  // the protection rules. Throws core::Error(ExitCode::tempfail), the run
  // recorded as refused, when the lock is held or a rule blocks it.
  void start(std::optional<std::int64_t> parent_run, std::optional<std::string> parent_step, bool take_lock);
  // Takes over a stopped run (resume, rollback, approve) in this process.
  void attach(std::int64_t run_id, const state::PlanRun& plan_run);
  // Resume: decides each step cut short (decide_resume) and passes the
  // protection rules again; throws like decide_resume and start.
  void prepare_resume();
  // Bounds the run by the timeout of the step that calls it.
  void limit(std::chrono::milliseconds timeout);

  // Runs the DAG to its end, then concludes (rolling back if the plan
  // failed and says so); final_state() tells how it ended.
  void execute();
  // Undoes the completed steps, newest first; false if an undo failed (the
  // rest are listed in the report's left_undone).
  bool undo_all();
  // Finishes the run's records (state, runs row, lock, protection) and
  // returns its report.
  Report finish(const std::string& state, const std::string& reason);

  std::int64_t run_id() const noexcept { return m_run_id; }
  const std::string& final_state() const noexcept { return m_state; }
  const std::string& final_reason() const noexcept { return m_reason; }
  const nlohmann::json& values() const noexcept { return m_values; }

private:
  // What a worker tells the scheduler.
  struct Message {
    enum class Type { retrying, finished } type = Type::finished;
    Launch launch;
    int attempt = 1;
    bool ok = false;
    bool pending = false;
    std::string message;
    std::optional<int> exit_code;
    nlohmann::json outputs = nlohmann::json::object();
    double elapsed_ms = 0;
  };

  void take_lock(const std::string& key);
  void admit();
  [[noreturn]] void refuse(const std::string& reason, core::Error error);
  void init_values();
  bool cancelled() const;
  void poll_control();
  void stop(std::string reason);
  void schedule();
  void start_ready(const defs::Step& step);
  void launch();
  void start_unit(const Launch& launch);
  void open_gate(const Launch& launch, const action::Outcome& outcome, std::chrono::milliseconds timeout);
  void check_gates();
  void work(const Launch& launch, const nlohmann::json& values, const action::Spec& spec, action::Context context);
  action::Context context_for(const defs::Step& step, const std::string& key);
  action::Outcome run_child(const defs::Plan& callee, const nlohmann::json& given, bool take_lock,
                            const std::string& key, std::chrono::milliseconds timeout);
  void post(Message message);
  void receive(Message message);
  void finish_repeated(const defs::Step& step, const Tally& tally);
  void fail_step(const defs::Step& step, const std::string& key, const std::string& why);
  void on_step_failed(const defs::Step& step, const std::string& why);
  std::string cut_short_state(const defs::Step& step) const;
  void join_workers();
  void conclude();
  bool undo_one(expr::Engine& engine, const state::StepRecord& row);
  std::vector<std::string> undoable_steps();
  void emit(Event event) const;

  const defs::Definitions& m_definitions;
  state::Store& m_store;
  std::filesystem::path m_state_file;
  const defs::Plan& m_plan;
  nlohmann::json m_params;
  const Options& m_options;
  int m_depth = 0;
  std::function<bool()> m_outer_cancelled;
  state::PlanRepository m_journal;
  expr::Engine m_engine;
  std::filesystem::path m_runtime_dir;
  std::string m_host;
  std::int64_t m_run_id = 0;
  nlohmann::json m_values = nlohmann::json::object();
  Schedule m_schedule;
  Gates m_gates;
  std::map<std::string, nlohmann::json> m_unit_items;
  std::map<std::string, std::thread> m_workers; // by unit key; joined as they finish
  std::mutex m_mutex;
  std::condition_variable m_wake;
  std::deque<Message> m_messages;
  std::atomic<bool> m_cancel{false};
  bool m_stopping = false;
  bool m_interrupted = false;
  bool m_aborted = false;
  bool m_timed_out = false;
  bool m_parked = false; // a gate without input: the run ends waiting
  std::vector<std::string> m_waiting;
  std::optional<std::chrono::steady_clock::time_point> m_deadline;
  std::optional<std::chrono::milliseconds> m_limit; // what m_deadline was set from
  defs::OnFailure m_failure_mode = defs::OnFailure::abort;
  std::vector<std::string> m_tolerated;
  std::vector<std::string> m_left_undone;
  std::string m_state;
  std::string m_reason;
  bool m_admitted = false;
  bool m_attached = false; // took over a stopped run rather than starting one
};

// When a run stops: the time a step's processes have between SIGTERM and
// SIGKILL unless the step says (kill_grace).
inline constexpr std::chrono::milliseconds k_default_kill_grace{10'000};

// Returns the action kind named name. Throws core::Error(
// ExitCode::unavailable) for a kind this build lacks.
const action::Kind& kind_of(const std::string& name);

// Returns an error as one line: what failed, and why.
std::string error_text(const core::Error& e);

// Returns the protection scope of plan ("plan:NAME").
std::string protection_scope(const defs::Plan& plan);

// Returns how many targets a run will touch, as far as the parameters tell
// before it starts: the distinct items of its for_each steps.
int count_targets(const defs::Definitions& definitions, const defs::Plan& plan, const nlohmann::json& params);

} // namespace has::plan
