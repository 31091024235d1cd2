#include <has/state/protect.hpp>

#include <has/state/store.hpp>

namespace has::state {

namespace {

using std::chrono::milliseconds;
using TimePoint = std::chrono::system_clock::time_point;

// The tables keep Unix milliseconds.
std::int64_t to_ms(TimePoint time) {
  return std::chrono::duration_cast<milliseconds>(time.time_since_epoch()).count();
}

TimePoint from_ms(std::int64_t ms) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(milliseconds(ms)));
}

std::optional<TimePoint> from_optional_ms(std::optional<std::int64_t> ms) {
  if (ms) {
    return from_ms(*ms);
  }
  return std::nullopt;
}

// The pause of every run is kept under the scope ''.
std::string pause_key(const std::optional<std::string>& scope) { return scope.value_or(std::string()); }

// Reads reason, by_user, at_ms from column 1 on, the scope from column 0.
ProtectPause read_pause(const Statement& row) {
  ProtectPause pause;
  if (auto scope = row.column_text(0); !scope.empty()) {
    pause.scope = std::move(scope);
  }
  pause.reason = row.column_text(1);
  pause.by = row.column_optional_text(2);
  pause.at = from_ms(row.column_int64(3));
  return pause;
}

} // namespace

std::vector<ProtectOpenRun> ProtectRepository::open_runs(std::string_view scope,
                                                         std::optional<std::int64_t> except_run) {
  auto query = m_store.connection().prepare(
    "SELECT run_id, host, pid, pid_start FROM protect_runs "
    "WHERE scope = ?1 AND finished_ms IS NULL AND (?2 IS NULL OR run_id != ?2) ORDER BY run_id");
  query.bind(1, scope).bind(2, except_run);
  std::vector<ProtectOpenRun> out;
  while (query.step()) {
    out.push_back({query.column_int64(0), query.column_text(1), query.column_int64(2),
                   query.column_optional_text(3)});
  }
  return out;
}

std::vector<TimePoint> ProtectRepository::starts_after(std::string_view scope, TimePoint after,
                                                       std::optional<std::int64_t> except_run) {
  auto query = m_store.connection().prepare(
    "SELECT started_ms FROM protect_runs WHERE scope = ?1 AND started_ms > ?2 "
    "AND (?3 IS NULL OR run_id != ?3) ORDER BY started_ms");
  query.bind(1, scope).bind(2, to_ms(after)).bind(3, except_run);
  std::vector<TimePoint> out;
  while (query.step()) {
    out.push_back(from_ms(query.column_int64(0)));
  }
  return out;
}

ProtectCounters ProtectRepository::counters(std::string_view scope) {
  auto query = m_store.connection().prepare(
    "SELECT last_start_ms, last_finish_ms, last_succeeded, consecutive_failures, rate_window_ms, "
    "breaker_failures FROM protect_scopes WHERE scope = ?");
  query.bind(1, scope);
  ProtectCounters out;
  if (query.step()) {
    out.last_start = from_optional_ms(query.column_optional_int64(0));
    out.last_finish = from_optional_ms(query.column_optional_int64(1));
    if (auto value = query.column_optional_int64(2)) {
      out.last_succeeded = *value != 0;
    }
    out.consecutive_failures = static_cast<int>(query.column_int64(3));
    if (auto value = query.column_optional_int64(4)) {
      out.rate_window = milliseconds(*value);
    }
    if (auto value = query.column_optional_int64(5)) {
      out.breaker_failures = static_cast<int>(*value);
    }
  }
  return out;
}

void ProtectRepository::record_start(const ProtectStart& start) {
  auto& db = m_store.connection();
  // A resumed run keeps its first start: it is not a new one.
  auto upsert = db.prepare(
    "INSERT INTO protect_runs (scope, run_id, host, pid, pid_start, automatic, targets, started_ms) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (scope, run_id) DO UPDATE SET host = excluded.host, pid = excluded.pid, "
    "pid_start = excluded.pid_start, automatic = excluded.automatic, targets = excluded.targets, "
    "finished_ms = NULL, outcome = NULL");
  upsert.bind(1, start.scope).bind(2, start.run_id).bind(3, start.host).bind(4, start.pid);
  upsert.bind(5, start.pid_start).bind(6, start.automatic).bind(7, start.targets).bind(8, to_ms(start.at));
  upsert.step();

  auto update = db.prepare(
    "INSERT INTO protect_scopes (scope, last_start_ms, rate_window_ms, breaker_failures) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT (scope) DO UPDATE SET last_start_ms = ?2, rate_window_ms = ?3, breaker_failures = ?4");
  update.bind(1, start.scope).bind(2, to_ms(start.at));
  update.bind(3, start.rate_window ? std::optional<std::int64_t>(start.rate_window->count()) : std::nullopt);
  update.bind(4, start.breaker_failures);
  update.step();

  auto prune = db.prepare("DELETE FROM protect_runs WHERE scope = ? AND finished_ms IS NOT NULL AND started_ms <= ?");
  prune.bind(1, start.scope).bind(2, to_ms(start.forget_finished_before));
  prune.step();
}

void ProtectRepository::close_dead(std::string_view scope, const std::vector<std::int64_t>& run_ids, TimePoint at) {
  auto close = m_store.connection().prepare("UPDATE protect_runs SET finished_ms = ?, outcome = 'died' "
                                            "WHERE scope = ? AND run_id = ? AND finished_ms IS NULL");
  for (const auto run : run_ids) {
    close.reset();
    close.bind(1, to_ms(at)).bind(2, scope).bind(3, run);
    close.step();
  }
}

bool ProtectRepository::record_finish(std::string_view scope, std::int64_t run_id, bool succeeded, TimePoint at) {
  auto& db = m_store.connection();
  auto outcome = db.prepare("SELECT outcome FROM protect_runs WHERE scope = ? AND run_id = ?");
  outcome.bind(1, scope).bind(2, run_id);
  if (outcome.step()) {
    const auto previous = outcome.column_optional_text(0);
    if (previous && *previous != "died") {
      return false;
    }
  }
  auto close = db.prepare("UPDATE protect_runs SET finished_ms = ?, outcome = ? WHERE scope = ? AND run_id = ?");
  close.bind(1, to_ms(at)).bind(2, succeeded ? "succeeded" : "failed").bind(3, scope).bind(4, run_id);
  close.step();

  auto update = db.prepare(
    "INSERT INTO protect_scopes (scope, last_finish_ms, last_succeeded, consecutive_failures) "
    "VALUES (?3, ?1, ?2, CASE WHEN ?2 THEN 0 ELSE 1 END) "
    "ON CONFLICT (scope) DO UPDATE SET last_finish_ms = max(coalesce(last_finish_ms, ?1), ?1), "
    "last_succeeded = ?2, consecutive_failures = CASE WHEN ?2 THEN 0 ELSE consecutive_failures + 1 END");
  update.bind(1, to_ms(at)).bind(2, succeeded).bind(3, scope);
  update.step();
  return true;
}

void ProtectRepository::close_breaker(std::string_view scope) {
  auto update = m_store.connection().prepare("UPDATE protect_scopes SET consecutive_failures = 0 WHERE scope = ?");
  update.bind(1, scope);
  update.step();
}

void ProtectRepository::set_pause(const ProtectPause& pause) {
  auto upsert = m_store.connection().prepare(
    "INSERT INTO protect_pauses (scope, reason, by_user, at_ms) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (scope) DO UPDATE SET reason = excluded.reason, by_user = excluded.by_user, "
    "at_ms = excluded.at_ms");
  upsert.bind(1, pause_key(pause.scope)).bind(2, pause.reason).bind(3, pause.by).bind(4, to_ms(pause.at));
  upsert.step();
}

void ProtectRepository::clear_pause(const std::optional<std::string>& scope) {
  auto remove = m_store.connection().prepare("DELETE FROM protect_pauses WHERE scope = ?");
  remove.bind(1, pause_key(scope));
  remove.step();
}

std::optional<ProtectPause> ProtectRepository::pause(const std::optional<std::string>& scope) {
  auto query = m_store.connection().prepare("SELECT scope, reason, by_user, at_ms FROM protect_pauses WHERE scope = ?");
  query.bind(1, pause_key(scope));
  if (!query.step()) {
    return std::nullopt;
  }
  return read_pause(query);
}

std::vector<ProtectPause> ProtectRepository::pauses() {
  auto query = m_store.connection().prepare("SELECT scope, reason, by_user, at_ms FROM protect_pauses ORDER BY scope");
  std::vector<ProtectPause> out;
  while (query.step()) {
    out.push_back(read_pause(query));
  }
  return out;
}

std::vector<std::string> ProtectRepository::scopes() {
  // UNION drops duplicates; the order is that of std::string (BINARY collation).
  auto query = m_store.connection().prepare(
    "SELECT scope FROM protect_scopes UNION SELECT scope FROM protect_runs "
    "UNION SELECT scope FROM protect_pauses WHERE scope != '' ORDER BY scope");
  std::vector<std::string> out;
  while (query.step()) {
    out.push_back(query.column_text(0));
  }
  return out;
}

} // namespace has::state
