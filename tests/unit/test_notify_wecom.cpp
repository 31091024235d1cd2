#include <has/notify/deliver.hpp>

#include "test_notify_services.hpp"

#include <doctest/doctest.h>

using namespace has::notify;
using has::test::FakeClock;
using has::test::FakeWeCom;
using has::test::ScopedEnv;

namespace {

Message alert() {
  Message message;
  message.title = "[WARNING] has inspect: 1 newly failing";
  message.text = "- **WARNING** cert-expiry on api: 12 days left";
  message.status = has::probe::Status::warning;
  message.link = "https://reports.example/run/9";
  message.key = "inspect-run-9";
  return message;
}

} // namespace

TEST_CASE("notify: wecom posts Markdown with <@userid> mentions - success is errcode 0") {
  FakeWeCom robot;
  robot.start();
  ScopedEnv url("HAS_TEST_WECOM_URL", robot.url());
  auto config = has::test::notifier("wx", "wecom", "${env:HAS_TEST_WECOM_URL}");
  config.at_user_ids = {"zhangsan", "lisi"};
  FakeClock clock;
  const auto result = send_now(config, alert(), clock);
  INFO(result.error);
  CHECK(result.ok);
  CHECK(result.body == R"({"errcode":0,"errmsg":"ok"})");
  REQUIRE(robot.accepted() == 1);
  const auto body = nlohmann::json::parse(robot.seen().front().body);
  CHECK(body["msgtype"] == "markdown");
  const std::string content = body["markdown"]["content"];
  CHECK(content.starts_with("**[WARNING] has inspect: 1 newly failing**\n- **WARNING** cert-expiry"));
  CHECK(content.ends_with("\n<@zhangsan> <@lisi>"));
  CHECK(content.find("[Full report](https://reports.example/run/9)") != std::string::npos);
}

TEST_CASE("notify: wecom mentions by mobile through a text message") {
  FakeWeCom robot;
  robot.start();
  ScopedEnv url("HAS_TEST_WECOM_URL", robot.url());
  auto config = has::test::notifier("wx", "wecom", "${env:HAS_TEST_WECOM_URL}");
  config.at_mobiles = {"13900000000"};
  config.at_user_ids = {"zhangsan"};
  FakeClock clock;
  CHECK(send_now(config, alert(), clock).ok);
  const auto body = nlohmann::json::parse(robot.seen().front().body);
  CHECK(body["msgtype"] == "text");
  CHECK(body["text"]["mentioned_mobile_list"] == nlohmann::json::array({"13900000000"}));
  CHECK(body["text"]["mentioned_list"] == nlohmann::json::array({"zhangsan"}));
}

TEST_CASE("notify: wecom trims to 4096 bytes - a bad key and the rate limit are explained") {
  FakeWeCom robot;
  robot.start();
  FakeClock clock;
  SUBCASE("trim") {
    ScopedEnv url("HAS_TEST_WECOM_URL", robot.url());
    Message message = alert();
    for (int i = 0; i < 300; ++i) {
      message.text += "\n- **WARNING** 证书-" + std::to_string(i) + " on api";
    }
    const auto result = send_now(has::test::notifier("wx", "wecom", "${env:HAS_TEST_WECOM_URL}"), message, clock);
    INFO(result.error);
    CHECK(result.ok); // the fake answers 40058 to content over 4096 bytes
    CHECK(result.trimmed);
    const std::string content = nlohmann::json::parse(robot.seen().front().body)["markdown"]["content"];
    CHECK(content.size() <= 4096);
    CHECK(content.find("[full report](https://reports.example/run/9)") != std::string::npos);
  }
  SUBCASE("bad key") {
    ScopedEnv url("HAS_TEST_WECOM_URL", robot.base() + "/cgi-bin/webhook/send?key=deleted");
    const auto result = send_now(has::test::notifier("wx", "wecom", "${env:HAS_TEST_WECOM_URL}"), alert(), clock);
    CHECK_FALSE(result.ok);
    CHECK(result.retry == Retry::no);
    CHECK(result.error.find("the robot's webhook key is invalid (errcode 93000: invalid webhook url") !=
          std::string::npos);
  }
  SUBCASE("rate limit") {
    ScopedEnv url("HAS_TEST_WECOM_URL", robot.url());
    auto config = has::test::notifier("wx", "wecom", "${env:HAS_TEST_WECOM_URL}");
    for (int i = 0; i < 20; ++i) {
      REQUIRE(send_now(config, alert(), clock).ok);
    }
    // send_now bypasses the budget, so the service's own limit answers.
    const auto result = send_now(config, alert(), clock);
    CHECK_FALSE(result.ok);
    CHECK(result.retry == Retry::rate_limited);
    CHECK(result.retry_after == std::chrono::seconds(60));
    CHECK(result.error.find("errcode 45009: api freq out of limit") != std::string::npos);
  }
}
