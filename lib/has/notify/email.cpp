// Email through an SMTP server: the message as a plain-text mail (UTF-8,
// base64). The SMTP conversation itself belongs in util (libcurl stays in
// util/http.cpp, util::send_mail), so this kind builds the mail and hands it
// to Transport::mail.

#include <has/notify/kinds.hpp>
#include <has/notify/support.hpp>

#include <has/core/error.hpp>

#include <fmt/format.h>

#include <array>

namespace has::notify {

namespace {

// Header values come from has.yaml and the environment; a line break would
// let them add headers of their own.
std::string header_value(const defs::NotifierConfig& config, const std::string& field, std::string value) {
  if (value.find_first_of("\r\n") != std::string::npos) {
    throw core::Error(core::ExitCode::bad_definitions,
                      fmt::format("field '{}' of {} holds a line break", field, subject(config)),
                      fmt::format("{} sets it", config.where.str()), "write one address per entry");
  }
  return value;
}

std::string rfc5322_date(std::chrono::system_clock::time_point now) {
  using namespace std::chrono;
  static constexpr std::array<std::string_view, 7> k_days{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::array<std::string_view, 12> k_months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const auto day = floor<days>(now);
  const year_month_day date{day};
  const weekday week{day};
  const hh_mm_ss clock{floor<seconds>(now) - day};
  return fmt::format("{}, {:02} {} {:04} {:02}:{:02}:{:02} +0000", k_days[week.c_encoding()],
                     static_cast<unsigned>(date.day()), k_months[static_cast<unsigned>(date.month()) - 1],
                     static_cast<int>(date.year()), clock.hours().count(), clock.minutes().count(),
                     clock.seconds().count());
}

std::string crlf(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n' && (out.empty() || out.back() != '\r')) {
      out += '\r';
    }
    out += c;
  }
  return out;
}

} // namespace

std::string mail_payload(const defs::NotifierConfig& config, const Message& message,
                         std::chrono::system_clock::time_point now) {
  std::string to;
  for (const auto& address : config.to) {
    to += to.empty() ? "" : ", ";
    to += header_value(config, "to", resolve(config, address, Credential::no));
  }
  const std::string key = message.key.empty() ? content_key(message) : message.key;
  std::string out;
  out += "Date: " + rfc5322_date(now) + "\r\n";
  out += "From: " + header_value(config, "from", resolve(config, config.from, Credential::no)) + "\r\n";
  out += "To: " + to + "\r\n";
  out += "Subject: =?UTF-8?B?" + base64(message.title) + "?=\r\n";
  out += fmt::format("Message-ID: <{}@has>\r\n", sha256_hex(key).substr(0, 32));
  out += fmt::format("X-Has-Status: {}\r\n", probe::status_name(message.status));
  out += "MIME-Version: 1.0\r\n";
  out += "Content-Type: text/plain; charset=UTF-8\r\n";
  out += "Content-Transfer-Encoding: base64\r\n\r\n";
  const std::string encoded = base64(crlf(with_link(message.title + "\n\n" + message.text, message)));
  for (std::size_t i = 0; i < encoded.size(); i += 76) {
    out += encoded.substr(i, 76) + "\r\n";
  }
  return out;
}

SendResult send_email(const defs::NotifierConfig& config, const Message& message, const SendContext& context) {
  MailRequest request;
  request.url = resolve(config, config.url, Credential::no);
  if (!request.url.starts_with("smtp://") && !request.url.starts_with("smtps://")) {
    throw core::Error(core::ExitCode::bad_definitions,
                      fmt::format("the url of {} is not an smtp:// or smtps:// URL", subject(config)),
                      fmt::format("{} sets url to \"{}\"", config.where.str(), config.url),
                      "write smtp://HOST:PORT (STARTTLS where offered) or smtps://HOST:PORT");
  }
  request.username = config.username ? resolve(config, *config.username, Credential::no) : "";
  request.password = config.password ? resolve(config, *config.password, Credential::yes) : "";
  request.from = resolve(config, config.from, Credential::no);
  for (const auto& address : config.to) {
    request.to.push_back(resolve(config, address, Credential::no));
  }
  request.payload = mail_payload(config, message, context.clock.now());
  request.timeout = config.timeout;

  SendResult result;
  if (!context.transport.mail) {
    // Only a caller that cleared Transport::mail gets here.
    result.error = fmt::format("{}: no mail transport is set", subject(config));
    result.help = "the message stays in the outbox";
    result.retry = Retry::later;
    return result;
  }
  const MailResponse response = context.transport.mail(request);
  result.http_status = 0;
  result.body = fmt::format("{}", response.code);
  if (!response.error.empty()) {
    result.error = fmt::format("{}: the mail was not accepted: {}", subject(config), response.error);
    result.help = "check url, username and password; the message stays in the outbox and is retried";
    result.retry = response.code >= 500 && response.code < 600 ? Retry::no : Retry::later;
    return result;
  }
  result.ok = true;
  return result;
}

} // namespace has::notify
