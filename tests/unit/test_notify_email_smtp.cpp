// The email notifier end to end through util::send_mail: a tiny SMTP server
// on loopback (one connection, enough of RFC 5321 for libcurl) records the
// envelope and the data, so these tests see what really goes over the wire.

#include <has/notify/deliver.hpp>
#include <has/notify/kinds.hpp>
#include <has/util/http.hpp>

#include "test_notify_services.hpp"

#include <doctest/doctest.h>

#include <poll.h>

#include <map>

using namespace has::notify;
using has::test::FakeClock;
using has::test::ScopedEnv;

namespace {

// What the server saw of one conversation.
struct Envelope {
  std::vector<std::string> commands; // every command line, AUTH credentials included
  std::string auth;                  // the AUTH PLAIN response (base64)
  std::string mail_from;
  std::vector<std::string> rcpt_to;
  std::string data; // the message as received, dot-stuffing and terminator removed
};

// An SMTP server on 127.0.0.1 for one connection. rejected maps a recipient
// to the reply its RCPT TO gets instead of 250.
class FakeSmtp {
public:
  explicit FakeSmtp(std::map<std::string, std::string> rejected = {}) : m_rejected(std::move(rejected)) {
    m_listener = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (m_listener < 0 || ::bind(m_listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(m_listener, 4) != 0 ||
        ::getsockname(m_listener, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("cannot start the SMTP server");
    }
    m_port = ntohs(address.sin_port);
    m_thread = std::thread([this] { serve(); });
  }
  ~FakeSmtp() {
    if (m_thread.joinable()) {
      m_thread.join();
    }
    ::close(m_listener);
  }
  FakeSmtp(const FakeSmtp&) = delete;
  FakeSmtp& operator=(const FakeSmtp&) = delete;

  std::string url() const { return "smtp://127.0.0.1:" + std::to_string(m_port); }

  // Returns what was seen; call after the send returned.
  const Envelope& seen() {
    if (m_thread.joinable()) {
      m_thread.join();
    }
    return m_seen;
  }

private:
  void serve() {
    pollfd ready{m_listener, POLLIN, 0};
    if (::poll(&ready, 1, 10'000) != 1) {
      return;
    }
    const int fd = ::accept(m_listener, nullptr, nullptr);
    if (fd < 0) {
      return;
    }
    timeval timeout{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    converse(fd);
    ::close(fd);
  }

  void converse(int fd) {
    auto say = [&](const std::string& text) { return ::send(fd, text.data(), text.size(), MSG_NOSIGNAL) >= 0; };
    std::string line;
    if (!say("220 fake.test ESMTP ready\r\n")) {
      return;
    }
    while (read_line(fd, line)) {
      m_seen.commands.push_back(line);
      const std::string verb = line.substr(0, line.find(' '));
      if (verb == "EHLO" || verb == "HELO") {
        say("250-fake.test greets you\r\n250 AUTH PLAIN\r\n");
      } else if (line.starts_with("AUTH PLAIN")) {
        if (line.size() > 11) {
          m_seen.auth = line.substr(11);
        } else if (say("334 \r\n") && read_line(fd, m_seen.auth)) {
          m_seen.commands.push_back(m_seen.auth);
        }
        say("235 2.7.0 authenticated\r\n");
      } else if (line.starts_with("MAIL FROM:")) {
        m_seen.mail_from = address(line);
        say("250 2.1.0 ok\r\n");
      } else if (line.starts_with("RCPT TO:")) {
        const std::string to = address(line);
        if (auto reject = m_rejected.find(to); reject != m_rejected.end()) {
          say(reject->second + "\r\n");
        } else {
          m_seen.rcpt_to.push_back(to);
          say("250 2.1.5 ok\r\n");
        }
      } else if (verb == "DATA") {
        say("354 end with <CRLF>.<CRLF>\r\n");
        if (!read_data(fd)) {
          return;
        }
        say("250 2.0.0 queued as 42\r\n");
      } else if (verb == "QUIT") {
        say("221 2.0.0 bye\r\n");
        return;
      } else if (verb == "RSET" || verb == "NOOP") {
        say("250 2.0.0 ok\r\n");
      } else {
        say("502 5.5.2 not implemented\r\n");
      }
    }
  }

  // The address between < and > of "MAIL FROM:<a>" or "RCPT TO:<a>".
  static std::string address(const std::string& line) {
    const auto open = line.find('<');
    const auto close = line.find('>', open);
    return open == std::string::npos || close == std::string::npos ? line : line.substr(open + 1, close - open - 1);
  }

  bool fill(int fd) {
    char chunk[4096];
    const auto n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) {
      return false;
    }
    m_buffer.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  bool read_line(int fd, std::string& line) {
    std::size_t end;
    while ((end = m_buffer.find("\r\n")) == std::string::npos) {
      if (!fill(fd)) {
        return false;
      }
    }
    line = m_buffer.substr(0, end);
    m_buffer.erase(0, end + 2);
    return true;
  }

  bool read_data(int fd) {
    // The message ends with a line holding only ".": "\r\n.\r\n" after the
    // last line's CRLF (or right at the start for an empty message).
    std::size_t end;
    while ((end = ("\r\n" + m_buffer).find("\r\n.\r\n")) == std::string::npos) {
      if (!fill(fd)) {
        return false;
      }
    }
    std::string data = m_buffer.substr(0, end);
    m_buffer.erase(0, end + 3);
    // Undo dot-stuffing: a line starting with "." was sent as "..".
    std::string plain;
    for (std::size_t at = 0; at < data.size();) {
      auto next = data.find("\r\n", at);
      next = next == std::string::npos ? data.size() : next + 2;
      std::string_view text(data.data() + at, next - at);
      plain += text.starts_with("..") ? text.substr(1) : text;
      at = next;
    }
    m_seen.data = std::move(plain);
    return true;
  }

  std::map<std::string, std::string> m_rejected;
  int m_listener = -1;
  int m_port = 0;
  std::string m_buffer;
  Envelope m_seen;
  std::thread m_thread;
};

constexpr const char* k_password = "pw-smtp-31415926";

Message alert() {
  Message message;
  message.title = "disk full on db-1";
  message.text = "/var at 97%\n.dotted line";
  message.status = has::probe::Status::critical;
  message.key = "inspect-run-9";
  return message;
}

has::defs::NotifierConfig mail_notifier(const std::string& url) {
  auto config = has::test::notifier("mail", "email", url);
  config.from = "has@example.com";
  config.to = {"ops@example.com", "dev@example.com"};
  config.username = "has";
  config.password = "${env:HAS_TEST_SMTP_SEND_PASSWORD}";
  return config;
}

// Returns the base64 body of an RFC 5322 message decoded, lines joined.
std::string body_of(const std::string& data) {
  const auto start = data.find("\r\n\r\n");
  REQUIRE(start != std::string::npos);
  std::string encoded;
  for (char c : data.substr(start + 4)) {
    if (c != '\r' && c != '\n') {
      encoded += c;
    }
  }
  return encoded;
}

} // namespace

TEST_CASE("notify: email sends the mail over SMTP with the whole envelope") {
  ScopedEnv password("HAS_TEST_SMTP_SEND_PASSWORD", k_password);
  FakeSmtp server;
  FakeClock clock;
  const auto result = send_now(mail_notifier(server.url()), alert(), clock);
  CHECK_MESSAGE(result.ok, result.error);
  CHECK(result.body == "250");

  const Envelope& seen = server.seen();
  CHECK(seen.commands.front().starts_with("EHLO "));
  CHECK(seen.auth == has::test::reference_base64(std::string("\0has\0", 5) + k_password));
  CHECK(seen.mail_from == "has@example.com");
  CHECK(seen.rcpt_to == std::vector<std::string>{"ops@example.com", "dev@example.com"});
  CHECK(seen.commands.back() == "QUIT");
  CHECK(seen.data.find("\r\nFrom: has@example.com\r\n") != std::string::npos);
  CHECK(seen.data.find("\r\nTo: ops@example.com, dev@example.com\r\n") != std::string::npos);
  CHECK(seen.data.find("\r\nSubject: =?UTF-8?B?" + has::test::reference_base64("disk full on db-1") + "?=\r\n") !=
        std::string::npos);
  CHECK(body_of(seen.data) ==
        has::test::reference_base64("disk full on db-1\r\n\r\n/var at 97%\r\n.dotted line"));
  // The message arrives byte for byte as the notifier built it.
  CHECK(seen.data == mail_payload(mail_notifier(server.url()), alert(), clock.now()));
}

TEST_CASE("notify: email reports the SMTP server's refusal as a failure not worth retrying") {
  ScopedEnv password("HAS_TEST_SMTP_SEND_PASSWORD", k_password);
  FakeSmtp server(std::map<std::string, std::string>{
    {"dev@example.com", "550 5.1.1 <dev@example.com>: mailbox unavailable"}});
  FakeClock clock;
  const auto result = send_now(mail_notifier(server.url()), alert(), clock);
  CHECK_FALSE(result.ok);
  CHECK(result.retry == Retry::no);
  CHECK(result.body == "550");
  CHECK(result.error.starts_with("email notifier 'mail': the mail was not accepted: "));
  CHECK_MESSAGE(result.error.find("550 5.1.1 <dev@example.com>: mailbox unavailable") != std::string::npos,
                result.error);
  CHECK(result.error.find(k_password) == std::string::npos);
  CHECK(result.help.find(k_password) == std::string::npos);
  // Nothing was sent: the refused recipient stops the mail.
  CHECK(server.seen().data.empty());
}

TEST_CASE("notify: email retries later when the SMTP server cannot be reached") {
  ScopedEnv password("HAS_TEST_SMTP_SEND_PASSWORD", k_password);
  const std::string url = "smtp://127.0.0.1:" + std::to_string(has::test::free_port());
  FakeClock clock;
  const auto result = send_now(mail_notifier(url), alert(), clock);
  CHECK_FALSE(result.ok);
  CHECK(result.retry == Retry::later);
  CHECK(result.error.find("the mail was not accepted") != std::string::npos);
  CHECK(result.error.find(k_password) == std::string::npos);

  // util itself, before any redaction, does not put the password in its error.
  has::util::MailRequest request;
  request.url = url;
  request.username = "has";
  request.password = k_password;
  request.from = "has@example.com";
  request.to = {"ops@example.com"};
  request.payload = "Subject: x\r\n\r\nbody\r\n";
  const auto response = has::util::send_mail(request);
  CHECK(response.code == 0);
  CHECK_FALSE(response.error.empty());
  CHECK(response.error.find(k_password) == std::string::npos);
}

TEST_CASE("notify: util::send_mail accepts only smtp and smtps URLs") {
  has::util::MailRequest request;
  request.url = "http://127.0.0.1:1/";
  request.from = "has@example.com";
  request.to = {"ops@example.com"};
  request.payload = "Subject: x\r\n\r\nbody\r\n";
  const auto response = has::util::send_mail(request);
  CHECK(response.code == 0);
  CHECK(response.error.find("not supported") != std::string::npos);
}
