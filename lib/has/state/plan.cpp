#include <has/state/plan.hpp>

#include <has/state/clock.hpp>
#include <has/state/store.hpp>
#include <has/util/pid.hpp>

namespace has::state {

namespace {

constexpr const char* k_run_columns =
  "run_id, plan, params, state, parent_run, parent_step, event_id, lock_key, pid_start, "
  "abort_requested, reason";

PlanRun read_run(const Statement& row) {
  PlanRun r;
  r.run_id = row.column_int64(0);
  r.plan = row.column_text(1);
  r.params = row.column_text(2);
  r.state = row.column_text(3);
  r.parent_run = row.column_optional_int64(4);
  r.parent_step = row.column_optional_text(5);
  r.event_id = row.column_optional_int64(6);
  r.lock_key = row.column_optional_text(7);
  r.pid_start = row.column_optional_text(8);
  r.abort_requested = row.column_int64(9) != 0;
  r.reason = row.column_optional_text(10);
  return r;
}

constexpr const char* k_step_columns =
  "run_id, step, phase, seq, kind, state, idempotent, attempts, started_at, finished_at, exit_code, "
  "detail, message, outputs";

StepRecord read_step(const Statement& row) {
  StepRecord s;
  s.run_id = row.column_int64(0);
  s.step = row.column_text(1);
  s.phase = row.column_text(2);
  s.seq = row.column_int64(3);
  s.kind = row.column_text(4);
  s.state = row.column_text(5);
  s.idempotent = row.column_int64(6) != 0;
  s.attempts = static_cast<int>(row.column_int64(7));
  s.started_at = row.column_optional_text(8);
  s.finished_at = row.column_optional_text(9);
  if (auto code = row.column_optional_int64(10)) {
    s.exit_code = static_cast<int>(*code);
  }
  s.detail = row.column_optional_text(11);
  s.message = row.column_optional_text(12);
  s.outputs = row.column_optional_text(13);
  return s;
}

LockHolder read_lock(const Statement& row) {
  LockHolder l;
  l.key = row.column_text(0);
  l.run_id = row.column_int64(1);
  l.host = row.column_text(2);
  l.pid = row.column_int64(3);
  l.pid_start = row.column_optional_text(4);
  l.acquired_at = row.column_text(5);
  return l;
}

} // namespace

void PlanRepository::create(const PlanRun& run) {
  m_store.transaction([&] {
    auto insert = m_store.connection().prepare(
      "INSERT INTO plan_runs (run_id, plan, params, state, parent_run, parent_step, event_id, lock_key, "
      "pid_start, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    insert.bind(1, run.run_id).bind(2, run.plan).bind(3, run.params).bind(4, run.state);
    insert.bind(5, run.parent_run).bind(6, run.parent_step).bind(7, run.event_id).bind(8, run.lock_key);
    insert.bind(9, run.pid_start).bind(10, run.reason);
    insert.step();
  });
}

void PlanRepository::set_state(std::int64_t run_id, std::string_view state, std::optional<std::string> reason) {
  m_store.transaction([&] {
    auto update = m_store.connection().prepare(
      "UPDATE plan_runs SET state = ?, reason = coalesce(?, reason) WHERE run_id = ?");
    update.bind(1, state).bind(2, reason).bind(3, run_id);
    update.step();
  });
}

std::optional<PlanRun> PlanRepository::get(std::int64_t run_id) {
  auto query = m_store.connection().prepare(std::string("SELECT ") + k_run_columns +
                                            " FROM plan_runs WHERE run_id = ?");
  query.bind(1, run_id);
  if (!query.step()) {
    return std::nullopt;
  }
  return read_run(query);
}

std::vector<PlanRun> PlanRepository::list(std::optional<std::string> plan, int limit, bool called) {
  auto query = m_store.connection().prepare(std::string("SELECT ") + k_run_columns +
                                            " FROM plan_runs WHERE (?1 IS NULL OR plan = ?1) AND (?3 OR parent_run IS NULL) "
                                            "ORDER BY run_id DESC LIMIT ?2");
  query.bind(1, plan).bind(2, static_cast<std::int64_t>(limit <= 0 ? -1 : limit));
  query.bind(3, static_cast<std::int64_t>(called));
  std::vector<PlanRun> out;
  while (query.step()) {
    out.push_back(read_run(query));
  }
  return out;
}

std::vector<PlanRun> PlanRepository::children(std::int64_t run_id) {
  auto query = m_store.connection().prepare(std::string("SELECT ") + k_run_columns +
                                            " FROM plan_runs WHERE parent_run = ? ORDER BY run_id");
  query.bind(1, run_id);
  std::vector<PlanRun> out;
  while (query.step()) {
    out.push_back(read_run(query));
  }
  return out;
}

void PlanRepository::step_started(const StepRecord& r) {
  m_store.transaction([&] {
    auto upsert = m_store.connection().prepare(
      "INSERT INTO plan_steps (run_id, step, phase, seq, kind, state, idempotent, attempts, started_at, detail) "
      "VALUES (?1, ?2, ?3, (SELECT coalesce(max(seq), 0) + 1 FROM plan_steps WHERE run_id = ?1), ?4, "
      "'running', ?5, ?6, ?7, ?8) "
      "ON CONFLICT (run_id, step, phase) DO UPDATE SET state = 'running', attempts = excluded.attempts, "
      "detail = excluded.detail, started_at = coalesce(started_at, excluded.started_at), finished_at = NULL");
    upsert.bind(1, r.run_id).bind(2, r.step).bind(3, r.phase).bind(4, r.kind);
    upsert.bind(5, static_cast<std::int64_t>(r.idempotent)).bind(6, static_cast<std::int64_t>(r.attempts));
    upsert.bind(7, r.started_at ? *r.started_at : now_iso8601()).bind(8, r.detail);
    upsert.step();
  });
}

void PlanRepository::step_finished(const StepRecord& r) {
  m_store.transaction([&] {
    auto update = m_store.connection().prepare(
      "INSERT INTO plan_steps (run_id, step, phase, seq, kind, state, idempotent, attempts, started_at, "
      "finished_at, exit_code, detail, message, outputs) "
      "VALUES (?1, ?2, ?3, (SELECT coalesce(max(seq), 0) + 1 FROM plan_steps WHERE run_id = ?1), ?4, ?5, ?6, "
      "?7, ?8, ?8, ?9, ?10, ?11, ?12) "
      "ON CONFLICT (run_id, step, phase) DO UPDATE SET state = excluded.state, attempts = excluded.attempts, "
      "finished_at = excluded.finished_at, exit_code = excluded.exit_code, "
      "detail = coalesce(excluded.detail, detail), message = excluded.message, outputs = excluded.outputs");
    update.bind(1, r.run_id).bind(2, r.step).bind(3, r.phase).bind(4, r.kind).bind(5, r.state);
    update.bind(6, static_cast<std::int64_t>(r.idempotent)).bind(7, static_cast<std::int64_t>(r.attempts));
    update.bind(8, r.finished_at ? *r.finished_at : now_iso8601());
    update.bind(9, r.exit_code ? std::optional<std::int64_t>(*r.exit_code) : std::nullopt);
    update.bind(10, r.detail).bind(11, r.message).bind(12, r.outputs);
    update.step();
  });
}

void PlanRepository::step_state(std::int64_t run_id, std::string_view step, std::string_view phase,
                                std::string_view state, std::optional<std::string> message) {
  m_store.transaction([&] {
    auto update = m_store.connection().prepare(
      "UPDATE plan_steps SET state = ?, message = coalesce(?, message) WHERE run_id = ? AND step = ? AND phase = ?");
    update.bind(1, state).bind(2, message).bind(3, run_id).bind(4, step).bind(5, phase);
    update.step();
  });
}

std::vector<StepRecord> PlanRepository::steps(std::int64_t run_id) {
  auto query = m_store.connection().prepare(std::string("SELECT ") + k_step_columns +
                                            " FROM plan_steps WHERE run_id = ? ORDER BY seq, phase");
  query.bind(1, run_id);
  std::vector<StepRecord> out;
  while (query.step()) {
    out.push_back(read_step(query));
  }
  return out;
}

void PlanRepository::approve(std::int64_t run_id, std::string_view step, std::optional<std::string> by) {
  m_store.transaction([&] {
    auto insert = m_store.connection().prepare(
      "INSERT OR IGNORE INTO plan_approvals (run_id, step, approved_by, at) VALUES (?, ?, ?, ?)");
    insert.bind(1, run_id).bind(2, step).bind(3, by).bind(4, now_iso8601());
    insert.step();
  });
}

bool PlanRepository::approved(std::int64_t run_id, std::string_view step) {
  auto query = m_store.connection().prepare("SELECT 1 FROM plan_approvals WHERE run_id = ? AND step = ?");
  query.bind(1, run_id).bind(2, step);
  return query.step();
}

void PlanRepository::request_abort(std::int64_t run_id) {
  m_store.transaction([&] {
    auto update = m_store.connection().prepare("UPDATE plan_runs SET abort_requested = 1 WHERE run_id = ?");
    update.bind(1, run_id);
    update.step();
  });
}

void PlanRepository::reopen(std::int64_t run_id, std::int64_t pid, const std::optional<std::string>& pid_start) {
  m_store.transaction([&] {
    auto update = m_store.connection().prepare(
      "UPDATE runs SET status = 'running', finished_at = NULL, exit_code = NULL, pid = ? WHERE id = ?");
    update.bind(1, pid).bind(2, run_id);
    update.step();
    auto plan_update =
      m_store.connection().prepare("UPDATE plan_runs SET pid_start = ?, abort_requested = 0 WHERE run_id = ?");
    plan_update.bind(1, pid_start).bind(2, run_id);
    plan_update.step();
  });
}

bool PlanRepository::abort_requested(std::int64_t run_id) {
  auto query = m_store.connection().prepare("SELECT abort_requested FROM plan_runs WHERE run_id = ?");
  query.bind(1, run_id);
  return query.step() && query.column_int64(0) != 0;
}

void PlanRepository::add_override(std::int64_t run_id, const Override& item) {
  m_store.transaction([&] {
    auto insert = m_store.connection().prepare(
      "INSERT INTO plan_overrides (run_id, rule, reason, by_user, at) VALUES (?, ?, ?, ?, ?)");
    insert.bind(1, run_id).bind(2, item.rule).bind(3, item.reason).bind(4, item.by);
    insert.bind(5, item.at.empty() ? now_iso8601() : item.at);
    insert.step();
  });
}

std::vector<Override> PlanRepository::overrides(std::int64_t run_id) {
  auto query = m_store.connection().prepare(
    "SELECT rule, reason, by_user, at FROM plan_overrides WHERE run_id = ? ORDER BY rowid");
  query.bind(1, run_id);
  std::vector<Override> out;
  while (query.step()) {
    out.push_back({query.column_text(0), query.column_text(1), query.column_optional_text(2), query.column_text(3)});
  }
  return out;
}

std::optional<LockHolder> PlanRepository::acquire(const LockHolder& wanted, std::string_view this_host) {
  return m_store.transaction([&]() -> std::optional<LockHolder> {
    auto& db = m_store.connection();
    auto query = db.prepare("SELECT key, run_id, host, pid, pid_start, acquired_at FROM locks WHERE key = ?");
    query.bind(1, wanted.key);
    if (query.step()) {
      auto holder = read_lock(query);
      bool gone = holder.host == this_host &&
                  !util::process_alive(static_cast<pid_t>(holder.pid), holder.pid_start);
      if (holder.run_id != wanted.run_id && !gone) {
        return holder;
      }
    }
    auto upsert = db.prepare(
      "INSERT INTO locks (key, run_id, host, pid, pid_start, acquired_at) VALUES (?, ?, ?, ?, ?, ?) "
      "ON CONFLICT (key) DO UPDATE SET run_id = excluded.run_id, host = excluded.host, pid = excluded.pid, "
      "pid_start = excluded.pid_start, acquired_at = excluded.acquired_at");
    upsert.bind(1, wanted.key).bind(2, wanted.run_id).bind(3, wanted.host).bind(4, wanted.pid);
    upsert.bind(5, wanted.pid_start).bind(6, wanted.acquired_at.empty() ? now_iso8601() : wanted.acquired_at);
    upsert.step();
    return std::nullopt;
  });
}

void PlanRepository::release(std::string_view key, std::int64_t run_id) {
  m_store.transaction([&] {
    auto remove = m_store.connection().prepare("DELETE FROM locks WHERE key = ? AND run_id = ?");
    remove.bind(1, key).bind(2, run_id);
    remove.step();
  });
}

std::vector<LockHolder> PlanRepository::locks() {
  auto query = m_store.connection().prepare(
    "SELECT key, run_id, host, pid, pid_start, acquired_at FROM locks ORDER BY key");
  std::vector<LockHolder> out;
  while (query.step()) {
    out.push_back(read_lock(query));
  }
  return out;
}

} // namespace has::state
