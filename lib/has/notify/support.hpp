#pragma once

// What the notifier kinds share: signing, resolving secrets, trimming to a
// service's size limit, and reading the service's answer.

#include <has/defs/notifiers.hpp>
#include <has/notify/message.hpp>
#include <has/util/http.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace has::notify {

// Returns the raw HMAC-SHA256 of data under key; throws core::Error if OpenSSL fails.
std::string hmac_sha256(std::string_view key, std::string_view data);

// Returns bytes as standard base64 with padding.
std::string base64(std::string_view bytes);

// Returns the lower-case hex SHA-256 of data; throws core::Error if OpenSSL fails.
std::string sha256_hex(std::string_view data);

// Whether a resolved value is a credential to hide wherever it would be shown.
enum class Credential { yes, no };

// Returns text with ${env:NAME} resolved now, each value registered as a
// secret; when credential is yes the whole result is registered too (robot
// URLs carry their token). Throws core::Error(bad_definitions) naming the
// notifier's has.yaml location when a variable is not set.
std::string resolve(const defs::NotifierConfig& config, const std::string& text, Credential credential);

// Returns the notifier's URL resolved as resolve() does; throws
// core::Error(bad_definitions) if it does not start with http:// or https://.
std::string resolve_http_url(const defs::NotifierConfig& config, Credential credential);

// How a service counts the length of a text.
enum class Measure { bytes, characters };

// Returns the length of text: bytes, or UTF-8 code points.
std::size_t measure(std::string_view text, Measure unit);

// Returns text cut to at most limit (in unit) at a line boundary, ending with
// tail(omitted_lines), which must fit; a first line longer than the limit is
// cut at a character boundary. Returns text unchanged when it fits.
std::string trim_lines(std::string_view text, std::size_t limit, Measure unit,
                       const std::function<std::string(std::size_t)>& tail);

// Returns the Markdown line that ends a trimmed text: how much was left out
// and the link to the full report (or that there is none).
std::string markdown_tail(std::size_t omitted_lines, const std::optional<std::string>& link);

// Returns text with the message's link appended as a Markdown link, unless
// the text already holds it.
std::string with_link(std::string text, const Message& message);

// Returns the body cut so that build(text) fits limit bytes, the text cut
// with trim_lines (unit bytes) and markdown_tail; sets trimmed when cut.
std::string fit_body(const std::string& text, std::size_t limit, const Message& message,
                     const std::function<std::string(const std::string&)>& build, bool& trimmed);

// Returns a POST request of a JSON body with the notifier's timeout.
util::HttpRequest json_post(const defs::NotifierConfig& config, std::string url, std::string body);

// Returns the result of a request that got no HTTP answer, or nullopt if it did.
std::optional<SendResult> transport_failure(const defs::NotifierConfig& config, const util::HttpResponse& response);

// Returns the body parsed as a JSON object, or nullopt.
std::optional<nlohmann::json> json_reply(const std::string& body);

// Returns a failure for an HTTP status the kind has no better reading of:
// 429 is rate limited (honouring Retry-After), 408 and 5xx retry later, other
// 4xx will not work as configured.
SendResult http_failure(const defs::NotifierConfig& config, const util::HttpResponse& response);

// Returns the Retry-After header as a duration (seconds form only).
std::optional<std::chrono::milliseconds> retry_after(const util::HttpResponse& response);

// Returns the failure for a reply that lacks the platform's status field:
// an HTTP 200 without it means the url is not the platform's webhook (field
// names the field, e.g. "DingTalk's errcode"; example_url shows the right
// shape); any other status is an HTTP failure.
SendResult reply_without_code(const defs::NotifierConfig& config, const util::HttpResponse& response,
                              std::string_view field, std::string_view example_url);

// Returns "KIND notifier 'NAME'", the subject of every error.
std::string subject(const defs::NotifierConfig& config);

} // namespace has::notify
