#include <has/core/redact.hpp>
#include <has/notify/deliver.hpp>

#include "test_notify_services.hpp"

#include <doctest/doctest.h>

using namespace has::notify;
using has::test::FakeClock;
using has::test::FakeDingTalk;
using has::test::ScopedEnv;

namespace {

constexpr const char* k_secret = "SEC9c1f0e77a4b2d6e8f0a1b3c5d7e9f1a2b4c6d8e0f2a4b6c8d0e2f4a6b8c0d2e4";

has::defs::NotifierConfig dingtalk() {
  auto config = has::test::notifier("ops", "dingtalk", "${env:HAS_TEST_DINGTALK_URL}");
  config.secret = "${env:HAS_TEST_DINGTALK_SECRET}";
  return config;
}

Message alert() {
  Message message;
  message.title = "disk full on web1";
  message.text = "- **CRITICAL** disk-usage on web1: / is 97% full";
  message.status = has::probe::Status::critical;
  message.link = "https://reports.example/run/42";
  message.key = "inspect-run-42";
  return message;
}

} // namespace

TEST_CASE("notify: dingtalk signs the URL - adds keyword and @mentions and succeeds on errcode 0") {
  FakeDingTalk robot;
  robot.secret = k_secret;
  robot.keywords = {"告警"};
  robot.start();
  ScopedEnv url("HAS_TEST_DINGTALK_URL", robot.url());
  ScopedEnv secret("HAS_TEST_DINGTALK_SECRET", k_secret);
  auto config = dingtalk();
  config.keyword = "告警";
  config.at_mobiles = {"13800000001"};
  config.at_user_ids = {"user007"};
  FakeClock clock;

  const auto result = send_now(config, alert(), clock);
  INFO(result.error);
  CHECK(result.ok);
  CHECK(result.http_status == 200);
  CHECK(result.body == R"({"errcode":0,"errmsg":"ok"})");
  CHECK(result.error.empty());
  CHECK_FALSE(result.trimmed);

  REQUIRE(robot.accepted() == 1);
  const auto seen = robot.seen().front();
  CHECK(seen.params.at("timestamp") == std::to_string(has::notify::unix_ms(clock.now())));
  CHECK(seen.headers.at("Content-Type").starts_with("application/json"));
  const auto body = nlohmann::json::parse(seen.body);
  CHECK(body["msgtype"] == "markdown");
  CHECK(body["markdown"]["title"] == "disk full on web1");
  const std::string text = body["markdown"]["text"];
  CHECK(text.starts_with("#### disk full on web1\n\n- **CRITICAL** disk-usage"));
  CHECK(text.find("告警") != std::string::npos);
  // DingTalk shows a mention only when the text names the person too.
  CHECK(text.find("@13800000001") != std::string::npos);
  CHECK(text.find("@user007") != std::string::npos);
  CHECK(text.find("[Full report](https://reports.example/run/42)") != std::string::npos);
  CHECK(body["at"]["atMobiles"] == nlohmann::json::array({"13800000001"}));
  CHECK(body["at"]["atUserIds"] == nlohmann::json::array({"user007"}));
  CHECK(body["at"]["isAtAll"] == false);
  CHECK(body["msgUuid"] == "inspect-run-42");
}

TEST_CASE("notify: dingtalk with a wrong secret fails with errcode 310000 explained - secrets hidden") {
  FakeDingTalk robot;
  robot.secret = k_secret;
  robot.start();
  ScopedEnv url("HAS_TEST_DINGTALK_URL", robot.url());
  ScopedEnv secret("HAS_TEST_DINGTALK_SECRET", "SECwrongwrongwrongwrongwrongwrong");
  FakeClock clock;

  const auto result = send_now(dingtalk(), alert(), clock);
  CHECK_FALSE(result.ok);
  // HTTP 200 and still a failure: only errcode 0 counts.
  CHECK(result.http_status == 200);
  CHECK(result.retry == Retry::no);
  CHECK(result.error.find("dingtalk notifier 'ops': the robot's security check failed (signature, keyword or IP "
                          "allow-list) (errcode 310000: sign not match") != std::string::npos);
  CHECK(result.help.find("`secret:`") != std::string::npos);
  CHECK(result.body.find("310000") != std::string::npos);
  for (const auto& text : {result.error, result.help, result.body}) {
    CHECK(text.find("SECwrong") == std::string::npos);
    CHECK(text.find(robot.token) == std::string::npos);
    CHECK(has::core::redact(text) == text);
  }
  CHECK(robot.accepted() == 0);
}

TEST_CASE("notify: dingtalk inserts a missing keyword - a keyword the robot does not know fails clearly") {
  FakeDingTalk robot;
  robot.keywords = {"监控"};
  robot.start();
  ScopedEnv url("HAS_TEST_DINGTALK_URL", robot.url());
  auto config = has::test::notifier("ops", "dingtalk", "${env:HAS_TEST_DINGTALK_URL}");
  FakeClock clock;

  SUBCASE("inserted") {
    config.keyword = "监控";
    CHECK(alert().text.find("监控") == std::string::npos);
    const auto result = send_now(config, alert(), clock);
    CHECK(result.ok);
    CHECK(robot.accepted() == 1);
  }
  SUBCASE("the robot expects another keyword") {
    config.keyword = "alert";
    const auto result = send_now(config, alert(), clock);
    CHECK_FALSE(result.ok);
    CHECK(result.error.find("security check failed") != std::string::npos);
    CHECK(result.error.find("keywords not in content") != std::string::npos);
    CHECK(result.help.find("`keyword:`") != std::string::npos);
  }
  SUBCASE("none configured") {
    const auto result = send_now(config, alert(), clock);
    CHECK_FALSE(result.ok);
    CHECK(result.error.find("errcode 310000: keywords not in content") != std::string::npos);
  }
}

TEST_CASE("notify: dingtalk refuses a signature made by a clock more than an hour off") {
  FakeDingTalk robot;
  robot.secret = k_secret;
  robot.start();
  ScopedEnv url("HAS_TEST_DINGTALK_URL", robot.url());
  ScopedEnv secret("HAS_TEST_DINGTALK_SECRET", k_secret);
  FakeClock late(std::chrono::system_clock::now() - std::chrono::hours(2));
  const auto result = send_now(dingtalk(), alert(), late);
  CHECK_FALSE(result.ok);
  CHECK(result.error.find("invalid timestamp") != std::string::npos);
  CHECK(result.help.find("clock") != std::string::npos);
  FakeClock fine;
  CHECK(send_now(dingtalk(), alert(), fine).ok);
}

TEST_CASE("notify: dingtalk reports an invalid access token") {
  FakeDingTalk robot;
  robot.start();
  ScopedEnv url("HAS_TEST_DINGTALK_URL", robot.base() + "/robot/send?access_token=revoked");
  FakeClock clock;
  const auto result = send_now(has::test::notifier("ops", "dingtalk", "${env:HAS_TEST_DINGTALK_URL}"), alert(), clock);
  CHECK_FALSE(result.ok);
  CHECK(result.retry == Retry::no);
  CHECK(result.error.find("the robot's access token is invalid (errcode 300001: token is not exist)") !=
        std::string::npos);
}

TEST_CASE("notify: dingtalk trims a message over 20000 bytes and links the full report") {
  FakeDingTalk robot;
  robot.start();
  ScopedEnv url("HAS_TEST_DINGTALK_URL", robot.url());
  auto config = has::test::notifier("ops", "dingtalk", "${env:HAS_TEST_DINGTALK_URL}");
  config.keyword = "has";
  config.at_mobiles = {"13800000001"};
  Message message = alert();
  message.text.clear();
  for (int i = 0; i < 1000; ++i) {
    message.text += "- **CRITICAL** rule-" + std::to_string(i) + " on 服务器-" + std::to_string(i) + ": down\n";
  }
  REQUIRE(message.text.size() > 30'000);
  FakeClock clock;
  const auto result = send_now(config, message, clock);
  INFO(result.error);
  CHECK(result.ok); // the fake refuses texts over 20,000 bytes with errcode 460101
  CHECK(result.trimmed);
  const std::string text = nlohmann::json::parse(robot.seen().front().body)["markdown"]["text"];
  CHECK(text.size() <= 20'000);
  CHECK(text.size() > 19'000);
  CHECK(text.find("more lines not shown: [full report](https://reports.example/run/42)") != std::string::npos);
  CHECK(text.find("has") != std::string::npos);
  CHECK(text.ends_with("@13800000001"));
}
