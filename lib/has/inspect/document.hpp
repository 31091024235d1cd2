#pragma once

#include <has/inspect/engine.hpp>
#include <has/state/inspect.hpp>
#include <has/state/runs.hpp>

#include <nlohmann/json.hpp>

namespace has::state {
class Store;
}

namespace has::inspect {

// The one result model every output of an inspection is rendered from
// (table, JSON, NDJSON, JUnit, and later Markdown and HTML reports):
//   {"run": {id, started_at, finished_at, status, host, user, git_commit,
//            git_dirty, counts}, "results": [{rule, target, status,
//            raw_status, message, elapsed_ms, attempts, flapping, pending,
//            findings, values, event_id}]}

// Returns the document of a run that just finished.
nlohmann::json to_document(const RunReport& report, bool with_values);

// Returns the counts of a run that just finished, as in its document:
// {checks, ok, warning, critical, unknown, muted}; a muted check counts as
// muted only.
nlohmann::json counts(const RunReport& report);

// Returns the document of a run that just finished as indented JSON, the
// same text as report::render_json(to_document(report, with_values)),
// written without building the document first (a run of thousands of checks
// would otherwise copy every value into it).
std::string render_json(const RunReport& report, bool with_values);

// Returns the document of a recorded run.
nlohmann::json to_document(const state::Run& run, const std::vector<state::InspectResult>& results,
                           bool with_values);

// Returns what changed from previous to current, over the checks of
// current: {"new": [...], "still": [...], "recovered": [...]}, each item
// "rule on target". A check absent from previous counts as ok before.
nlohmann::json diff(const nlohmann::json& previous, const nlohmann::json& current);

// Returns the extras of a report of the run in document: the trend of the
// last `runs` results per rule (oldest first) and the diff against the
// previous finished run. Throws SqliteError when the state cannot be read.
nlohmann::json report_extras(state::Store& store, const nlohmann::json& document, int runs);

// Returns the JUnit XML of a document: one testsuite per rule, one testcase
// per target; warning and critical are failures, unknown is an error.
std::string render_junit(const nlohmann::json& document);

} // namespace has::inspect
