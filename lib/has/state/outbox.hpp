#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace has::state {

class Store;

// One notification in the outbox. Times are ISO-8601 UTC (format_iso8601).
struct OutboxEntry {
  std::int64_t id = 0;
  std::string notifier;
  std::string dedup_key;
  std::string payload; // JSON: the message, never a signed request
  std::string status;  // pending, sending, sent or failed
  int attempts = 0;
  std::string next_attempt_at; // pending: when it is due; sending: when the claim lapses
  std::optional<std::string> last_error;
  std::optional<long> last_http_status;
  std::string created_at;
  std::optional<std::string> sent_at;
};

// Reads and writes the notification outbox and the notifiers' rate
// bookkeeping. Like the other repositories, no method opens a transaction:
// the caller groups a check and a claim in one Store::transaction. Every
// method throws SqliteError when the state file cannot be read or written.
class OutboxRepository {
public:
  explicit OutboxRepository(Store& store) noexcept : m_store(store) {}

  // Adds a pending message due at now and returns its id, or nullopt when the
  // notifier already has a message with this dedup key (in any status).
  std::optional<std::int64_t> add(const std::string& notifier, const std::string& dedup_key,
                                  const std::string& payload, const std::string& now);

  // Returns the entry with this id, if any.
  std::optional<OutboxEntry> get(std::int64_t id);

  // Returns up to limit entries due at now, oldest first: pending ones whose
  // time has come and sending ones whose claim lapsed (their process died).
  std::vector<OutboxEntry> due(const std::string& now, int limit);

  // Claims a due entry for one send: sets it to sending until lease_until and
  // counts the attempt. Returns the attempt number, or nullopt when the entry
  // is not due any more (another process claimed or finished it).
  std::optional<int> claim(std::int64_t id, const std::string& now, const std::string& lease_until);

  // Record the outcome of attempt `attempt` of a claimed entry. Each returns
  // false, changing nothing, when the entry is no longer under that claim
  // (it lapsed and another process took it over).
  bool mark_sent(std::int64_t id, int attempt, const std::string& at, std::optional<long> http_status);
  bool mark_retry(std::int64_t id, int attempt, const std::string& next_attempt_at,
                  const std::string& error, std::optional<long> http_status);
  bool mark_failed(std::int64_t id, int attempt, const std::string& error, std::optional<long> http_status);

  // Puts a claimed entry back as pending, due at next_attempt_at, without
  // counting the attempt (the service turned it away for sending too fast).
  bool release(std::int64_t id, int attempt, const std::string& next_attempt_at, const std::string& error);

  // Returns up to limit entries (newest first), of one status and one
  // notifier when given.
  std::vector<OutboxEntry> list(const std::optional<std::string>& status,
                                const std::optional<std::string>& notifier, int limit);

  // Makes failed entries (of one notifier when given) pending again, due at
  // now with no attempts counted; returns how many.
  int requeue_failed(const std::optional<std::string>& notifier, const std::string& now);

  // Deletes sent entries sent before `before`; returns how many.
  int purge_sent(const std::string& before);

  // Records one request to notifier at at_ms (Unix milliseconds) and forgets
  // those older than forget_before_ms.
  void record_send(const std::string& notifier, std::int64_t at_ms, std::int64_t forget_before_ms);

  // Returns the times (Unix ms, oldest first) of the requests to notifier at
  // or after since_ms.
  std::vector<std::int64_t> sends_since(const std::string& notifier, std::int64_t since_ms);

  // Records that notifier must not be sent to before until_ms (keeps a later
  // block already recorded).
  void block(const std::string& notifier, std::int64_t until_ms, const std::string& reason);

  // Returns when notifier's block ends, if one was recorded (it may be past).
  std::optional<std::int64_t> blocked_until(const std::string& notifier);

private:
  Store& m_store;
};

} // namespace has::state
