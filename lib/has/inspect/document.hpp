#pragma once

#include <has/inspect/engine.hpp>
#include <has/state/inspect.hpp>
#include <has/state/runs.hpp>

#include <nlohmann/json.hpp>

namespace has::inspect {

// The one result model every output of an inspection is rendered from
// (table, JSON, NDJSON, JUnit, and later Markdown and HTML reports):
//   {"run": {id, started_at, finished_at, status, host, user, git_commit,
//            git_dirty, counts}, "results": [{rule, target, status,
//            raw_status, message, elapsed_ms, attempts, flapping, pending,
//            findings, values, event_id}]}

// Returns the document of a run that just finished.
nlohmann::json to_document(const RunReport& report, bool with_values);

// Returns the document of a recorded run.
nlohmann::json to_document(const state::Run& run, const std::vector<state::InspectResult>& results,
                           bool with_values);

// Returns the JUnit XML of a document: one testsuite per rule, one testcase
// per target; warning and critical are failures, unknown is an error.
std::string render_junit(const nlohmann::json& document);

} // namespace has::inspect
