#include <has/state/inspect.hpp>

#include <has/state/store.hpp>

#include <fmt/format.h>

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
  "last_seen, resolved_at, run_id, acknowledged_by, acknowledged_at, assignee, resolved_by, handled_at, level";

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
  e.run_id = row.column_optional_int64(12);
  e.acknowledged_by = row.column_optional_text(13);
  e.acknowledged_at = row.column_optional_text(14);
  e.assignee = row.column_optional_text(15);
  e.resolved_by = row.column_optional_text(16);
  e.handled_at = row.column_optional_text(17);
  e.level = row.column_optional_text(18);
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
    "UPDATE events SET count = count + 1, severity = ?, last_seen = ?, message = ?, title = ?, run_id = ? "
    "WHERE fingerprint = ? AND status = 'open' RETURNING id");
  update.bind(1, e.severity).bind(2, e.last_seen).bind(3, e.message).bind(4, e.title).bind(5, e.run_id).bind(
    6, e.fingerprint);
  if (update.step()) {
    return {update.column_int64(0), false};
  }
  auto insert = connection.prepare(
    "INSERT INTO events (fingerprint, source, title, severity, status, count, labels, message, "
    "first_seen, last_seen, run_id) VALUES (?, ?, ?, ?, 'open', 1, ?, ?, ?, ?, ?)");
  insert.bind(1, e.fingerprint)
    .bind(2, e.source)
    .bind(3, e.title)
    .bind(4, e.severity)
    .bind(5, e.labels)
    .bind(6, e.message)
    .bind(7, e.first_seen)
    .bind(8, e.last_seen)
    .bind(9, e.run_id);
  insert.step();
  return {connection.last_insert_rowid(), true};
}

std::optional<std::int64_t> EventRepository::resolve(const std::string& fingerprint, const std::string& at,
                                                     std::optional<std::int64_t> run_id) {
  auto update = m_store.connection().prepare(
    "UPDATE events SET status = 'resolved', resolved_at = ?, last_seen = ?, run_id = ? "
    "WHERE fingerprint = ? AND status = 'open' RETURNING id");
  update.bind(1, at).bind(2, at).bind(3, run_id).bind(4, fingerprint);
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

core::Error unknown_event(std::int64_t id) {
  return core::Error(core::ExitCode::usage, fmt::format("no risk event {}", id), {},
                     "list them with `has risk list --status all`");
}

nlohmann::json event_values(const Event& event) {
  auto labels = event.labels ? nlohmann::json::parse(*event.labels, nullptr, false) : nlohmann::json::object();
  return {{"id", event.id},
          {"title", event.title},
          {"severity", event.severity},
          {"source", event.source},
          {"status", event.status},
          {"fingerprint", event.fingerprint},
          {"count", event.count},
          {"labels", labels.is_object() ? labels : nlohmann::json::object()},
          {"message", event.message.value_or("")}};
}

std::optional<std::int64_t> EventRepository::open_id(const std::string& fingerprint) {
  auto query = m_store.connection().prepare("SELECT id FROM events WHERE fingerprint = ? AND status = 'open'");
  query.bind(1, fingerprint);
  if (!query.step()) {
    return std::nullopt;
  }
  return query.column_int64(0);
}

std::vector<TimelineEntry> EventRepository::timeline(std::int64_t id) {
  std::vector<TimelineEntry> out;
  auto query = m_store.connection().prepare(
    "SELECT t.id, t.event_id, t.at, t.kind, t.source, t.text, t.run_id, coalesce(t.actor, r.user), t.data "
    "FROM event_timeline t LEFT JOIN runs r ON r.id = t.run_id WHERE t.event_id = ? ORDER BY t.at, t.id");
  query.bind(1, id);
  while (query.step()) {
    TimelineEntry entry;
    entry.id = query.column_int64(0);
    entry.event_id = query.column_int64(1);
    entry.at = query.column_text(2);
    entry.kind = query.column_text(3);
    entry.source = query.column_text(4);
    entry.text = query.column_text(5);
    entry.run_id = query.column_optional_int64(6);
    entry.user = query.column_optional_text(7);
    entry.data = query.column_optional_text(8);
    out.push_back(std::move(entry));
  }
  return out;
}

namespace {

void add_line(Connection& connection, std::int64_t id, const std::string& at, std::string_view kind,
              const std::string& text, const std::string& by) {
  auto insert = connection.prepare(
    "INSERT INTO event_timeline (event_id, at, kind, source, text, actor) VALUES (?, ?, ?, 'operator', ?, ?)");
  insert.bind(1, id).bind(2, at).bind(3, kind).bind(4, text).bind(5, by);
  insert.step();
}

} // namespace

bool EventRepository::acknowledge(std::int64_t id, const std::string& by, const std::string& at) {
  auto update = m_store.connection().prepare(
    "UPDATE events SET acknowledged_by = ?, acknowledged_at = ? WHERE id = ? AND status = 'open' RETURNING id");
  update.bind(1, by).bind(2, at).bind(3, id);
  if (!update.step()) {
    return false;
  }
  add_line(m_store.connection(), id, at, "acknowledged", "acknowledged by " + by, by);
  return true;
}

bool EventRepository::assign(std::int64_t id, const std::string& assignee, const std::string& by,
                             const std::string& at) {
  auto update =
    m_store.connection().prepare("UPDATE events SET assignee = ? WHERE id = ? AND status = 'open' RETURNING id");
  update.bind(1, assignee).bind(2, id);
  if (!update.step()) {
    return false;
  }
  add_line(m_store.connection(), id, at, "assigned", "assigned to " + assignee, by);
  return true;
}

bool EventRepository::close(std::int64_t id, const std::string& by, const std::string& at) {
  // The trigger on status writes the line.
  auto update = m_store.connection().prepare(
    "UPDATE events SET status = 'resolved', resolved_at = ?, resolved_by = ? WHERE id = ? AND status = 'open' "
    "RETURNING id");
  update.bind(1, at).bind(2, by).bind(3, id);
  return update.step();
}

void EventRepository::note(const TimelineEntry& entry) {
  auto insert = m_store.connection().prepare(
    "INSERT INTO event_timeline (event_id, at, kind, source, text, run_id, actor, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  insert.bind(1, entry.event_id)
    .bind(2, entry.at)
    .bind(3, entry.kind)
    .bind(4, entry.source)
    .bind(5, entry.text)
    .bind(6, entry.run_id)
    .bind(7, entry.user)
    .bind(8, entry.data);
  insert.step();
}

std::vector<std::int64_t> EventRepository::unhandled() {
  std::vector<std::int64_t> out;
  auto query = m_store.connection().prepare(
    "SELECT id FROM events WHERE status = 'open' AND handled_at IS NULL ORDER BY first_seen, id");
  while (query.step()) {
    out.push_back(query.column_int64(0));
  }
  return out;
}

void EventRepository::mark_handled(std::int64_t id, const std::string& at) {
  auto update = m_store.connection().prepare("UPDATE events SET handled_at = ? WHERE id = ?");
  update.bind(1, at).bind(2, id);
  update.step();
}

bool EventRepository::set_level(std::int64_t id, const std::string& level) {
  auto update = m_store.connection().prepare(
    "UPDATE events SET level = ? WHERE id = ? AND (level IS NULL OR level <> ?) RETURNING id");
  update.bind(1, level).bind(2, id).bind(3, level);
  return update.step();
}

bool EventRepository::claim(std::int64_t id, const std::string& at) {
  auto update =
    m_store.connection().prepare("UPDATE events SET handled_at = ? WHERE id = ? AND handled_at IS NULL RETURNING id");
  update.bind(1, at).bind(2, id);
  return update.step();
}

void EventRepository::release(std::int64_t id) {
  auto update = m_store.connection().prepare("UPDATE events SET handled_at = NULL WHERE id = ?");
  update.bind(1, id);
  update.step();
}

void EventRepository::comment(std::int64_t id, const std::string& text, const std::string& by,
                              const std::string& at) {
  add_line(m_store.connection(), id, at, "comment", text, by);
}

} // namespace has::state
