#include <has/notify/deliver.hpp>

#include <has/core/error.hpp>
#include <has/core/log.hpp>
#include <has/core/redact.hpp>
#include <has/state/clock.hpp>
#include <has/state/outbox.hpp>
#include <has/state/store.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace has::notify {

namespace {

using namespace std::chrono_literals;
using TimePoint = std::chrono::system_clock::time_point;

// Rate bookkeeping older than this is forgotten; it exceeds every window.
constexpr std::int64_t k_forget_ms = 3'600'000;
// A service that asks to slow down without saying for how long.
constexpr std::chrono::milliseconds k_default_block = 60s;
// Short waits slept for one entry, at most; then it waits for another run.
constexpr int k_max_waits = 5;

std::string iso(TimePoint time) { return state::format_iso8601(time); }

TimePoint after(TimePoint time, std::chrono::milliseconds duration) {
  return time + std::chrono::duration_cast<TimePoint::duration>(duration);
}

const defs::NotifierConfig* find_config(const std::vector<defs::NotifierConfig>& notifiers, const std::string& name) {
  for (const auto& config : notifiers) {
    if (config.name == name) {
      return &config;
    }
  }
  return nullptr;
}

// Returns how long notifier must wait (ms) before another request fits its
// limits and any block the service asked for; 0 when it may send now.
std::int64_t budget_wait(state::OutboxRepository& outbox, const std::string& notifier,
                         std::span<const RateLimit> limits, std::int64_t now_ms) {
  std::int64_t wait = 0;
  if (auto until = outbox.blocked_until(notifier); until && *until > now_ms) {
    wait = *until - now_ms;
  }
  if (limits.empty()) {
    return wait;
  }
  std::int64_t longest = 0;
  for (const auto& limit : limits) {
    longest = std::max<std::int64_t>(longest, limit.window.count());
  }
  const auto sends = outbox.sends_since(notifier, now_ms - longest + 1);
  for (const auto& limit : limits) {
    const std::int64_t window = limit.window.count();
    std::vector<std::int64_t> in_window;
    std::copy_if(sends.begin(), sends.end(), std::back_inserter(in_window),
                 [&](std::int64_t at) { return at > now_ms - window; });
    const auto count = static_cast<std::int64_t>(in_window.size());
    if (count >= limit.count) {
      // The oldest sends must leave the window until one more fits.
      const std::int64_t frees_at = in_window[static_cast<std::size_t>(count - limit.count)] + window;
      wait = std::max(wait, frees_at - now_ms);
    }
  }
  return wait;
}

SendResult redacted(SendResult result) {
  result.error = core::redact(result.error);
  result.help = core::redact(result.help);
  result.body = core::redact(result.body);
  return result;
}

SendResult error_result(const core::Error& e) {
  SendResult result;
  result.error = e.reason().empty() ? e.what() : fmt::format("{} ({})", e.what(), e.reason());
  result.help = e.help();
  result.retry = Retry::later;
  return result;
}

struct Claim {
  std::optional<int> attempt;
  std::int64_t wait_ms = 0;
};

class Deliverer {
public:
  Deliverer(state::Store& store, const std::vector<defs::NotifierConfig>& notifiers, Clock& clock,
            const Transport& transport, const DeliverOptions& options)
    : m_store(store), m_outbox(store), m_notifiers(notifiers), m_clock(clock), m_transport(transport),
      m_options(options) {}

  DeliveryReport run() {
    DeliveryReport report;
    for (const auto& entry : m_outbox.due(iso(m_clock.now()), m_options.limit)) {
      if (auto delivery = deliver(entry)) {
        report.deliveries.push_back(std::move(*delivery));
      }
    }
    return report;
  }

private:
  // Returns what became of entry, or nullopt when another process took it.
  std::optional<Delivery> deliver(const state::OutboxEntry& entry) {
    Delivery delivery;
    delivery.id = entry.id;
    delivery.notifier = entry.notifier;
    delivery.key = entry.dedup_key;
    const defs::NotifierConfig* config = find_config(m_notifiers, entry.notifier);
    const Kind* kind = config != nullptr ? find_kind(config->kind) : nullptr;
    if (kind == nullptr) {
      delivery.error = fmt::format("notifier '{}' is not defined in has.yaml", entry.notifier);
      delivery.help = "define it again, or delete its messages from the outbox";
      return delivery;
    }
    if (auto it = m_deferred.find(entry.notifier); it != m_deferred.end()) {
      // Keep each notifier's messages in order: once one waits, the rest do.
      delivery.error = it->second;
      return delivery;
    }
    std::string last_error;
    for (int waits = 0;;) {
      const TimePoint now = m_clock.now();
      const std::int64_t now_ms = unix_ms(now);
      const std::chrono::milliseconds lease = std::max(m_options.lease, config->timeout * 3);
      const Claim claim = m_store.transaction([&] {
        Claim out;
        out.wait_ms = budget_wait(m_outbox, entry.notifier, kind->limits, now_ms);
        if (out.wait_ms > 0) {
          return out;
        }
        out.attempt = m_outbox.claim(entry.id, iso(now), iso(after(now, lease)));
        if (out.attempt) {
          m_outbox.record_send(entry.notifier, now_ms, now_ms - k_forget_ms);
        }
        return out;
      });
      if (claim.wait_ms > 0) {
        const std::chrono::milliseconds wait(claim.wait_ms);
        if (wait <= m_options.max_wait && waits++ < k_max_waits) {
          HAS_LOG("notify: {} waits {} ms for its rate budget", entry.notifier, claim.wait_ms);
          m_clock.sleep_for(wait);
          continue;
        }
        delivery.error = last_error.empty()
                           ? fmt::format("the rate budget of {} notifier '{}' is spent for the next {} s",
                                         config->kind, entry.notifier, (claim.wait_ms + 999) / 1000)
                           : last_error;
        delivery.help = "the message stays in the outbox; a later `has notify deliver` (or run) sends it";
        delivery.next_attempt_at = iso(after(now, wait));
        m_deferred[entry.notifier] = delivery.error;
        return delivery;
      }
      if (!claim.attempt) {
        if (last_error.empty()) {
          return std::nullopt; // another process has it
        }
        // Turned away for sending too fast and not due again yet.
        delivery.error = last_error;
        return delivery;
      }
      delivery.attempt = *claim.attempt;
      const SendResult result = send(*config, *kind, entry);
      delivery.http_status = result.http_status;
      delivery.trimmed = result.trimmed;
      if (record(entry, *claim.attempt, result, delivery)) {
        return delivery;
      }
      // Rate limited: the notifier is blocked; the loop waits or defers.
      last_error = result.error;
      delivery.attempt = 0;
    }
  }

  SendResult send(const defs::NotifierConfig& config, const Kind& kind, const state::OutboxEntry& entry) {
    Message message;
    try {
      message = message_from_json(nlohmann::json::parse(entry.payload));
    } catch (const nlohmann::json::exception& e) {
      SendResult result;
      result.error = fmt::format("outbox entry {} is not valid JSON: {}", entry.id, e.what());
      result.retry = Retry::no;
      return result;
    } catch (const core::Error& e) {
      auto result = error_result(e);
      result.retry = Retry::no;
      return result;
    }
    message.key = entry.dedup_key;
    SendContext context{m_clock, m_transport};
    try {
      return redacted(kind.send(config, message, context));
    } catch (const core::Error& e) {
      // An unset variable: perhaps set in the next run's environment.
      return redacted(error_result(e));
    }
  }

  // Records the outcome of attempt; returns false when it was rate limited
  // (the entry is pending again and its attempt not counted).
  bool record(const state::OutboxEntry& entry, int attempt, const SendResult& result, Delivery& delivery) {
    const TimePoint now = m_clock.now();
    const std::optional<long> http = result.http_status != 0 ? std::optional<long>(result.http_status) : std::nullopt;
    delivery.error = result.error;
    delivery.help = result.help;
    bool kept = true;
    bool rate_limited = false;
    m_store.transaction([&] {
      if (result.ok) {
        delivery.state = DeliveryState::sent;
        kept = m_outbox.mark_sent(entry.id, attempt, iso(now), http);
      } else if (result.retry == Retry::rate_limited) {
        const auto wait = result.retry_after.value_or(k_default_block);
        m_outbox.block(entry.notifier, unix_ms(after(now, wait)), result.error);
        kept = m_outbox.release(entry.id, attempt, iso(after(now, wait)), result.error);
        rate_limited = true;
      } else if (result.retry == Retry::no || attempt >= m_options.max_attempts) {
        delivery.state = DeliveryState::failed;
        kept = m_outbox.mark_failed(entry.id, attempt, result.error, http);
      } else {
        const auto& backoff = m_options.backoff;
        const auto wait = backoff.empty() ? std::chrono::milliseconds(60s)
                                          : backoff[std::min<std::size_t>(static_cast<std::size_t>(attempt) - 1,
                                                                          backoff.size() - 1)];
        delivery.state = DeliveryState::retrying;
        delivery.next_attempt_at = iso(after(now, wait));
        kept = m_outbox.mark_retry(entry.id, attempt, *delivery.next_attempt_at, result.error, http);
      }
    });
    if (!kept) {
      // The lease ran out while sending and another process took the entry
      // over; its record stands.
      HAS_LOG("notify: outbox entry {} was taken over while attempt {} was sending", entry.id, attempt);
    }
    return !rate_limited;
  }

  state::Store& m_store;
  state::OutboxRepository m_outbox;
  const std::vector<defs::NotifierConfig>& m_notifiers;
  Clock& m_clock;
  const Transport& m_transport;
  const DeliverOptions& m_options;
  std::map<std::string, std::string> m_deferred;
};

} // namespace

std::size_t DeliveryReport::count(DeliveryState state) const {
  return static_cast<std::size_t>(std::count_if(deliveries.begin(), deliveries.end(),
                                                [&](const Delivery& d) { return d.state == state; }));
}

std::optional<std::int64_t> enqueue(state::Store& store, const std::string& notifier, Message message,
                                    Clock& clock) {
  message.title = core::redact(message.title);
  message.text = core::redact(message.text);
  if (message.link) {
    message.link = core::redact(*message.link);
  }
  if (message.key.empty()) {
    message.key = content_key(message);
  }
  state::OutboxRepository outbox(store);
  return outbox.add(notifier, message.key, to_json(message).dump(), iso(clock.now()));
}

DeliveryReport deliver_due(state::Store& store, const std::vector<defs::NotifierConfig>& notifiers,
                           Clock& clock, const Transport& transport, const DeliverOptions& options) {
  return Deliverer(store, notifiers, clock, transport, options).run();
}

SendResult send_now(const defs::NotifierConfig& config, const Message& message, Clock& clock,
                    const Transport& transport) {
  const Kind* kind = find_kind(config.kind);
  if (kind == nullptr) {
    throw core::Error(core::ExitCode::bad_definitions,
                      fmt::format("notifier '{}' has an unknown kind '{}'", config.name, config.kind), {},
                      "run `has validate`");
  }
  SendContext context{clock, transport};
  Message keyed = message;
  if (keyed.key.empty()) {
    keyed.key = content_key(keyed);
  }
  return redacted(kind->send(config, keyed, context));
}

Message test_message(const defs::NotifierConfig& config, Clock& clock) {
  Message message;
  message.title = fmt::format("has: test of notifier {}", config.name);
  message.text = fmt::format("This is a test message from `has notify test {}` ({} notifier), sent at {}.",
                             config.name, config.kind, iso(clock.now()));
  message.status = probe::Status::ok;
  message.key = fmt::format("test-{}", unix_ms(clock.now()));
  return message;
}

} // namespace has::notify
