#pragma once

// Actions change things (probes only observe). A plan step names one action
// kind and its fields; the engine resolves every ${{ }} and ${env:} in them,
// then calls the kind. Values reach programs only as argv elements or
// environment variables, never spliced into a shell string.

#include <has/defs/model.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace has::action {

// An action to run: its kind and its resolved fields.
struct Spec {
  std::string kind;
  nlohmann::json fields = nlohmann::json::object();
  // 0: no limit. A process is killed (its whole group) when it runs out.
  std::chrono::milliseconds timeout{0};
  // When the run is stopped (a signal, an abort): how long a process has
  // between SIGTERM and SIGKILL.
  std::chrono::milliseconds kill_grace{10'000};
};

// What an action did.
struct Outcome {
  bool ok = false;
  // A gate nobody could answer yet: neither approved nor rejected.
  bool pending = false;
  // One line: what happened ("exit 0", "HTTP 503", "nginx.service is active").
  std::string message;
  std::optional<int> exit_code;
  // What later steps read as steps.ID.<name>: stdout, stderr, exit_code and
  // json (stdout parsed, when it is JSON) for programs; status, headers,
  // body and json for HTTP; kind-specific values otherwise.
  nlohmann::json outputs = nlohmann::json::object();
};

// A person's answer at a gate, and who gave it.
struct Answer {
  enum class Verdict { approved, rejected, pending } verdict = Verdict::pending;
  std::string by;
};

// What the engine lends an action while it runs.
struct Context {
  // The workspace: inventory (host names -> addresses), rules, notifiers.
  const defs::Definitions* definitions = nullptr;
  // A private directory (mode 0700) for ssh control sockets and the like.
  std::filesystem::path runtime_dir;
  // The plan and run the step belongs to (empty and 0 outside a plan).
  std::string plan;
  std::int64_t run_id = 0;
  // Returns true once the run is aborted or interrupted; long waits poll it.
  std::function<bool()> cancelled;
  // params, steps, item, event, run, plan: what `wait` conditions and
  // expectations read.
  nlohmann::json values = nlohmann::json::object();
  // For gate kinds: asks for approval (an earlier one, --yes, a person at a
  // terminal) and returns pending when nobody can answer now.
  std::function<Answer(const std::string& message)> approve;
  // For call kinds: runs callee with params as a child run of this one
  // (Flow::call below), bounded by the step's timeout, and returns its
  // outcome; outputs hold run_id, state and steps.
  std::function<Outcome(const defs::Plan& callee, const nlohmann::json& params)> run_child;
};

// What a call kind's fields name: the plan or Action template to run, and
// the parameters given to it (not yet checked against its params).
struct Call {
  const defs::Plan* plan = nullptr;
  nlohmann::json given = nlohmann::json::object();
};

// How the engine runs a kind: work on a worker; a gate (confirm) on the
// scheduler, which keeps it open while pending; a call (plan, use) as a child
// run, undone by rolling that run back.
enum class Flow { work, gate, call };

// One action kind.
struct Kind {
  std::string_view name;
  // Returns exactly what run() would do — the argv, the URL, the remote
  // command — as one line for --dry-run and the journal (secrets are
  // redacted by the caller). Throws like run() for bad fields.
  std::string (*describe)(const Spec& spec, const Context& context);
  // Does it. Throws core::Error(ExitCode::bad_definitions) naming the field
  // for a field with a wrong value, core::Error(ExitCode::unavailable) when
  // the program it needs is missing; a failure of the thing acted on is an
  // Outcome with ok = false, not an exception.
  Outcome (*run)(const Spec& spec, const Context& context);
  Flow flow = Flow::work;
  // For Flow::call: the plan or Action template the fields name (nullptr if
  // there is none) and the parameters they give it.
  Call (*callee)(const Spec& spec, const defs::Definitions& definitions) = nullptr;
  // Whether a child run takes the plan's lock (a plan does; an Action
  // template runs under its caller's).
  bool child_takes_lock = false;
  // The step timeout when the step sets none (0: none).
  std::chrono::milliseconds default_timeout{std::chrono::minutes(10)};
  // Whether run() reads Context::values (a wait for a condition over them);
  // the engine copies them for such kinds only.
  bool reads_values = false;
};

// Returns the kind named name, or nullptr.
const Kind* find_kind(std::string_view name);

// Returns the names of the kinds find_kind() knows.
std::vector<std::string_view> kind_names();

} // namespace has::action
