#pragma once

#include <has/defs/notifiers.hpp>
#include <has/notify/clock.hpp>
#include <has/notify/kind.hpp>
#include <has/notify/message.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace has::state {
class Store;
}

namespace has::notify {

// How deliver_due() retries and waits.
struct DeliverOptions {
  // Attempts before a message is given up as failed (the first one included).
  int max_attempts = 6;
  // The wait after failed attempt n is backoff[n-1] (the last one repeats).
  std::vector<std::chrono::milliseconds> backoff{std::chrono::seconds(10), std::chrono::seconds(30),
                                                 std::chrono::minutes(2), std::chrono::minutes(10),
                                                 std::chrono::hours(1)};
  // A message that must wait longer than this for its notifier's rate budget
  // stays in the outbox for a later run; a shorter wait is slept.
  std::chrono::milliseconds max_wait{5000};
  // How long a claimed message is reserved for the process sending it; a
  // process that dies mid-send leaves it due again after this.
  std::chrono::milliseconds lease = std::chrono::minutes(5);
  // The most outbox entries one call looks at.
  int limit = 1000;
};

enum class DeliveryState {
  sent,     // the service accepted it
  retrying, // this attempt failed; due again at next_attempt_at
  failed,   // given up: the service refused it for good, or max_attempts were spent
  deferred, // not attempted: the rate budget, or its notifier is gone from has.yaml
};

// What one deliver_due() call did with one outbox entry.
struct Delivery {
  std::int64_t id = 0;
  std::string notifier;
  std::string key;
  DeliveryState state = DeliveryState::deferred;
  int attempt = 0; // the attempt made (0 when deferred)
  long http_status = 0;
  std::string error; // secrets redacted
  std::string help;
  bool trimmed = false;
  std::optional<std::string> next_attempt_at;
};

struct DeliveryReport {
  std::vector<Delivery> deliveries;
  // Returns how many deliveries ended in state.
  std::size_t count(DeliveryState state) const;
};

// Writes message to the outbox for notifier (pending, due now), its text,
// title and link redacted, with message.key as the dedup key (content_key()
// when empty). Returns the entry's id, or nullopt when the notifier already
// has a message with that key (it is not sent twice). Throws SqliteError
// when the state file cannot be written.
std::optional<std::int64_t> enqueue(state::Store& store, const std::string& notifier, Message message,
                                    Clock& clock);

// Sends every due outbox entry, oldest first, each through the notifier of
// its name in notifiers, and returns what happened to each. Per entry: in
// one short transaction the notifier's rate budget (shared by all processes
// through the state file) is checked and the entry claimed with
// UPDATE ... WHERE status IN ('pending','sending') AND next_attempt_at <= now,
// so two processes never send the same entry; then it is sent outside any
// transaction and the outcome recorded. A failure is retried after
// options.backoff, up to options.max_attempts; a refusal that cannot heal
// (bad token, signature, keyword) fails at once; a rate-limit answer blocks
// the notifier for the time the service asked. Delivery is at least once: a
// process that dies after the service accepted a message but before
// recording it leaves it to be sent again when its lease lapses (DingTalk
// gets the dedup key as msgUuid for that case). Never throws for what a
// service answers or for an unset variable (that is a failed attempt);
// throws SqliteError when the state file cannot be read or written.
DeliveryReport deliver_due(state::Store& store, const std::vector<defs::NotifierConfig>& notifiers,
                           Clock& clock, const Transport& transport = {}, const DeliverOptions& options = {});

// Sends message through config now, bypassing the outbox and the rate
// budget (for `has notify test`), and returns what the service answered:
// SendResult::body is its reply as it came (registered secrets redacted),
// error and help are redacted. Throws core::Error(bad_definitions) for an
// unknown kind or an unset ${env:} variable.
SendResult send_now(const defs::NotifierConfig& config, const Message& message, Clock& clock,
                    const Transport& transport = {});

// Returns the message `has notify test NAME` sends: a short text naming the
// notifier, status ok, keyed by the time so that each test is sent.
Message test_message(const defs::NotifierConfig& config, Clock& clock);

} // namespace has::notify
