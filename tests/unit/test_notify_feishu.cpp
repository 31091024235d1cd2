#include <has/core/redact.hpp>
#include <has/notify/deliver.hpp>

#include "test_notify_services.hpp"

#include <doctest/doctest.h>

using namespace has::notify;
using has::test::FakeClock;
using has::test::FakeFeishu;
using has::test::ScopedEnv;

namespace {

constexpr const char* k_secret = "fs9Qm2xV7kLp3RtY8wZc";

has::defs::NotifierConfig feishu() {
  auto config = has::test::notifier("lark", "feishu", "${env:HAS_TEST_FEISHU_URL}");
  config.secret = "${env:HAS_TEST_FEISHU_SECRET}";
  return config;
}

Message alert() {
  Message message;
  message.title = "[CRITICAL] has inspect: 1 newly failing";
  message.text = "**Newly failing (1)**\n- **CRITICAL** api-health on web1: HTTP 503";
  message.status = has::probe::Status::critical;
  message.link = "https://reports.example/run/7";
  message.key = "inspect-run-7";
  return message;
}

} // namespace

TEST_CASE("notify: feishu signs the body and posts a card - success is code 0") {
  FakeFeishu bot;
  bot.secret = k_secret;
  bot.start();
  ScopedEnv url("HAS_TEST_FEISHU_URL", bot.url());
  ScopedEnv secret("HAS_TEST_FEISHU_SECRET", k_secret);
  FakeClock clock;

  const auto result = send_now(feishu(), alert(), clock);
  INFO(result.error);
  CHECK(result.ok);
  CHECK(result.http_status == 200);
  CHECK(result.body.find(R"("code":0)") != std::string::npos);
  REQUIRE(bot.accepted() == 1);
  const auto body = nlohmann::json::parse(bot.seen().front().body);
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(clock.now().time_since_epoch()).count();
  CHECK(body["timestamp"] == std::to_string(seconds)); // seconds, as text
  CHECK(body["msg_type"] == "interactive");
  CHECK(body["card"]["header"]["title"]["content"] == "[CRITICAL] has inspect: 1 newly failing");
  CHECK(body["card"]["header"]["template"] == "red");
  const std::string content = body["card"]["elements"][0]["content"];
  CHECK(content.starts_with("**Newly failing (1)**"));
  CHECK(content.find("[Full report](https://reports.example/run/7)") != std::string::npos);
}

TEST_CASE("notify: feishu with a wrong secret fails with code 19021 explained - secrets hidden") {
  FakeFeishu bot;
  bot.secret = k_secret;
  bot.start();
  ScopedEnv url("HAS_TEST_FEISHU_URL", bot.url());
  ScopedEnv secret("HAS_TEST_FEISHU_SECRET", "fsWRONGsecretWRONG");
  FakeClock clock;
  const auto result = send_now(feishu(), alert(), clock);
  CHECK_FALSE(result.ok);
  CHECK(result.http_status == 200);
  CHECK(result.retry == Retry::no);
  CHECK(result.error ==
        "feishu notifier 'lark': the signature check failed (wrong secret, or a clock more than an hour off) (code "
        "19021: sign match fail or timestamp is not within one hour from current time)");
  CHECK(result.error.find("fsWRONG") == std::string::npos);
  CHECK(result.error.find(bot.token) == std::string::npos);
  CHECK(bot.accepted() == 0);
}

TEST_CASE("notify: feishu inserts the keyword and names a missing one") {
  FakeFeishu bot;
  bot.keywords = {"巡检"};
  bot.start();
  ScopedEnv url("HAS_TEST_FEISHU_URL", bot.url());
  auto config = has::test::notifier("lark", "feishu", "${env:HAS_TEST_FEISHU_URL}");
  FakeClock clock;
  auto refused = send_now(config, alert(), clock);
  CHECK_FALSE(refused.ok);
  CHECK(refused.error.find("the message holds none of the bot's keywords (code 19024: Key Words Not Found)") !=
        std::string::npos);
  config.keyword = "巡检";
  CHECK(send_now(config, alert(), clock).ok);
  CHECK(bot.accepted() == 1);
}

TEST_CASE("notify: feishu keeps the request body under 20 KB with a link to the full report") {
  FakeFeishu bot;
  bot.start();
  ScopedEnv url("HAS_TEST_FEISHU_URL", bot.url());
  Message message = alert();
  message.text.clear();
  for (int i = 0; i < 800; ++i) {
    message.text += "- **CRITICAL** \"rule\"-" + std::to_string(i) + " on 主机-" + std::to_string(i) + ": down\n";
  }
  FakeClock clock;
  const auto result = send_now(has::test::notifier("lark", "feishu", "${env:HAS_TEST_FEISHU_URL}"), message, clock);
  INFO(result.error);
  CHECK(result.ok); // the fake answers 9499 to bodies over 20 KB
  CHECK(result.trimmed);
  const auto seen = bot.seen().front();
  CHECK(seen.body.size() <= 20 * 1024);
  CHECK(seen.body.size() > 18 * 1024);
  const std::string content = nlohmann::json::parse(seen.body)["card"]["elements"][0]["content"];
  CHECK(content.find("more lines not shown: [full report](https://reports.example/run/7)") != std::string::npos);
}

TEST_CASE("notify: feishu's older StatusCode reply and an HTTP error are read too") {
  FakeClock clock;
  Transport transport;
  transport.http = [](const has::util::HttpRequest&) {
    has::util::HttpResponse response;
    response.status = 200;
    response.body = R"({"Extra":null,"StatusCode":0,"StatusMessage":"success"})";
    return response;
  };
  auto config = has::test::notifier("lark", "feishu", "http://127.0.0.1:9/hook");
  CHECK(send_now(config, alert(), clock, transport).ok);
  transport.http = [](const has::util::HttpRequest&) {
    has::util::HttpResponse response;
    response.status = 502;
    response.body = "<html>bad gateway</html>";
    return response;
  };
  const auto result = send_now(config, alert(), clock, transport);
  CHECK_FALSE(result.ok);
  CHECK(result.retry == Retry::later);
  CHECK(result.error.find("HTTP 502") != std::string::npos);
}
