#include <has/core/redact.hpp>
#include <has/notify/deliver.hpp>
#include <has/state/clock.hpp>
#include <has/state/outbox.hpp>
#include <has/state/store.hpp>

#include "test_notify_services.hpp"
#include "test_support.hpp"

#include <doctest/doctest.h>

#include <set>
#include <thread>

using namespace has::notify;
using has::state::OutboxRepository;
using has::state::Store;
using has::test::FakeClock;
using has::test::FakeDingTalk;
using has::test::FakeWebhook;
using has::test::ScopedEnv;
using namespace std::chrono_literals;

namespace {

constexpr const char* k_secret = "SECdeliver0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8";

Message message(std::string key, std::string text = "- **CRITICAL** api on web1: HTTP 503") {
  Message m;
  m.title = "has inspect: " + key;
  m.text = std::move(text);
  m.status = has::probe::Status::critical;
  m.link = "https://reports.example/" + key;
  m.key = std::move(key);
  return m;
}

has::defs::NotifierConfig dingtalk() {
  auto config = has::test::notifier("ops", "dingtalk", "${env:HAS_TEST_DELIVER_URL}");
  config.secret = "${env:HAS_TEST_DELIVER_SECRET}";
  return config;
}

// Every text column of the outbox and the rate tables, in one string.
std::string state_text(Store& store) {
  std::string out;
  auto rows = store.connection().prepare(
    "SELECT notifier || dedup_key || payload || status || coalesce(last_error, '') FROM outbox "
    "UNION ALL SELECT notifier || coalesce(reason, '') FROM notify_blocks "
    "UNION ALL SELECT notifier FROM notify_sends");
  while (rows.step()) {
    out += rows.column_text(0) + "\n";
  }
  return out;
}

} // namespace

TEST_CASE("notify: a message is written to the outbox first and delivered once") {
  FakeDingTalk robot;
  robot.secret = k_secret;
  robot.start();
  ScopedEnv url("HAS_TEST_DELIVER_URL", robot.url());
  ScopedEnv secret("HAS_TEST_DELIVER_SECRET", k_secret);
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  FakeClock clock;

  const auto id = enqueue(store, "ops", message("run-1"), clock);
  REQUIRE(id);
  CHECK(robot.count() == 0); // enqueue sends nothing
  CHECK_FALSE(enqueue(store, "ops", message("run-1"), clock)); // the same digest is not queued twice

  auto report = deliver_due(store, {dingtalk()}, clock);
  REQUIRE(report.deliveries.size() == 1);
  CHECK(report.deliveries[0].state == DeliveryState::sent);
  CHECK(report.deliveries[0].attempt == 1);
  CHECK(report.deliveries[0].http_status == 200);
  auto entry = OutboxRepository(store).get(*id);
  CHECK(entry->status == "sent");
  CHECK(entry->sent_at == has::state::format_iso8601(clock.now()));
  CHECK(nlohmann::json::parse(robot.seen().front().body)["msgUuid"] == "run-1");

  // Nothing is due any more.
  clock.advance(1h);
  CHECK(deliver_due(store, {dingtalk()}, clock).deliveries.empty());
  CHECK(robot.count() == 1);
}

TEST_CASE("notify: with the service down a message stays pending and is delivered exactly once later") {
  const int port = has::test::free_port();
  ScopedEnv url("HAS_TEST_DELIVER_URL", "http://127.0.0.1:" + std::to_string(port) + "/robot/send?access_token=dt-token-7f3a");
  ScopedEnv secret("HAS_TEST_DELIVER_SECRET", k_secret);
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  FakeClock clock;
  const auto id = *enqueue(store, "ops", message("run-2"), clock);

  auto report = deliver_due(store, {dingtalk()}, clock);
  REQUIRE(report.deliveries.size() == 1);
  CHECK(report.deliveries[0].state == DeliveryState::retrying);
  CHECK(report.deliveries[0].error.find("dingtalk notifier 'ops' could not be reached") == 0);
  CHECK(report.deliveries[0].next_attempt_at == has::state::format_iso8601(clock.now() + 10s));
  auto entry = OutboxRepository(store).get(id);
  CHECK(entry->status == "pending");
  CHECK(entry->attempts == 1);
  CHECK(entry->last_error->find("could not be reached") != std::string::npos);

  // Not due before the backoff ends.
  CHECK(deliver_due(store, {dingtalk()}, clock).deliveries.empty());

  FakeDingTalk robot(port);
  robot.secret = k_secret;
  robot.start();
  clock.advance(10s);
  report = deliver_due(store, {dingtalk()}, clock);
  REQUIRE(report.deliveries.size() == 1);
  CHECK(report.deliveries[0].state == DeliveryState::sent);
  CHECK(report.deliveries[0].attempt == 2);
  clock.advance(1h);
  CHECK(deliver_due(store, {dingtalk()}, clock).deliveries.empty());
  CHECK(robot.count() == 1);
  CHECK(robot.accepted() == 1);
}

TEST_CASE("notify: failures back off 10 s / 30 s / 2 min / 10 min / 1 h then the message fails") {
  FakeWebhook hook;
  hook.status = 500;
  hook.start();
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  FakeClock clock;
  const auto config = has::test::notifier("hook", "webhook", hook.url());
  const auto id = *enqueue(store, "hook", message("run-3"), clock);
  for (auto wait : {10s, 30s, 120s, 600s, 3600s}) {
    auto report = deliver_due(store, {config}, clock);
    REQUIRE(report.deliveries.size() == 1);
    CHECK(report.deliveries[0].state == DeliveryState::retrying);
    CHECK(report.deliveries[0].next_attempt_at == has::state::format_iso8601(clock.now() + wait));
    clock.advance(wait - 1s);
    CHECK(deliver_due(store, {config}, clock).deliveries.empty());
    clock.advance(1s);
  }
  auto report = deliver_due(store, {config}, clock);
  REQUIRE(report.deliveries.size() == 1);
  CHECK(report.deliveries[0].state == DeliveryState::failed);
  CHECK(report.deliveries[0].attempt == 6);
  CHECK(hook.count() == 6);
  auto entry = OutboxRepository(store).get(id);
  CHECK(entry->status == "failed");
  CHECK(entry->last_http_status == 500);
  clock.advance(24h);
  CHECK(deliver_due(store, {config}, clock).deliveries.empty());
}

TEST_CASE("notify: a refusal that cannot heal fails at once and secrets stay out of state and errors") {
  FakeDingTalk robot;
  robot.secret = k_secret;
  robot.start();
  const std::string wrong = "SECwrongDeliverSecret0123456789";
  ScopedEnv url("HAS_TEST_DELIVER_URL", robot.url());
  ScopedEnv secret("HAS_TEST_DELIVER_SECRET", wrong);
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  FakeClock clock;
  // A probe message may quote a secret; it is registered once resolved.
  has::core::register_secret(k_secret);
  enqueue(store, "ops", message("run-4", std::string("token ") + k_secret + " leaked by a probe"), clock);

  auto report = deliver_due(store, {dingtalk()}, clock);
  REQUIRE(report.deliveries.size() == 1);
  const auto& delivery = report.deliveries[0];
  CHECK(delivery.state == DeliveryState::failed);
  CHECK(delivery.attempt == 1);
  CHECK(delivery.error.find("security check failed") != std::string::npos);

  const std::string stored = state_text(store);
  CHECK(stored.find("security check failed") != std::string::npos);
  CHECK(stored.find("[redacted]") != std::string::npos);
  for (const std::string& secret_text : {wrong, std::string(k_secret), robot.token, robot.url()}) {
    CHECK(stored.find(secret_text) == std::string::npos);
    CHECK(delivery.error.find(secret_text) == std::string::npos);
    CHECK(delivery.help.find(secret_text) == std::string::npos);
  }
  // The payload is the message, never the signed request.
  CHECK(stored.find("sign=") == std::string::npos);
  CHECK(stored.find("timestamp=") == std::string::npos);
}

TEST_CASE("notify: an unset variable is a failed attempt that names it - a notifier gone from has.yaml waits") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  FakeClock clock;
  enqueue(store, "ops", message("run-5"), clock);
  enqueue(store, "removed", message("run-5"), clock);
  ::unsetenv("HAS_TEST_DELIVER_URL");
  auto report = deliver_due(store, {dingtalk()}, clock);
  REQUIRE(report.deliveries.size() == 2);
  CHECK(report.deliveries[0].state == DeliveryState::retrying);
  CHECK(report.deliveries[0].error.find("environment variable HAS_TEST_DELIVER_URL is not set") == 0);
  CHECK(report.deliveries[0].help == "export HAS_TEST_DELIVER_URL=... before running has");
  CHECK(report.deliveries[1].state == DeliveryState::deferred);
  CHECK(report.deliveries[1].error == "notifier 'removed' is not defined in has.yaml");
  CHECK(OutboxRepository(store).list(std::string("pending"), std::string("removed"), 10).size() == 1);
}

TEST_CASE("notify: the rate budget is shared through the state file - the excess waits for the next run") {
  FakeDingTalk robot;
  robot.secret = k_secret;
  robot.per_minute = 1000; // the fake counts real minutes; delivery here runs on the fake clock
  robot.start();
  ScopedEnv url("HAS_TEST_DELIVER_URL", robot.url());
  ScopedEnv secret("HAS_TEST_DELIVER_SECRET", k_secret);
  has::test::TempDir dir;
  const auto file = dir.path() / "state.db";
  auto store = Store::open(file);
  FakeClock clock;
  for (int i = 0; i < 15; ++i) {
    enqueue(store, "ops", message("a" + std::to_string(i)), clock);
  }
  CHECK(deliver_due(store, {dingtalk()}, clock).count(DeliveryState::sent) == 15);

  // Another process (its own connection), a few seconds later.
  auto other = Store::open(file);
  clock.advance(5s);
  for (int i = 0; i < 10; ++i) {
    enqueue(other, "ops", message("b" + std::to_string(i)), clock);
  }
  auto report = deliver_due(other, {dingtalk()}, clock);
  CHECK(report.count(DeliveryState::sent) == 5);
  CHECK(report.count(DeliveryState::deferred) == 5);
  CHECK(report.deliveries.back().error.find("rate budget of dingtalk notifier 'ops' is spent") != std::string::npos);
  CHECK(robot.accepted() == 20);
  CHECK(robot.count() == 20); // 20 in the minute, none refused

  clock.advance(55s);
  report = deliver_due(store, {dingtalk()}, clock);
  CHECK(report.count(DeliveryState::sent) == 5);
  CHECK(robot.accepted() == 25);
  // Order is kept: b0..b4 went first, then b5..b9.
  std::vector<std::string> order;
  for (const auto& seen : robot.seen()) {
    order.push_back(nlohmann::json::parse(seen.body)["msgUuid"]);
  }
  CHECK(order[15] == "b0");
  CHECK(order[24] == "b9");
}

TEST_CASE("notify: two processes delivering at once send each message once") {
  FakeDingTalk robot;
  robot.secret = k_secret;
  robot.latency = 20ms;
  robot.start();
  ScopedEnv url("HAS_TEST_DELIVER_URL", robot.url());
  ScopedEnv secret("HAS_TEST_DELIVER_SECRET", k_secret);
  has::test::TempDir dir;
  const auto file = dir.path() / "state.db";
  {
    auto store = Store::open(file);
    SystemClock clock;
    for (int i = 0; i < 12; ++i) {
      REQUIRE(enqueue(store, "ops", message("c" + std::to_string(i)), clock));
    }
  }
  std::vector<DeliveryReport> reports(2);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      auto store = Store::open(file);
      SystemClock clock;
      reports[static_cast<std::size_t>(t)] = deliver_due(store, {dingtalk()}, clock);
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  CHECK(reports[0].count(DeliveryState::sent) + reports[1].count(DeliveryState::sent) == 12);
  // Both took part (each finds the other's claims and skips them).
  CHECK(reports[0].count(DeliveryState::sent) > 0);
  CHECK(reports[1].count(DeliveryState::sent) > 0);
  CHECK(robot.count() == 12);
  std::set<std::string> keys;
  for (const auto& seen : robot.seen()) {
    keys.insert(nlohmann::json::parse(seen.body)["msgUuid"].get<std::string>());
  }
  CHECK(keys.size() == 12);
}

TEST_CASE("notify: a message claimed by a process that died is sent again when its lease lapses") {
  FakeWebhook hook;
  hook.start();
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  FakeClock clock;
  const auto config = has::test::notifier("hook", "webhook", hook.url());
  const auto id = *enqueue(store, "hook", message("run-6"), clock);
  // The dead process claimed it and never recorded an outcome.
  OutboxRepository outbox(store);
  REQUIRE(outbox.claim(id, has::state::format_iso8601(clock.now()), has::state::format_iso8601(clock.now() + 5min)));

  CHECK(deliver_due(store, {config}, clock).deliveries.empty());
  clock.advance(5min);
  auto report = deliver_due(store, {config}, clock);
  REQUIRE(report.deliveries.size() == 1);
  CHECK(report.deliveries[0].state == DeliveryState::sent);
  CHECK(report.deliveries[0].attempt == 2);
  CHECK(hook.count() == 1);
}
