#pragma once

#include <has/defs/notifiers.hpp>
#include <has/notify/clock.hpp>
#include <has/notify/message.hpp>
#include <has/util/http.hpp>

#include <chrono>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace has::notify {

// One mail for an SMTP server, as the email kind hands it to the transport.
using MailRequest = util::MailRequest;
using MailResponse = util::MailResponse;

// The I/O delivery uses, so tests and the CLI can choose it.
struct Transport {
  std::function<util::HttpResponse(const util::HttpRequest&)> http = util::http_request;
  std::function<MailResponse(const MailRequest&)> mail = util::send_mail;
};

// At most count requests to one notifier within any window.
struct RateLimit {
  int count;
  std::chrono::milliseconds window;
};

// What a sender may use.
struct SendContext {
  Clock& clock;
  const Transport& transport;
};

// A notifier kind: its name, the service's rate limits per robot or
// webhook, and the function that sends one message. send() resolves the
// notifier's ${env:} references itself (registering them as secrets), never
// throws for what the service answers (that is a SendResult), and throws
// core::Error only when the configuration cannot be resolved (a variable is
// not set).
struct Kind {
  std::string_view name;
  std::span<const RateLimit> limits;
  SendResult (*send)(const defs::NotifierConfig& config, const Message& message, const SendContext& context);
};

// Returns the kind named name, or nullptr.
const Kind* find_kind(std::string_view name);

// Returns the names of all kinds, in table order.
std::vector<std::string_view> kind_names();

} // namespace has::notify
