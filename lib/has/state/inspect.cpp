#include <has/state/inspect.hpp>

#include <has/state/store.hpp>

namespace has::state {

namespace {

constexpr const char* k_result_columns =
  "id, run_id, rule, target, status, raw_status, muted, flapping, message, detail, values_json, "
  "evidence, elapsed_ms, attempts, at";

InspectResult read_result(const Statement& row) {
  InspectResult r;
  r.id = row.column_int64(0);
  r.run_id = row.column_int64(1);
  r.rule = row.column_text(2);
  r.target = row.column_text(3);
  r.status = row.column_text(4);
  r.raw_status = row.column_text(5);
  r.muted = row.column_int64(6) != 0;
  r.flapping = row.column_int64(7) != 0;
  r.message = row.column_text(8);
  r.detail = row.column_optional_text(9);
  r.values_json = row.column_optional_text(10);
  r.evidence = row.column_optional_text(11);
  r.elapsed_ms = row.column_double(12);
  r.attempts = static_cast<int>(row.column_int64(13));
  r.at = row.column_text(14);
  return r;
}

constexpr const char* k_event_columns =
  "id, fingerprint, source, title, severity, status, count, labels, message, first_seen, "
  "last_seen, resolved_at";

Event read_event(const Statement& row) {
  Event e;
  e.id = row.column_int64(0);
  e.fingerprint = row.column_text(1);
  e.source = row.column_text(2);
  e.title = row.column_text(3);
  e.severity = row.column_text(4);
  e.status = row.column_text(5);
  e.count = row.column_int64(6);
  e.labels = row.column_optional_text(7);
  e.message = row.column_optional_text(8);
  e.first_seen = row.column_text(9);
  e.last_seen = row.column_text(10);
  e.resolved_at = row.column_optional_text(11);
  return e;
}

} // namespace

std::map<std::pair<std::string, std::string>, RuleState> InspectRepository::states() {
  std::map<std::pair<std::string, std::string>, RuleState> out;
  auto query = m_store.connection().prepare(
    "SELECT rule, target, effective, fail_streak, ok_streak, history, flapping, last_raw, "
    "last_message, changed_at, updated_at FROM inspect_state");
  while (query.step()) {
    RuleState s;
    s.rule = query.column_text(0);
    s.target = query.column_text(1);
    s.effective = query.column_text(2);
    s.fail_streak = static_cast<int>(query.column_int64(3));
    s.ok_streak = static_cast<int>(query.column_int64(4));
    s.history = query.column_text(5);
    s.flapping = query.column_int64(6) != 0;
    s.last_raw = query.column_optional_text(7);
    s.last_message = query.column_optional_text(8);
    s.changed_at = query.column_text(9);
    s.updated_at = query.column_text(10);
    out[{s.rule, s.target}] = std::move(s);
  }
  return out;
}

void InspectRepository::save_state(const RuleState& s) {
  if (!m_save_state) {
    m_save_state = m_store.connection().prepare(
      "INSERT OR REPLACE INTO inspect_state (rule, target, effective, fail_streak, ok_streak, "
      "history, flapping, last_raw, last_message, changed_at, updated_at) VALUES (?, ?, ?, ?, ?, "
      "?, ?, ?, ?, ?, ?)");
  }
  auto& statement = *m_save_state;
  statement.reset();
  statement.bind(1, s.rule)
    .bind(2, s.target)
    .bind(3, s.effective)
    .bind(4, s.fail_streak)
    .bind(5, s.ok_streak)
    .bind(6, s.history)
    .bind(7, s.flapping)
    .bind(8, s.last_raw)
    .bind(9, s.last_message)
    .bind(10, s.changed_at)
    .bind(11, s.updated_at);
  statement.step();
}

std::int64_t InspectRepository::add_result(const InspectResult& r) {
  auto& connection = m_store.connection();
  if (!m_add_result) {
    m_add_result = connection.prepare(
      "INSERT INTO inspect_results (run_id, rule, target, status, raw_status, muted, flapping, "
      "message, detail, values_json, evidence, elapsed_ms, attempts, at) VALUES (?, ?, ?, ?, ?, ?, "
      "?, ?, ?, ?, ?, ?, ?, ?)");
  }
  auto& statement = *m_add_result;
  statement.reset();
  statement.bind(1, r.run_id)
    .bind(2, r.rule)
    .bind(3, r.target)
    .bind(4, r.status)
    .bind(5, r.raw_status)
    .bind(6, r.muted)
    .bind(7, r.flapping)
    .bind(8, r.message)
    .bind(9, r.detail)
    .bind(10, r.values_json)
    .bind(11, r.evidence)
    .bind(12, r.elapsed_ms)
    .bind(13, r.attempts)
    .bind(14, r.at);
  statement.step();
  return connection.last_insert_rowid();
}

std::vector<InspectResult> InspectRepository::results_of_run(std::int64_t run_id) {
  std::vector<InspectResult> out;
  auto query = m_store.connection().prepare(
    std::string("SELECT ") + k_result_columns + " FROM inspect_results WHERE run_id = ? ORDER BY id");
  query.bind(1, run_id);
  while (query.step()) {
    out.push_back(read_result(query));
  }
  return out;
}

std::vector<InspectResult> InspectRepository::history(const std::optional<std::string>& rule,
                                                      const std::optional<std::string>& since,
                                                      int limit) {
  std::vector<InspectResult> out;
  auto query = m_store.connection().prepare(
    std::string("SELECT ") + k_result_columns +
    " FROM inspect_results WHERE (?1 IS NULL OR rule = ?1) AND (?2 IS NULL OR at >= ?2) "
    "ORDER BY at DESC, id DESC LIMIT ?3");
  query.bind(1, rule).bind(2, since).bind(3, limit > 0 ? limit : -1);
  while (query.step()) {
    out.push_back(read_result(query));
  }
  return out;
}

std::pair<std::int64_t, bool> EventRepository::raise(const Event& e) {
  auto& connection = m_store.connection();
  auto update = connection.prepare(
    "UPDATE events SET count = count + 1, severity = ?, last_seen = ?, message = ?, title = ? "
    "WHERE fingerprint = ? AND status = 'open' RETURNING id");
  update.bind(1, e.severity).bind(2, e.last_seen).bind(3, e.message).bind(4, e.title).bind(5, e.fingerprint);
  if (update.step()) {
    return {update.column_int64(0), false};
  }
  auto insert = connection.prepare(
    "INSERT INTO events (fingerprint, source, title, severity, status, count, labels, message, "
    "first_seen, last_seen) VALUES (?, ?, ?, ?, 'open', 1, ?, ?, ?, ?)");
  insert.bind(1, e.fingerprint)
    .bind(2, e.source)
    .bind(3, e.title)
    .bind(4, e.severity)
    .bind(5, e.labels)
    .bind(6, e.message)
    .bind(7, e.first_seen)
    .bind(8, e.last_seen);
  insert.step();
  return {connection.last_insert_rowid(), true};
}

std::optional<std::int64_t> EventRepository::resolve(const std::string& fingerprint,
                                                     const std::string& at) {
  auto update = m_store.connection().prepare(
    "UPDATE events SET status = 'resolved', resolved_at = ?, last_seen = ? "
    "WHERE fingerprint = ? AND status = 'open' RETURNING id");
  update.bind(1, at).bind(2, at).bind(3, fingerprint);
  if (update.step()) {
    return update.column_int64(0);
  }
  return std::nullopt;
}

std::vector<Event> EventRepository::list(const std::optional<std::string>& status, int limit) {
  std::vector<Event> out;
  auto query = m_store.connection().prepare(
    std::string("SELECT ") + k_event_columns +
    " FROM events WHERE (?1 IS NULL OR status = ?1) ORDER BY last_seen DESC, id DESC LIMIT ?2");
  query.bind(1, status).bind(2, limit > 0 ? limit : -1);
  while (query.step()) {
    out.push_back(read_event(query));
  }
  return out;
}

std::optional<Event> EventRepository::get(std::int64_t id) {
  auto query = m_store.connection().prepare(std::string("SELECT ") + k_event_columns + " FROM events WHERE id = ?");
  query.bind(1, id);
  if (!query.step()) {
    return std::nullopt;
  }
  return read_event(query);
}

} // namespace has::state
