#pragma once

#include <has/probe/probe.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <string>

namespace has::notify {

// What a notification says; every notifier kind renders it its own way
// (DingTalk Markdown, a Feishu card, Slack blocks, a JSON body, a mail).
struct Message {
  std::string title;
  std::string text; // Markdown
  probe::Status status = probe::Status::unknown;
  std::optional<std::string> link; // a full report; trimmed messages point to it
  // Identifies the message for deduplication: the outbox keeps one message
  // per notifier and key, and DingTalk receives it as msgUuid. Empty: a hash
  // of the content is used.
  std::string key;
  std::map<std::string, int> counts; // e.g. newly_failing, recovered, critical
};

// Returns the message as the JSON object stored in the outbox and given to
// webhook templates: {title, text, status, link, key, counts}.
nlohmann::json to_json(const Message& message);

// Returns the message a to_json() object describes; throws
// core::Error(ExitCode::io) naming the missing or mistyped field.
Message message_from_json(const nlohmann::json& json);

// Returns a key derived from the title, text, status and link (a SHA-256
// prefix, hex): equal messages get equal keys. Throws core::Error if OpenSSL
// fails.
std::string content_key(const Message& message);

// Why a send failed, which decides what the outbox does next.
enum class Retry {
  later,        // may work later (service down, 5xx, timeout): back off and retry
  no,           // will not work until the configuration changes: give up
  rate_limited, // the service asked to slow down: wait retry_after, no attempt counted
};

// What one attempt to send a message came to.
struct SendResult {
  bool ok = false;
  long http_status = 0; // 0: no HTTP answer (or not HTTP)
  std::string body;     // what the service answered, as it answered (secrets redacted)
  std::string error;    // what went wrong and the reason; empty when ok
  std::string help;     // what to do about it, where known
  Retry retry = Retry::later;
  std::optional<std::chrono::milliseconds> retry_after;
  bool trimmed = false; // the text was cut to the service's size limit
};

} // namespace has::notify
