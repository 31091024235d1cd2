#include <has/state/outbox.hpp>

#include <has/state/store.hpp>

#include <fmt/format.h>

namespace has::state {

namespace {

constexpr const char* k_columns =
  "id, notifier, dedup_key, payload, status, attempts, next_attempt_at, last_error, "
  "last_http_status, created_at, sent_at";

OutboxEntry read_entry(const Statement& row) {
  OutboxEntry entry;
  entry.id = row.column_int64(0);
  entry.notifier = row.column_text(1);
  entry.dedup_key = row.column_text(2);
  entry.payload = row.column_text(3);
  entry.status = row.column_text(4);
  entry.attempts = static_cast<int>(row.column_int64(5));
  entry.next_attempt_at = row.column_text(6);
  entry.last_error = row.column_optional_text(7);
  if (auto status = row.column_optional_int64(8)) {
    entry.last_http_status = static_cast<long>(*status);
  }
  entry.created_at = row.column_text(9);
  entry.sent_at = row.column_optional_text(10);
  return entry;
}

std::optional<std::int64_t> optional_status(std::optional<long> status) {
  if (status) {
    return static_cast<std::int64_t>(*status);
  }
  return std::nullopt;
}

} // namespace

std::optional<std::int64_t> OutboxRepository::add(const std::string& notifier, const std::string& dedup_key,
                                                  const std::string& payload, const std::string& now) {
  Connection& connection = m_store.connection();
  auto insert = connection.prepare(
    "INSERT INTO outbox (notifier, dedup_key, payload, status, attempts, next_attempt_at, created_at) "
    "VALUES (:notifier, :key, :payload, 'pending', 0, :now, :now) "
    "ON CONFLICT (notifier, dedup_key) DO NOTHING");
  insert.bind(":notifier", notifier).bind(":key", dedup_key).bind(":payload", payload).bind(":now", now);
  insert.step();
  if (connection.changes() == 0) {
    return std::nullopt;
  }
  return connection.last_insert_rowid();
}

std::optional<OutboxEntry> OutboxRepository::get(std::int64_t id) {
  auto select = m_store.connection().prepare(fmt::format("SELECT {} FROM outbox WHERE id = ?", k_columns));
  select.bind(1, id);
  if (!select.step()) {
    return std::nullopt;
  }
  return read_entry(select);
}

std::vector<OutboxEntry> OutboxRepository::due(const std::string& now, int limit) {
  auto select = m_store.connection().prepare(
    fmt::format("SELECT {} FROM outbox WHERE status IN ('pending', 'sending') AND next_attempt_at <= :now "
                "ORDER BY id LIMIT :limit",
                k_columns));
  select.bind(":now", now).bind(":limit", limit > 0 ? limit : -1);
  std::vector<OutboxEntry> out;
  while (select.step()) {
    out.push_back(read_entry(select));
  }
  return out;
}

std::optional<int> OutboxRepository::claim(std::int64_t id, const std::string& now,
                                           const std::string& lease_until) {
  Connection& connection = m_store.connection();
  auto update = connection.prepare(
    "UPDATE outbox SET status = 'sending', attempts = attempts + 1, next_attempt_at = :lease "
    "WHERE id = :id AND status IN ('pending', 'sending') AND next_attempt_at <= :now "
    "RETURNING attempts");
  update.bind(":lease", lease_until).bind(":id", id).bind(":now", now);
  if (!update.step()) {
    return std::nullopt;
  }
  const int attempt = static_cast<int>(update.column_int64(0));
  update.step(); // finish the statement so the change is made
  return attempt;
}

bool OutboxRepository::mark_sent(std::int64_t id, int attempt, const std::string& at,
                                 std::optional<long> http_status) {
  Connection& connection = m_store.connection();
  auto update = connection.prepare(
    "UPDATE outbox SET status = 'sent', sent_at = :at, last_error = NULL, last_http_status = :http "
    "WHERE id = :id AND status = 'sending' AND attempts = :attempt");
  update.bind(":at", at).bind(":http", optional_status(http_status)).bind(":id", id).bind(":attempt", attempt);
  update.step();
  return connection.changes() == 1;
}

bool OutboxRepository::mark_retry(std::int64_t id, int attempt, const std::string& next_attempt_at,
                                  const std::string& error, std::optional<long> http_status) {
  Connection& connection = m_store.connection();
  auto update = connection.prepare(
    "UPDATE outbox SET status = 'pending', next_attempt_at = :next, last_error = :error, "
    "last_http_status = :http WHERE id = :id AND status = 'sending' AND attempts = :attempt");
  update.bind(":next", next_attempt_at)
    .bind(":error", error)
    .bind(":http", optional_status(http_status))
    .bind(":id", id)
    .bind(":attempt", attempt);
  update.step();
  return connection.changes() == 1;
}

bool OutboxRepository::mark_failed(std::int64_t id, int attempt, const std::string& error,
                                   std::optional<long> http_status) {
  Connection& connection = m_store.connection();
  auto update = connection.prepare(
    "UPDATE outbox SET status = 'failed', last_error = :error, last_http_status = :http "
    "WHERE id = :id AND status = 'sending' AND attempts = :attempt");
  update.bind(":error", error).bind(":http", optional_status(http_status)).bind(":id", id).bind(":attempt", attempt);
  update.step();
  return connection.changes() == 1;
}

bool OutboxRepository::release(std::int64_t id, int attempt, const std::string& next_attempt_at,
                                const std::string& error) {
  Connection& connection = m_store.connection();
  auto update = connection.prepare(
    "UPDATE outbox SET status = 'pending', attempts = attempts - 1, next_attempt_at = :next, "
    "last_error = :error WHERE id = :id AND status = 'sending' AND attempts = :attempt");
  update.bind(":next", next_attempt_at).bind(":error", error).bind(":id", id).bind(":attempt", attempt);
  update.step();
  return connection.changes() == 1;
}

std::vector<OutboxEntry> OutboxRepository::list(const std::optional<std::string>& status,
                                                const std::optional<std::string>& notifier, int limit) {
  auto select = m_store.connection().prepare(
    fmt::format("SELECT {} FROM outbox WHERE (:status IS NULL OR status = :status) AND "
                "(:notifier IS NULL OR notifier = :notifier) ORDER BY id DESC LIMIT :limit",
                k_columns));
  select.bind(":status", status).bind(":notifier", notifier).bind(":limit", limit > 0 ? limit : -1);
  std::vector<OutboxEntry> out;
  while (select.step()) {
    out.push_back(read_entry(select));
  }
  return out;
}

int OutboxRepository::requeue_failed(const std::optional<std::string>& notifier, const std::string& now) {
  Connection& connection = m_store.connection();
  auto update = connection.prepare(
    "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = :now "
    "WHERE status = 'failed' AND (:notifier IS NULL OR notifier = :notifier)");
  update.bind(":now", now).bind(":notifier", notifier);
  update.step();
  return static_cast<int>(connection.changes());
}

int OutboxRepository::purge_sent(const std::string& before) {
  Connection& connection = m_store.connection();
  auto remove = connection.prepare("DELETE FROM outbox WHERE status = 'sent' AND sent_at < :before");
  remove.bind(":before", before);
  remove.step();
  return static_cast<int>(connection.changes());
}

void OutboxRepository::record_send(const std::string& notifier, std::int64_t at_ms,
                                   std::int64_t forget_before_ms) {
  Connection& connection = m_store.connection();
  auto forget = connection.prepare("DELETE FROM notify_sends WHERE notifier = ? AND at_ms < ?");
  forget.bind(1, notifier).bind(2, forget_before_ms);
  forget.step();
  auto insert = connection.prepare("INSERT INTO notify_sends (notifier, at_ms) VALUES (?, ?)");
  insert.bind(1, notifier).bind(2, at_ms);
  insert.step();
}

std::vector<std::int64_t> OutboxRepository::sends_since(const std::string& notifier, std::int64_t since_ms) {
  auto select = m_store.connection().prepare(
    "SELECT at_ms FROM notify_sends WHERE notifier = ? AND at_ms >= ? ORDER BY at_ms");
  select.bind(1, notifier).bind(2, since_ms);
  std::vector<std::int64_t> out;
  while (select.step()) {
    out.push_back(select.column_int64(0));
  }
  return out;
}

void OutboxRepository::block(const std::string& notifier, std::int64_t until_ms, const std::string& reason) {
  auto upsert = m_store.connection().prepare(
    "INSERT INTO notify_blocks (notifier, until_ms, reason) VALUES (:notifier, :until, :reason) "
    "ON CONFLICT (notifier) DO UPDATE SET until_ms = excluded.until_ms, reason = excluded.reason "
    "WHERE excluded.until_ms > notify_blocks.until_ms");
  upsert.bind(":notifier", notifier).bind(":until", until_ms).bind(":reason", reason);
  upsert.step();
}

std::optional<std::int64_t> OutboxRepository::blocked_until(const std::string& notifier) {
  auto select = m_store.connection().prepare("SELECT until_ms FROM notify_blocks WHERE notifier = ?");
  select.bind(1, notifier);
  if (!select.step()) {
    return std::nullopt;
  }
  return select.column_int64(0);
}

} // namespace has::state
