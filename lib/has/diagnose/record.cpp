#include <has/diagnose/record.hpp>

#include <has/core/error.hpp>
#include <has/core/provenance.hpp>
#include <has/core/redact.hpp>
#include <has/state/diagnose.hpp>
#include <has/state/runs.hpp>
#include <has/state/store.hpp>

namespace has::diagnose {

Recorded walk_recorded(const defs::Definitions& definitions, const defs::Tree& tree, state::Store& store,
                       const WalkOptions& options, const std::function<void(std::int64_t run_id)>& on_start) {
  auto provenance = core::provenance(definitions.root);
  state::RunRepository runs(store);
  Recorded out;
  out.run_id = runs.start(state::new_run("diagnose", tree.header.name, provenance, definitions.root));
  if (on_start) {
    on_start(out.run_id);
  }
  auto observer = real_observer(definitions);
  try {
    out.outcome = walk(tree, *observer, options);
  } catch (...) {
    runs.finish(out.run_id, "failed", 3);
    throw;
  }
  out.doc = to_json(out.outcome);
  out.doc["tree"] = tree.header.name;
  out.doc["run_id"] = out.run_id;
  out.doc["event_id"] = options.event_id ? nlohmann::json(*options.event_id) : nlohmann::json();
  out.doc["workspace"] = {
    {"git_commit", provenance.git_commit ? nlohmann::json(*provenance.git_commit) : nlohmann::json()},
    {"git_dirty", provenance.git_dirty ? nlohmann::json(*provenance.git_dirty) : nlohmann::json()}};

  state::DiagnoseRun stored;
  stored.run_id = out.run_id;
  stored.tree = tree.header.name;
  stored.event_id = options.event_id;
  stored.outcome = std::string(end_name(out.outcome.end));
  stored.node = out.outcome.node;
  stored.severity = std::string(probe::status_name(out.outcome.severity));
  if (out.outcome.end == End::diagnosis) {
    stored.cause = out.outcome.diagnosis.cause;
  }
  // Values of ${env:} (secrets) filled into the plans never reach the state file.
  stored.conclusion = core::redact(out.doc["conclusion"].dump());
  stored.path = core::redact(out.doc["path"].dump());
  state::DiagnoseRepository(store).record(stored);
  out.exit_code = out.outcome.interrupted ? core::to_int(core::ExitCode::interrupted)
                                          : static_cast<int>(out.outcome.severity);
  runs.finish(out.run_id, out.outcome.interrupted ? "interrupted" : stored.severity, out.exit_code, stored.conclusion);
  return out;
}

} // namespace has::diagnose
