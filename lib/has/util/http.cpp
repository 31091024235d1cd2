// HTTP through libcurl: one easy handle per transfer, configured the same way
// for the single and the multi path; the multi path shares connections, the
// DNS cache and TLS sessions between its transfers.

#include <has/util/http.hpp>

#include <has/core/error.hpp>
#include <has/core/log.hpp>

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <deque>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace has::util {
namespace {

using core::Error;
using core::ExitCode;

void global_init() {
  static std::once_flag once;
  static CURLcode result = CURLE_OK;
  std::call_once(once, [] { result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (result != CURLE_OK) {
    throw Error(ExitCode::unavailable, "cannot initialise libcurl", curl_easy_strerror(result));
  }
}

struct EasyCleanup {
  void operator()(CURL* easy) const noexcept { curl_easy_cleanup(easy); }
};
struct MultiCleanup {
  void operator()(CURLM* multi) const noexcept { curl_multi_cleanup(multi); }
};
struct ShareCleanup {
  void operator()(CURLSH* share) const noexcept { curl_share_cleanup(share); }
};
struct SlistCleanup {
  void operator()(curl_slist* list) const noexcept { curl_slist_free_all(list); }
};
using EasyHandle = std::unique_ptr<CURL, EasyCleanup>;
using MultiHandle = std::unique_ptr<CURLM, MultiCleanup>;
using ShareHandle = std::unique_ptr<CURLSH, ShareCleanup>;
using Slist = std::unique_ptr<curl_slist, SlistCleanup>;

void check_multi(CURLMcode code, const char* step) {
  if (code != CURLM_OK) {
    throw Error(ExitCode::failure, "HTTP transfers failed", std::string(step) + ": " + curl_multi_strerror(code));
  }
}

void check_share(CURLSHcode code, const char* step) {
  if (code != CURLSHE_OK) {
    throw Error(ExitCode::failure, "HTTP transfers failed", std::string(step) + ": " + curl_share_strerror(code));
  }
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string_view trim(std::string_view text) {
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!text.empty() && is_space(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && is_space(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

// Appends one line to a curl_slist; returns false when out of memory.
bool append(Slist& list, const std::string& line) {
  curl_slist* grown = curl_slist_append(list.get(), line.c_str());
  if (grown == nullptr) {
    return false;
  }
  (void)list.release(); // grown is the same list, or a new one if it was empty
  list.reset(grown);
  return true;
}

// "scheme://host:port" of a URL, lower-cased: the key for per-host limits.
std::string origin_of(std::string_view url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    return lower(url);
  }
  auto authority_end = url.find_first_of("/?#", scheme_end + 3);
  auto origin = url.substr(0, authority_end);
  if (auto at = origin.rfind('@'); at != std::string_view::npos && at > scheme_end) {
    return lower(origin.substr(0, scheme_end + 3)) + lower(origin.substr(at + 1));
  }
  return lower(origin);
}

// Parses OpenSSL's "Mon DD HH:MM:SS YYYY GMT" (what curl reports as "Expire
// date"); returns seconds since the epoch.
std::optional<std::time_t> parse_cert_time(std::string_view text) {
  static constexpr std::array<std::string_view, 12> k_months = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  text = trim(text);
  if (text.size() < 3) {
    return std::nullopt;
  }
  auto month = std::find(k_months.begin(), k_months.end(), text.substr(0, 3));
  if (month == k_months.end()) {
    return std::nullopt;
  }
  std::tm parts{};
  std::string rest(text.substr(3));
  if (std::sscanf(rest.c_str(), "%d %d:%d:%d %d", &parts.tm_mday, &parts.tm_hour, &parts.tm_min, &parts.tm_sec,
                  &parts.tm_year) != 5) {
    return std::nullopt;
  }
  parts.tm_mon = static_cast<int>(month - k_months.begin());
  parts.tm_year -= 1900;
  return ::timegm(&parts);
}

// Whole days from now until the leaf certificate's notAfter (negative once
// expired), if curl gathered certificate info for this transfer.
std::optional<int> cert_days_left(CURL* easy) {
  curl_certinfo* info = nullptr;
  if (curl_easy_getinfo(easy, CURLINFO_CERTINFO, &info) != CURLE_OK || info == nullptr || info->num_of_certs < 1) {
    return std::nullopt;
  }
  constexpr std::string_view k_label = "Expire date:";
  for (curl_slist* field = info->certinfo[0]; field != nullptr; field = field->next) {
    std::string_view text(field->data);
    if (text.starts_with(k_label)) {
      auto not_after = parse_cert_time(text.substr(k_label.size()));
      if (!not_after) {
        return std::nullopt;
      }
      double seconds = std::difftime(*not_after, std::time(nullptr));
      return static_cast<int>(std::floor(seconds / 86400.0));
    }
  }
  return std::nullopt;
}

// One request in flight: the easy handle and everything its callbacks touch.
class Transfer {
public:
  Transfer(std::size_t index, const HttpRequest& request, EasyHandle easy)
    : m_index(index), m_request(&request), m_easy(std::move(easy)) {}
  ~Transfer() { detach(); }
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;

  std::size_t index() const noexcept { return m_index; }
  const HttpRequest& request() const noexcept { return *m_request; }
  CURL* easy() const noexcept { return m_easy.get(); }
  HttpResponse& response() noexcept { return m_response; }

  // Sets every option the request asks for; returns the first failure.
  CURLcode configure(CURLSH* share);

  void attach(CURLM* multi) {
    check_multi(curl_multi_add_handle(multi, m_easy.get()), "curl_multi_add_handle");
    m_multi = multi;
  }
  void detach() noexcept {
    if (m_multi != nullptr) {
      curl_multi_remove_handle(m_multi, m_easy.get());
      m_multi = nullptr;
    }
  }

  // Fills the response from the finished transfer's result and info.
  void finish(CURLcode result);

  // Returns the handle for reuse, or nothing when it must not be reused (a
  // cookie jar is written when its handle is cleaned up).
  EasyHandle release_for_reuse() {
    detach();
    if (!m_request->cookie_file.empty()) {
      m_easy.reset();
      return nullptr;
    }
    curl_easy_reset(m_easy.get());
    return std::move(m_easy);
  }

private:
  static std::size_t on_body(char* data, std::size_t size, std::size_t count, void* self);
  static std::size_t on_header(char* data, std::size_t size, std::size_t count, void* self);

  std::size_t m_index;
  const HttpRequest* m_request;
  EasyHandle m_easy;
  CURLM* m_multi = nullptr;
  Slist m_headers;
  std::array<char, CURL_ERROR_SIZE> m_error{};
  HttpResponse m_response;
};

std::size_t Transfer::on_body(char* data, std::size_t size, std::size_t count, void* self) {
  auto& transfer = *static_cast<Transfer*>(self);
  auto& response = transfer.m_response;
  std::size_t n = size * count;
  std::size_t limit = transfer.m_request->max_body;
  std::size_t room = response.body.size() < limit ? limit - response.body.size() : 0;
  if (n <= room) {
    response.body.append(data, n);
    return n;
  }
  // Keep what fits and stop: a check has no use for the rest of a huge body.
  response.body.append(data, room);
  response.body_truncated = true;
  return CURL_WRITEFUNC_ERROR;
}

std::size_t Transfer::on_header(char* data, std::size_t size, std::size_t count, void* self) {
  auto& response = static_cast<Transfer*>(self)->m_response;
  std::size_t n = size * count;
  std::string_view line = trim(std::string_view(data, n));
  if (line.starts_with("HTTP/")) {
    // A new response (after a redirect or a 100 Continue): keep only the last.
    response.headers.clear();
    return n;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    return n;
  }
  response.headers.emplace_back(lower(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1))));
  return n;
}

CURLcode Transfer::configure(CURLSH* share) {
  CURL* easy = m_easy.get();
  const HttpRequest& request = *m_request;
  CURLcode code = CURLE_OK;
  // curl_easy_setopt is variadic: each helper passes exactly the type the
  // option expects.
  auto set_long = [&](CURLoption option, long value) {
    if (code == CURLE_OK) {
      code = curl_easy_setopt(easy, option, value);
    }
  };
  auto set_text = [&](CURLoption option, const char* value) {
    if (code == CURLE_OK) {
      code = curl_easy_setopt(easy, option, value);
    }
  };
  auto set_pointer = [&](CURLoption option, void* value) {
    if (code == CURLE_OK) {
      code = curl_easy_setopt(easy, option, value);
    }
  };
  auto set_size = [&](CURLoption option, curl_off_t value) {
    if (code == CURLE_OK) {
      code = curl_easy_setopt(easy, option, value);
    }
  };
  using Callback = std::size_t (*)(char*, std::size_t, std::size_t, void*);
  auto set_callback = [&](CURLoption option, Callback value) {
    if (code == CURLE_OK) {
      code = curl_easy_setopt(easy, option, value);
    }
  };

  set_pointer(CURLOPT_ERRORBUFFER, m_error.data());
  set_text(CURLOPT_URL, request.url.c_str());
  set_text(CURLOPT_PROTOCOLS_STR, "http,https");
  set_text(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  set_long(CURLOPT_NOSIGNAL, 1L);
  set_pointer(CURLOPT_PRIVATE, this);
  set_callback(CURLOPT_WRITEFUNCTION, &Transfer::on_body);
  set_pointer(CURLOPT_WRITEDATA, this);
  set_callback(CURLOPT_HEADERFUNCTION, &Transfer::on_header);
  set_pointer(CURLOPT_HEADERDATA, this);
  if (share != nullptr) {
    set_pointer(CURLOPT_SHARE, share);
  }

  const std::string method = request.method.empty() ? std::string("GET") : request.method;
  const bool bodiless = method == "GET" || method == "HEAD" || method == "DELETE" || method == "OPTIONS";
  if (method == "HEAD") {
    set_long(CURLOPT_NOBODY, 1L);
  } else if (method == "POST") {
    set_long(CURLOPT_POST, 1L);
  } else if (method != "GET" || !request.body.empty()) {
    set_text(CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  if (!request.body.empty() || !bodiless) {
    // Content-Length is sent even for an empty PUT/PATCH body.
    set_size(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    set_text(CURLOPT_POSTFIELDS, request.body.c_str());
  }

  bool has_expect = false;
  for (const auto& [name, value] : request.headers) {
    has_expect = has_expect || lower(name) == "expect";
    // "Name;" is curl's way to send a header with an empty value.
    if (!append(m_headers, value.empty() ? name + ";" : name + ": " + value)) {
      return CURLE_OUT_OF_MEMORY;
    }
  }
  if (!has_expect) {
    // No "Expect: 100-continue" round trip (and its 1 s stall) for bodies.
    if (!append(m_headers, "Expect:")) {
      return CURLE_OUT_OF_MEMORY;
    }
  }
  set_pointer(CURLOPT_HTTPHEADER, m_headers.get());

  if (request.timeout.count() > 0) {
    set_long(CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
  }
  if (request.connect_timeout.count() > 0) {
    set_long(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(request.connect_timeout.count()));
  }
  if (request.verify == TlsVerify::off) {
    set_long(CURLOPT_SSL_VERIFYPEER, 0L);
    set_long(CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!request.ca_file.empty()) {
    set_text(CURLOPT_CAINFO, request.ca_file.c_str());
  }
  if (!request.client_cert.empty()) {
    set_text(CURLOPT_SSLCERT, request.client_cert.c_str());
  }
  if (!request.client_key.empty()) {
    set_text(CURLOPT_SSLKEY, request.client_key.c_str());
  }
  // Only costs anything during a TLS handshake.
  set_long(CURLOPT_CERTINFO, 1L);
  if (request.redirects == Redirects::follow) {
    set_long(CURLOPT_FOLLOWLOCATION, 1L);
    set_long(CURLOPT_MAXREDIRS, static_cast<long>(request.max_redirects));
  }
  if (!request.cookie_file.empty()) {
    set_text(CURLOPT_COOKIEFILE, request.cookie_file.c_str());
    set_text(CURLOPT_COOKIEJAR, request.cookie_file.c_str());
  }
  return code;
}

void Transfer::finish(CURLcode result) {
  CURL* easy = m_easy.get();
  HttpResponse& response = m_response;
  CURLcode info = CURLE_OK;
  auto keep_first = [&](CURLcode code) {
    if (info == CURLE_OK) {
      info = code;
    }
  };
  long status = 0;
  keep_first(curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status));
  response.status = status;
  curl_off_t total_us = 0;
  keep_first(curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total_us));
  response.elapsed_ms = static_cast<double>(total_us) / 1000.0;
  char* url = nullptr;
  keep_first(curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &url));
  response.effective_url = url != nullptr ? url : m_request->url;
  response.cert_days_left = cert_days_left(easy);

  // Stopping at max_body is how truncation works, not a failure.
  bool stopped_on_purpose = result == CURLE_WRITE_ERROR && response.body_truncated;
  if (result != CURLE_OK && !stopped_on_purpose) {
    response.error = m_error[0] != '\0' ? std::string(m_error.data()) : curl_easy_strerror(result);
  } else if (info != CURLE_OK) {
    response.error = std::string("curl_easy_getinfo: ") + curl_easy_strerror(info);
  }
}

// Builds the transfer for one request; a setup failure becomes the
// response's error (returned through `failed`).
std::unique_ptr<Transfer> prepare(std::size_t index, const HttpRequest& request, EasyHandle easy, CURLSH* share,
                                  HttpResponse& failed) {
  if (!easy) {
    easy.reset(curl_easy_init());
    if (!easy) {
      failed.error = "curl_easy_init failed";
      return nullptr;
    }
  }
  auto transfer = std::make_unique<Transfer>(index, request, std::move(easy));
  if (CURLcode code = transfer->configure(share); code != CURLE_OK) {
    failed.error = std::string("cannot set up the request: ") + curl_easy_strerror(code);
    failed.effective_url = request.url;
    return nullptr;
  }
  return transfer;
}

// The SMTP side of send_mail: the payload curl reads and the server's last
// refusal (curl hands SMTP replies to the header callback; after a refusal it
// still sends QUIT, so the last reply is not the one that matters).
struct MailTransfer {
  std::string_view payload;
  std::size_t sent = 0;
  std::string refusal; // the last 4xx or 5xx reply
  std::string reply_line; // the reply being received, which may span lines

  static std::size_t on_read(char* buffer, std::size_t size, std::size_t count, void* self) {
    auto& transfer = *static_cast<MailTransfer*>(self);
    std::size_t n = std::min(size * count, transfer.payload.size() - transfer.sent);
    std::copy_n(transfer.payload.data() + transfer.sent, n, buffer);
    transfer.sent += n;
    return n;
  }

  static std::size_t on_reply(char* data, std::size_t size, std::size_t count, void* self) {
    auto& transfer = *static_cast<MailTransfer*>(self);
    std::size_t n = size * count;
    std::string_view line = trim(std::string_view(data, n));
    // "250-..." continues a multi-line reply, "250 ..." ends it.
    transfer.reply_line += transfer.reply_line.empty() ? "" : " ";
    transfer.reply_line += line;
    if (line.size() < 4 || line[3] != '-') {
      if (transfer.reply_line.starts_with('4') || transfer.reply_line.starts_with('5')) {
        transfer.refusal = transfer.reply_line;
      }
      transfer.reply_line.clear();
    }
    return n;
  }
};

} // namespace

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) {
      return value;
    }
  }
  return std::nullopt;
}

HttpResponse http_request(const HttpRequest& request) {
  global_init();
  HttpResponse failed;
  auto transfer = prepare(0, request, nullptr, nullptr, failed);
  if (!transfer) {
    return failed;
  }
  transfer->finish(curl_easy_perform(transfer->easy()));
  return std::move(transfer->response());
}

void http_requests(const std::vector<HttpRequest>& requests, std::size_t concurrency, std::size_t per_host,
                   const std::function<void(std::size_t, HttpResponse)>& on_done) {
  if (requests.empty()) {
    return;
  }
  global_init();
  const std::size_t limit = std::max<std::size_t>(concurrency, 1);

  // Declared so that transfers go first, then spare handles, the multi and
  // the share they use.
  ShareHandle share(curl_share_init());
  if (!share) {
    throw Error(ExitCode::failure, "HTTP transfers failed", "curl_share_init failed");
  }
  // TLS session resumption for every new connection to a host seen before.
  check_share(curl_share_setopt(share.get(), CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION), "curl_share_setopt");
  MultiHandle multi(curl_multi_init());
  if (!multi) {
    throw Error(ExitCode::failure, "HTTP transfers failed", "curl_multi_init failed");
  }
  if (per_host > 0) {
    check_multi(curl_multi_setopt(multi.get(), CURLMOPT_MAX_HOST_CONNECTIONS, static_cast<long>(per_host)),
                "curl_multi_setopt");
  }
  std::vector<EasyHandle> spare;
  std::unordered_map<CURL*, std::unique_ptr<Transfer>> in_flight;

  // Per-host queues, so a request waiting for its host never sits inside curl
  // with its timeout (and elapsed time) already running.
  struct Host {
    std::size_t in_flight = 0;
    std::deque<std::size_t> waiting;
  };
  std::unordered_map<std::string, Host> hosts;
  // Leaf certificate expiry per origin: a reused connection has no handshake,
  // so curl reports certificate info only for the first transfer on it.
  std::unordered_map<std::string, int> cert_days;

  auto start = [&](std::size_t index) {
    const HttpRequest& request = requests[index];
    EasyHandle easy;
    if (!spare.empty()) {
      easy = std::move(spare.back());
      spare.pop_back();
    }
    HttpResponse failed;
    auto transfer = prepare(index, request, std::move(easy), share.get(), failed);
    if (!transfer) {
      on_done(index, std::move(failed));
      return;
    }
    if (per_host > 0) {
      ++hosts[origin_of(request.url)].in_flight;
    }
    transfer->attach(multi.get());
    in_flight.emplace(transfer->easy(), std::move(transfer));
  };

  std::size_t next = 0;
  auto fill = [&] {
    while (in_flight.size() < limit && next < requests.size()) {
      std::size_t index = next++;
      if (per_host > 0) {
        Host& host = hosts[origin_of(requests[index].url)];
        if (host.in_flight >= per_host) {
          host.waiting.push_back(index);
          continue;
        }
      }
      start(index);
    }
  };

  auto complete = [&](CURL* easy, CURLcode result) {
    auto found = in_flight.find(easy);
    if (found == in_flight.end()) {
      return;
    }
    std::unique_ptr<Transfer> transfer = std::move(found->second);
    in_flight.erase(found);
    transfer->detach();
    transfer->finish(result);
    HttpResponse& response = transfer->response();
    if (response.ok() && response.effective_url.starts_with("https://")) {
      auto origin = origin_of(response.effective_url);
      if (response.cert_days_left) {
        cert_days[origin] = *response.cert_days_left;
      } else if (auto known = cert_days.find(origin); known != cert_days.end()) {
        response.cert_days_left = known->second;
      }
    }
    if (EasyHandle reusable = transfer->release_for_reuse()) {
      spare.push_back(std::move(reusable));
    }
    std::size_t index = transfer->index();
    if (per_host > 0) {
      Host& host = hosts[origin_of(transfer->request().url)];
      --host.in_flight;
      if (!host.waiting.empty()) {
        std::size_t waiting = host.waiting.front();
        host.waiting.pop_front();
        start(waiting);
      }
    }
    on_done(index, std::move(response));
  };

  // A host with waiting requests has some in flight, so this covers them.
  while (next < requests.size() || !in_flight.empty()) {
    fill();
    int running = 0;
    check_multi(curl_multi_perform(multi.get(), &running), "curl_multi_perform");
    int queued = 0;
    while (CURLMsg* message = curl_multi_info_read(multi.get(), &queued)) {
      if (message->msg == CURLMSG_DONE) {
        complete(message->easy_handle, message->data.result);
      }
    }
    // Handles added since the perform carry a zero timeout, which cuts the
    // wait short.
    if (running > 0) {
      check_multi(curl_multi_poll(multi.get(), nullptr, 0, 1000, nullptr), "curl_multi_poll");
    }
  }
}

MailResponse send_mail(const MailRequest& request) {
  global_init();
  MailResponse response;
  EasyHandle easy(curl_easy_init());
  if (!easy) {
    response.error = "curl_easy_init failed";
    return response;
  }
  Slist recipients;
  for (const auto& address : request.to) {
    if (!append(recipients, address)) {
      response.error = "cannot set up the mail: out of memory";
      return response;
    }
  }
  MailTransfer transfer;
  transfer.payload = request.payload;
  std::array<char, CURL_ERROR_SIZE> error{};

  CURL* handle = easy.get();
  CURLcode code = CURLE_OK;
  // curl_easy_setopt is variadic: each helper passes exactly the type the
  // option expects.
  auto set_long = [&](CURLoption option, long value) {
    if (code == CURLE_OK) {
      code = curl_easy_setopt(handle, option, value);
    }
  };
  auto set_text = [&](CURLoption option, const char* value) {
    if (code == CURLE_OK) {
      code = curl_easy_setopt(handle, option, value);
    }
  };
  auto set_pointer = [&](CURLoption option, void* value) {
    if (code == CURLE_OK) {
      code = curl_easy_setopt(handle, option, value);
    }
  };
  using Callback = std::size_t (*)(char*, std::size_t, std::size_t, void*);
  auto set_callback = [&](CURLoption option, Callback value) {
    if (code == CURLE_OK) {
      code = curl_easy_setopt(handle, option, value);
    }
  };

  set_pointer(CURLOPT_ERRORBUFFER, error.data());
  set_text(CURLOPT_URL, request.url.c_str());
  set_text(CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  set_long(CURLOPT_NOSIGNAL, 1L);
  // STARTTLS whenever the server offers it; smtps:// is TLS from the start.
  set_long(CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_TRY));
  set_text(CURLOPT_MAIL_FROM, request.from.c_str());
  set_pointer(CURLOPT_MAIL_RCPT, recipients.get());
  set_long(CURLOPT_UPLOAD, 1L);
  set_callback(CURLOPT_READFUNCTION, &MailTransfer::on_read);
  set_pointer(CURLOPT_READDATA, &transfer);
  set_callback(CURLOPT_HEADERFUNCTION, &MailTransfer::on_reply);
  set_pointer(CURLOPT_HEADERDATA, &transfer);
  if (!request.username.empty()) {
    set_text(CURLOPT_USERNAME, request.username.c_str());
    set_text(CURLOPT_PASSWORD, request.password.c_str());
  }
  if (request.timeout.count() > 0) {
    set_long(CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
  }
  if (request.verify == TlsVerify::off) {
    set_long(CURLOPT_SSL_VERIFYPEER, 0L);
    set_long(CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (code != CURLE_OK) {
    response.error = std::string("cannot set up the mail: ") + curl_easy_strerror(code);
    return response;
  }

  const CURLcode result = curl_easy_perform(handle);
  long reply = 0;
  const CURLcode info = curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &reply);
  response.code = reply;
  if (result != CURLE_OK) {
    response.error = error[0] != '\0' ? std::string(error.data()) : curl_easy_strerror(result);
    // curl names the failed step and code; the server's text says why.
    if (!transfer.refusal.empty()) {
      response.error += ": " + transfer.refusal;
    }
  } else if (info != CURLE_OK) {
    response.error = std::string("curl_easy_getinfo: ") + curl_easy_strerror(info);
  }
  return response;
}

std::string url_encode(std::string_view s) {
  static constexpr char k_hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (char c : s) {
    auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += k_hex[byte >> 4];
      out += k_hex[byte & 0x0F];
    }
  }
  return out;
}

} // namespace has::util
