#include <has/core/error.hpp>
#include <has/core/redact.hpp>
#include <has/notify/deliver.hpp>
#include <has/notify/kinds.hpp>

#include "test_notify_services.hpp"

#include <doctest/doctest.h>

using namespace has::notify;
using has::test::FakeClock;
using has::test::FakeWebhook;
using has::test::ScopedEnv;

namespace {

Message alert() {
  Message message;
  message.title = "disk \"full\"";
  message.text = "line 1\nline 2";
  message.status = has::probe::Status::critical;
  message.link = "https://reports.example/run/5";
  message.key = "inspect-run-5";
  message.counts = {{"critical", 1}};
  return message;
}

} // namespace

TEST_CASE("notify: webhook posts the message as JSON and takes any 2xx") {
  FakeWebhook hook;
  hook.status = 202;
  hook.start();
  FakeClock clock;
  const auto result = send_now(has::test::notifier("hook", "webhook", hook.url()), alert(), clock);
  CHECK(result.ok);
  CHECK(result.http_status == 202);
  CHECK(result.body == "accepted");
  const auto seen = hook.seen().front();
  CHECK(seen.headers.at("Content-Type") == "application/json; charset=utf-8");
  CHECK(nlohmann::json::parse(seen.body) == to_json(alert()));
}

TEST_CASE("notify: webhook renders its body and headers from the message - env resolved first") {
  FakeWebhook hook;
  hook.start();
  ScopedEnv token("HAS_TEST_HOOK_TOKEN", "tok-31415926");
  auto config = has::test::notifier("hook", "webhook", hook.url());
  config.method = "PUT";
  config.headers = {{"Authorization", "Bearer ${env:HAS_TEST_HOOK_TOKEN}"}, {"content-type", "text/plain"}};
  config.body = R"({"summary": ${{ json.title }}, "severity": "${{ status }}", "n": ${{ counts.critical }}})";
  Message message = alert();
  message.text = "${env:HAS_TEST_HOOK_TOKEN}"; // message text never reaches the environment
  FakeClock clock;
  const auto result = send_now(config, message, clock);
  INFO(result.error);
  CHECK(result.ok);
  const auto seen = hook.seen().front();
  CHECK(seen.headers.at("Authorization") == "Bearer tok-31415926");
  CHECK(seen.headers.at("content-type") == "text/plain");
  CHECK(nlohmann::json::parse(seen.body) ==
        nlohmann::json{{"summary", "disk \"full\""}, {"severity", "critical"}, {"n", 1}});
  CHECK(has::core::redact("Bearer tok-31415926") == "Bearer [redacted]");

  config.body = "${{ text }}";
  CHECK(send_now(config, message, clock).ok);
  CHECK(hook.seen().back().body == "${env:HAS_TEST_HOOK_TOKEN}");
}

TEST_CASE("notify: webhook retries 5xx and gives up on other 4xx") {
  FakeWebhook hook;
  hook.start();
  FakeClock clock;
  auto config = has::test::notifier("hook", "webhook", hook.url());
  hook.status = 503;
  auto result = send_now(config, alert(), clock);
  CHECK_FALSE(result.ok);
  CHECK(result.retry == Retry::later);
  CHECK(result.error == "webhook notifier 'hook' failed with HTTP 503: broken");
  hook.status = 403;
  result = send_now(config, alert(), clock);
  CHECK(result.retry == Retry::no);
  CHECK(result.error == "webhook notifier 'hook' refused the message with HTTP 403: broken");
}

TEST_CASE("notify: email builds a plain-text mail and hands it to the mail transport") {
  ScopedEnv password("HAS_TEST_SMTP_PASSWORD", "pw-27182818");
  auto config = has::test::notifier("mail", "email", "smtps://smtp.example.com:465");
  config.from = "has@example.com";
  config.to = {"ops@example.com", "dev@example.com"};
  config.username = "has";
  config.password = "${env:HAS_TEST_SMTP_PASSWORD}";
  FakeClock clock(std::chrono::sys_days{std::chrono::year{2026} / 3 / 5} + std::chrono::hours(13) +
                  std::chrono::minutes(4) + std::chrono::seconds(5));

  SUBCASE("a caller that clears the mail transport") {
    Transport none;
    none.mail = nullptr;
    const auto result = send_now(config, alert(), clock, none);
    CHECK_FALSE(result.ok);
    CHECK(result.retry == Retry::later);
    CHECK(result.error == "email notifier 'mail': no mail transport is set");
  }
  SUBCASE("with a transport") {
    Transport transport;
    MailRequest sent;
    transport.mail = [&](const MailRequest& request) {
      sent = request;
      return MailResponse{250, ""};
    };
    const auto result = send_now(config, alert(), clock, transport);
    CHECK(result.ok);
    CHECK(sent.url == "smtps://smtp.example.com:465");
    CHECK(sent.username == "has");
    CHECK(sent.password == "pw-27182818");
    CHECK(sent.from == "has@example.com");
    CHECK(sent.to == std::vector<std::string>{"ops@example.com", "dev@example.com"});
    CHECK(sent.payload.starts_with("Date: Thu, 05 Mar 2026 13:04:05 +0000\r\n"
                                   "From: has@example.com\r\n"
                                   "To: ops@example.com, dev@example.com\r\n"
                                   "Subject: =?UTF-8?B?ZGlzayAiZnVsbCI=?=\r\n"));
    CHECK(sent.payload.find("Content-Transfer-Encoding: base64\r\n\r\n") != std::string::npos);
    // The body: title, text and link, CRLF line ends, base64.
    const std::string expected = has::test::reference_base64(
      "disk \"full\"\r\n\r\nline 1\r\nline 2\r\n\r\n[Full report](https://reports.example/run/5)");
    CHECK(sent.payload.ends_with(expected.substr(0, 76) + "\r\n" + expected.substr(76) + "\r\n"));

    transport.mail = [](const MailRequest&) { return MailResponse{535, "535 5.7.8 authentication failed"}; };
    const auto refused = send_now(config, alert(), clock, transport);
    CHECK_FALSE(refused.ok);
    CHECK(refused.retry == Retry::no);
    CHECK(refused.error.find("authentication failed") != std::string::npos);
  }
  SUBCASE("a header cannot be smuggled in through an address") {
    config.to = {"ops@example.com\r\nBcc: all@example.com"};
    CHECK_THROWS_AS(mail_payload(config, alert(), clock.now()), has::core::Error);
  }
}
