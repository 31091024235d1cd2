#include <has/state/diagnose.hpp>

#include <has/state/store.hpp>

namespace has::state {

namespace {

constexpr const char* k_columns =
  "d.run_id, d.tree, d.event_id, d.outcome, d.node, d.severity, d.cause, d.conclusion, d.path, r.started_at";

DiagnoseRun read_run(const Statement& row) {
  DiagnoseRun d;
  d.run_id = row.column_int64(0);
  d.tree = row.column_text(1);
  d.event_id = row.column_optional_int64(2);
  d.outcome = row.column_text(3);
  d.node = row.column_text(4);
  d.severity = row.column_text(5);
  d.cause = row.column_optional_text(6);
  d.conclusion = row.column_text(7);
  d.path = row.column_text(8);
  d.started_at = row.column_text(9);
  return d;
}

} // namespace

void DiagnoseRepository::record(const DiagnoseRun& run) {
  m_store.transaction([&] {
    auto insert = m_store.connection().prepare(
      "INSERT INTO diagnose_runs (run_id, tree, event_id, outcome, node, severity, cause, conclusion, path) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    insert.bind(1, run.run_id)
      .bind(2, run.tree)
      .bind(3, run.event_id)
      .bind(4, run.outcome)
      .bind(5, run.node)
      .bind(6, run.severity)
      .bind(7, run.cause)
      .bind(8, run.conclusion)
      .bind(9, run.path);
    insert.step();
  });
}

std::optional<DiagnoseRun> DiagnoseRepository::get(std::int64_t run_id) {
  auto query = m_store.connection().prepare(std::string("SELECT ") + k_columns +
                                            " FROM diagnose_runs d JOIN runs r ON r.id = d.run_id WHERE d.run_id = ?");
  query.bind(1, run_id);
  if (!query.step()) {
    return std::nullopt;
  }
  return read_run(query);
}

std::vector<DiagnoseRun> DiagnoseRepository::list(const std::optional<std::string>& tree,
                                                  const std::optional<std::int64_t>& event_id, int limit) {
  auto query = m_store.connection().prepare(
    std::string("SELECT ") + k_columns +
    " FROM diagnose_runs d JOIN runs r ON r.id = d.run_id"
    " WHERE (?1 IS NULL OR d.tree = ?1) AND (?2 IS NULL OR d.event_id = ?2)"
    " ORDER BY d.run_id DESC LIMIT ?3");
  query.bind(1, tree).bind(2, event_id).bind(3, static_cast<std::int64_t>(limit > 0 ? limit : -1));
  std::vector<DiagnoseRun> out;
  while (query.step()) {
    out.push_back(read_run(query));
  }
  return out;
}

} // namespace has::state
