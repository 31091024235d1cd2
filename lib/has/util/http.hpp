#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace has::util {

// Whether the server's TLS certificate (and host name) must check out.
enum class TlsVerify { on, off };

// Whether 3xx responses are followed (up to HttpRequest::max_redirects).
enum class Redirects { none, follow };

// One HTTP(S) request. Only http:// and https:// URLs are accepted.
struct HttpRequest {
  std::string method = "GET", url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Whole transfer / connection setup; 0 means no limit / libcurl's default.
  std::chrono::milliseconds timeout{10000}, connect_timeout{0};
  TlsVerify verify = TlsVerify::on;
  std::string ca_file, client_cert, client_key; // PEM files; empty = none
  Redirects redirects = Redirects::none;
  int max_redirects = 5;
  // Bytes of body kept; a longer body is cut there and the transfer stopped.
  std::size_t max_body = 8 << 20;
  // Cookie jar read before and written after the request, if non-empty.
  // Concurrent requests sharing one jar: the last to finish writes it.
  std::string cookie_file;
};

// What came back, or why nothing did.
struct HttpResponse {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers; // names lower-cased, last response only
  std::string body;
  bool body_truncated = false;
  double elapsed_ms = 0;
  std::string effective_url;
  std::optional<int> cert_days_left; // https: whole days until the server certificate's notAfter
  std::string error;                 // transport error (libcurl's message); empty on success
  bool ok() const { return error.empty(); }

  // Returns the first value of a header (name in lower case), if present.
  std::optional<std::string> header(std::string_view name) const;
};

// Performs one request and returns the response; an HTTP error status is a
// response, and transport failures (refused, timeout, TLS) are reported in
// HttpResponse::error, never thrown. Throws core::Error only if libcurl itself
// cannot be initialised.
HttpResponse http_request(const HttpRequest& request);

// Performs all requests through one libcurl multi handle (shared connections
// and DNS cache) from the calling thread, at most `concurrency` in flight (0
// counts as 1) and at most `per_host` connections per host (0: no limit);
// calls on_done(index, response) once per index as each completes. Transport
// failures go into the response; throws core::Error only if libcurl's multi
// interface fails. An exception from on_done aborts the rest and propagates.
void http_requests(const std::vector<HttpRequest>& requests, std::size_t concurrency, std::size_t per_host,
                   const std::function<void(std::size_t, HttpResponse)>& on_done);

// One mail for an SMTP server. Only smtp:// (STARTTLS where the server offers
// it) and smtps:// URLs are accepted.
struct MailRequest {
  std::string url;                // smtp://host:port or smtps://host:port
  std::string username, password; // empty: no login
  std::string from;               // the envelope sender
  std::vector<std::string> to;    // the envelope recipients
  std::string payload;            // the whole RFC 5322 message, CRLF line ends
  std::chrono::milliseconds timeout{10'000}; // whole conversation; 0 means no limit
  TlsVerify verify = TlsVerify::on;
};

// What the SMTP server said, or why nothing was said.
struct MailResponse {
  long code = 0;     // the last SMTP reply code (250 when accepted; 0 when none came)
  std::string error; // transport or protocol error, with the server's last reply; empty on success
};

// Sends one mail and returns the server's last reply code; a refusal (a 4xx or
// 5xx reply) and transport failures (refused, timeout, TLS) are reported in
// MailResponse::error, never thrown. Throws core::Error only if libcurl itself
// cannot be initialised.
MailResponse send_mail(const MailRequest& request);

// Returns s percent-encoded as RFC 3986 asks (all but A-Z a-z 0-9 - . _ ~,
// upper-case hex), as request signing expects.
std::string url_encode(std::string_view s);

} // namespace has::util
