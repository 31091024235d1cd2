#pragma once

// Actions change things (probes only observe). A plan step names one action
// kind and its fields; the engine resolves every ${{ }} and ${env:} in them,
// then calls the kind. Values reach programs only as argv elements or
// environment variables, never spliced into a shell string.

#include <has/defs/model.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
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
};

// What an action did.
struct Outcome {
  bool ok = false;
  // One line: what happened ("exit 0", "HTTP 503", "nginx.service is active").
  std::string message;
  std::optional<int> exit_code;
  // What later steps read as steps.ID.<name>: stdout, stderr, exit_code and
  // json (stdout parsed, when it is JSON) for programs; status, headers,
  // body and json for HTTP; kind-specific values otherwise.
  nlohmann::json outputs = nlohmann::json::object();
};

// What the engine lends an action while it runs.
struct Context {
  // The workspace: inventory (host names -> addresses), rules, notifiers.
  const defs::Definitions* definitions = nullptr;
  // A private directory (mode 0700) for ssh control sockets and the like.
  std::filesystem::path runtime_dir;
  // Returns true once the run is aborted or interrupted; long waits poll it.
  std::function<bool()> cancelled;
  // params, steps, item, event: what `wait` conditions and expectations read.
  nlohmann::json values = nlohmann::json::object();
};

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
};

// Returns the kind named name, or nullptr (plan, use and confirm are the
// engine's own and not listed here).
const Kind* find_kind(std::string_view name);

// Returns the names of the kinds find_kind() knows.
std::vector<std::string_view> kind_names();

} // namespace has::action
