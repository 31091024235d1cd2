#include <has/notify/support.hpp>

#include <has/core/error.hpp>
#include <has/core/redact.hpp>
#include <has/defs/env.hpp>

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <charconv>

namespace has::notify {

namespace {

[[noreturn]] void openssl_failed(std::string_view what) {
  throw core::Error(core::ExitCode::failure, fmt::format("cannot compute {}", what),
                    "OpenSSL's libcrypto failed", "check the OpenSSL installation");
}

bool continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Returns the longest prefix of text that measures at most limit, ending at
// a character boundary.
std::string_view prefix(std::string_view text, std::size_t limit, Measure unit) {
  if (unit == Measure::bytes) {
    if (text.size() <= limit) {
      return text;
    }
    std::size_t end = limit;
    while (end > 0 && continuation(text[end])) {
      --end;
    }
    return text.substr(0, end);
  }
  std::size_t characters = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (!continuation(text[i])) {
      if (characters == limit) {
        return text.substr(0, i);
      }
      ++characters;
    }
  }
  return text;
}

std::string_view trim_newlines(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.remove_suffix(1);
  }
  return text;
}

} // namespace

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &length) == nullptr) {
    openssl_failed("an HMAC-SHA256 signature");
  }
  return {reinterpret_cast<const char*>(out), length};
}

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                     reinterpret_cast<const unsigned char*>(bytes.data()),
                                     static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(length));
  return out;
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    openssl_failed("a SHA-256 digest");
  }
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += fmt::format("{:02x}", digest[i]);
  }
  return out;
}

std::string resolve(const defs::NotifierConfig& config, const std::string& text, Credential credential) {
  std::string value = defs::resolve_env(text, config.where);
  if (credential == Credential::yes) {
    core::register_secret(value);
  }
  return value;
}

std::string resolve_http_url(const defs::NotifierConfig& config, Credential credential) {
  std::string url = resolve(config, config.url, credential);
  if (!url.starts_with("http://") && !url.starts_with("https://")) {
    throw core::Error(core::ExitCode::bad_definitions,
                      fmt::format("the url of {} is not an http:// or https:// URL", subject(config)),
                      fmt::format("{} sets url to \"{}\"", config.where.str(), config.url),
                      "give the webhook URL exactly as the service shows it");
  }
  return url;
}

std::size_t measure(std::string_view text, Measure unit) {
  if (unit == Measure::bytes) {
    return text.size();
  }
  std::size_t count = 0;
  for (char c : text) {
    count += continuation(c) ? 0 : 1;
  }
  return count;
}

std::string trim_lines(std::string_view text, std::size_t limit, Measure unit,
                       const std::function<std::string(std::size_t)>& tail) {
  if (measure(text, unit) <= limit) {
    return std::string(text);
  }
  std::vector<std::string_view> lines;
  for (std::size_t start = 0; start < text.size();) {
    auto end = text.find('\n', start);
    end = end == std::string_view::npos ? text.size() : end + 1;
    lines.push_back(text.substr(start, end - start));
    start = end;
  }
  std::string kept;
  std::size_t used = 0;
  for (; used < lines.size(); ++used) {
    const std::size_t omitted = lines.size() - used - 1;
    const std::size_t size = measure(trim_newlines(kept + std::string(lines[used])), unit) +
                             measure(tail(omitted), unit);
    if (size > limit) {
      break;
    }
    kept += lines[used];
  }
  const std::string end = tail(lines.size() - used);
  const std::size_t end_size = measure(end, unit);
  if (used == 0) {
    // Even the first line is too long: show as much of it as fits.
    if (end_size >= limit) {
      return std::string(prefix(text, limit, unit));
    }
    return std::string(prefix(lines[0], limit - end_size, unit)) + end;
  }
  return std::string(trim_newlines(kept)) + end;
}

std::string markdown_tail(std::size_t omitted_lines, const std::optional<std::string>& link) {
  if (link) {
    return fmt::format("\n\n… {} more lines not shown: [full report]({})", omitted_lines, *link);
  }
  return fmt::format("\n\n… {} more lines not shown (no link to a full report was given)", omitted_lines);
}

std::string with_link(std::string text, const Message& message) {
  if (message.link && text.find(*message.link) == std::string::npos) {
    text += fmt::format("\n\n[Full report]({})", *message.link);
  }
  return text;
}

std::string fit_body(const std::string& text, std::size_t limit, const Message& message,
                     const std::function<std::string(const std::string&)>& build, bool& trimmed) {
  auto tail = [&](std::size_t omitted) { return markdown_tail(omitted, message.link); };
  std::size_t text_limit = limit;
  std::string body;
  // JSON escapes can make the body grow faster than the text, so cut again
  // by what is still over until it fits.
  for (int round = 0; round < 16; ++round) {
    std::string cut = trim_lines(text, text_limit, Measure::bytes, tail);
    trimmed = cut.size() != text.size();
    body = build(cut);
    if (body.size() <= limit) {
      return body;
    }
    const std::size_t excess = body.size() - limit;
    const std::size_t current = std::min(text_limit, cut.size());
    text_limit = current > excess ? current - excess : 0;
  }
  return body;
}

util::HttpRequest json_post(const defs::NotifierConfig& config, std::string url, std::string body) {
  util::HttpRequest request;
  request.method = "POST";
  request.url = std::move(url);
  request.headers = {{"Content-Type", "application/json; charset=utf-8"}};
  request.body = std::move(body);
  request.timeout = config.timeout;
  request.max_body = 1 << 20;
  return request;
}

std::optional<SendResult> transport_failure(const defs::NotifierConfig& config,
                                            const util::HttpResponse& response) {
  if (response.ok()) {
    return std::nullopt;
  }
  SendResult result;
  result.error = fmt::format("{} could not be reached: {}", subject(config), response.error);
  result.help = "check the URL and the network; the message stays in the outbox and is retried";
  result.retry = Retry::later;
  return result;
}

std::optional<nlohmann::json> json_reply(const std::string& body) {
  auto json = nlohmann::json::parse(body, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    return std::nullopt;
  }
  return json;
}

std::optional<std::chrono::milliseconds> retry_after(const util::HttpResponse& response) {
  auto value = response.header("retry-after");
  if (!value) {
    return std::nullopt;
  }
  long seconds = 0;
  auto [ptr, ec] = std::from_chars(value->data(), value->data() + value->size(), seconds);
  if (ec != std::errc() || seconds < 0) {
    return std::nullopt;
  }
  return std::chrono::seconds(seconds);
}

SendResult http_failure(const defs::NotifierConfig& config, const util::HttpResponse& response) {
  SendResult result;
  result.http_status = response.status;
  result.body = response.body;
  std::string excerpt = response.body.substr(0, 200);
  if (response.status == 429) {
    result.retry = Retry::rate_limited;
    result.retry_after = retry_after(response).value_or(std::chrono::seconds(60));
    result.error = fmt::format("{} is rate limited (HTTP 429, retry after {} s)", subject(config),
                               std::chrono::duration_cast<std::chrono::seconds>(*result.retry_after).count());
    result.help = "the message stays in the outbox and is sent when the service allows";
  } else if (response.status == 408 || response.status >= 500) {
    result.retry = Retry::later;
    result.error = fmt::format("{} failed with HTTP {}: {}", subject(config), response.status, excerpt);
    result.help = "the service has trouble; the message stays in the outbox and is retried";
  } else {
    result.retry = Retry::no;
    result.error = fmt::format("{} refused the message with HTTP {}: {}", subject(config), response.status, excerpt);
    result.help = "check the notifier's url and settings in has.yaml";
  }
  return result;
}

std::string subject(const defs::NotifierConfig& config) {
  return fmt::format("{} notifier '{}'", config.kind, config.name);
}

SendResult reply_without_code(const defs::NotifierConfig& config, const util::HttpResponse& response,
                              std::string_view field, std::string_view example_url) {
  if (response.status != 200) {
    return http_failure(config, response);
  }
  SendResult result;
  result.http_status = response.status;
  result.body = response.body;
  result.error = fmt::format("{} answered HTTP 200 without {}: {}", subject(config), field,
                             response.body.substr(0, 200));
  result.help = fmt::format("check that url is the webhook ({})", example_url);
  result.retry = Retry::no;
  return result;
}

} // namespace has::notify
