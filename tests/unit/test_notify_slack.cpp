#include <has/notify/deliver.hpp>
#include <has/state/outbox.hpp>
#include <has/state/store.hpp>

#include "test_notify_services.hpp"
#include "test_support.hpp"

#include <doctest/doctest.h>

using namespace has::notify;
using has::test::FakeClock;
using has::test::FakeSlack;
using has::test::ScopedEnv;

namespace {

Message alert(std::string key = "inspect-run-3") {
  Message message;
  message.title = "[CRITICAL] has inspect: 2 newly failing";
  message.text = "### Newly failing\n- **CRITICAL** api on web1: [logs](https://logs.example/1) <b>";
  message.status = has::probe::Status::critical;
  message.link = "https://reports.example/run/3";
  message.key = std::move(key);
  return message;
}

std::size_t characters(const std::string& text) {
  std::size_t n = 0;
  for (char c : text) {
    n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }
  return n;
}

} // namespace

TEST_CASE("notify: slack posts text and mrkdwn blocks - success is the body \"ok\"") {
  FakeSlack slack;
  slack.start();
  ScopedEnv url("HAS_TEST_SLACK_URL", slack.url());
  FakeClock clock;
  const auto result = send_now(has::test::notifier("chat", "slack", "${env:HAS_TEST_SLACK_URL}"), alert(), clock);
  INFO(result.error);
  CHECK(result.ok);
  CHECK(result.body == "ok");
  const auto body = nlohmann::json::parse(slack.seen().front().body);
  CHECK(body["text"] == "[CRITICAL] has inspect: 2 newly failing");
  CHECK(body["blocks"][0]["type"] == "header");
  CHECK(body["blocks"][1]["text"]["type"] == "mrkdwn");
  CHECK(body["blocks"][1]["text"]["text"] ==
        "*Newly failing*\n- *CRITICAL* api on web1: <https://logs.example/1|logs> &lt;b&gt;\n\n"
        "<https://reports.example/run/3|Full report>");
}

TEST_CASE("notify: slack's 429 is a rate limit with Retry-After - delivery waits and then sends") {
  FakeSlack slack;
  slack.throttle_next = 1;
  slack.retry_after = 2;
  slack.start();
  ScopedEnv url("HAS_TEST_SLACK_URL", slack.url());
  auto config = has::test::notifier("chat", "slack", "${env:HAS_TEST_SLACK_URL}");
  FakeClock clock;

  SUBCASE("send_now reports it") {
    const auto result = send_now(config, alert(), clock);
    CHECK_FALSE(result.ok);
    CHECK(result.http_status == 429);
    CHECK(result.retry == Retry::rate_limited);
    CHECK(result.retry_after == std::chrono::seconds(2));
    CHECK(result.error == "slack notifier 'chat' is rate limited (HTTP 429, retry after 2 s)");
  }
  SUBCASE("deliver_due honours it within the run") {
    has::test::TempDir dir;
    auto store = has::state::Store::open(dir.path() / "state.db");
    REQUIRE(enqueue(store, "chat", alert(), clock));
    const auto report = deliver_due(store, {config}, clock);
    REQUIRE(report.deliveries.size() == 1);
    CHECK(report.deliveries[0].state == DeliveryState::sent);
    CHECK(report.deliveries[0].attempt == 1); // the refused try is not counted
    CHECK(slack.count() == 2);
    CHECK(slack.accepted() == 1);
    CHECK(clock.slept() >= std::chrono::seconds(2));
  }
  SUBCASE("a long Retry-After leaves the message for a later run, and other processes honour it") {
    slack.retry_after = 120;
    has::test::TempDir dir;
    auto store = has::state::Store::open(dir.path() / "state.db");
    REQUIRE(enqueue(store, "chat", alert("a"), clock));
    REQUIRE(enqueue(store, "chat", alert("b"), clock));
    auto report = deliver_due(store, {config}, clock);
    CHECK(report.count(DeliveryState::deferred) == 2);
    CHECK(slack.count() == 1);
    auto other_store = has::state::Store::open(dir.path() / "state.db");
    clock.advance(std::chrono::seconds(60));
    report = deliver_due(other_store, {config}, clock);
    CHECK(slack.count() == 1); // still blocked
    clock.advance(std::chrono::seconds(61));
    report = deliver_due(other_store, {config}, clock);
    CHECK(report.count(DeliveryState::sent) == 2);
    CHECK(slack.accepted() == 2);
  }
}

TEST_CASE("notify: slack sends about one message a second - waiting between them") {
  FakeSlack slack;
  slack.start();
  ScopedEnv url("HAS_TEST_SLACK_URL", slack.url());
  has::test::TempDir dir;
  auto store = has::state::Store::open(dir.path() / "state.db");
  FakeClock clock;
  for (const char* key : {"a", "b", "c"}) {
    REQUIRE(enqueue(store, "chat", alert(key), clock));
  }
  const auto report = deliver_due(store, {has::test::notifier("chat", "slack", "${env:HAS_TEST_SLACK_URL}")}, clock);
  CHECK(report.count(DeliveryState::sent) == 3);
  CHECK(clock.slept() >= std::chrono::seconds(2));
  CHECK(clock.slept() < std::chrono::seconds(3));
}

TEST_CASE("notify: slack keeps blocks under 3000 characters and the text under 40000") {
  FakeSlack slack;
  slack.start();
  ScopedEnv url("HAS_TEST_SLACK_URL", slack.url());
  Message message = alert();
  message.text.clear();
  for (int i = 0; i < 3000; ++i) {
    message.text += "- *CRITICAL* 规则-" + std::to_string(i) + " on host-" + std::to_string(i) + ": connection refused\n";
  }
  message.text += std::string(5000, 'x'); // one line longer than a block
  FakeClock clock;
  const auto result = send_now(has::test::notifier("chat", "slack", "${env:HAS_TEST_SLACK_URL}"), message, clock);
  INFO(result.error);
  CHECK(result.ok); // the fake answers invalid_blocks to a section over 3000 characters
  CHECK(result.trimmed);
  const auto body = nlohmann::json::parse(slack.seen().front().body);
  std::size_t total = 0;
  std::string last;
  for (const auto& block : body["blocks"]) {
    if (block["type"] == "section") {
      last = block["text"]["text"];
      total += characters(last);
    }
  }
  CHECK(total <= 40'000);
  CHECK(total > 35'000);
  CHECK(body["blocks"].size() <= 50);
  CHECK(last.find("more lines not shown: <https://reports.example/run/3|full report>") != std::string::npos);
}

TEST_CASE("notify: slack's refusals are final - its outages are retried") {
  FakeSlack slack;
  slack.start();
  FakeClock clock;
  SUBCASE("no_service") {
    ScopedEnv url("HAS_TEST_SLACK_URL", slack.base() + "/services/T0001/B0002/removed");
    const auto result = send_now(has::test::notifier("chat", "slack", "${env:HAS_TEST_SLACK_URL}"), alert(), clock);
    CHECK_FALSE(result.ok);
    CHECK(result.retry == Retry::no);
    CHECK(result.error == "slack notifier 'chat' refused the message with HTTP 404: no_service");
  }
  SUBCASE("down") {
    slack.stop();
    ScopedEnv url("HAS_TEST_SLACK_URL", slack.url());
    const auto result = send_now(has::test::notifier("chat", "slack", "${env:HAS_TEST_SLACK_URL}"), alert(), clock);
    CHECK_FALSE(result.ok);
    CHECK(result.retry == Retry::later);
    CHECK(result.error.find("slack notifier 'chat' could not be reached: ") == 0);
  }
}
