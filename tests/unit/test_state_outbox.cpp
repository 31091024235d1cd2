#include <has/state/outbox.hpp>
#include <has/state/store.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>

#include <string>

using has::state::OutboxRepository;
using has::state::Store;

namespace {

constexpr const char* k_t0 = "2026-01-01T00:00:00.000Z";
constexpr const char* k_t1 = "2026-01-01T00:00:10.000Z";
constexpr const char* k_t2 = "2026-01-01T00:05:00.000Z";

std::string columns(Store& store, const char* table) {
  auto select = store.connection().prepare(
    std::string("SELECT group_concat(name, ',') FROM pragma_table_info('") + table + "')");
  REQUIRE(select.step());
  return select.column_text(0);
}

} // namespace

TEST_CASE("state: outbox migration 3 creates the outbox and the rate tables") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  CHECK(store.schema_version() >= 3);
  CHECK(columns(store, "outbox") == "id,notifier,dedup_key,payload,status,attempts,next_attempt_at,last_error,"
                                    "last_http_status,created_at,sent_at");
  CHECK(columns(store, "notify_sends") == "notifier,at_ms");
  CHECK(columns(store, "notify_blocks") == "notifier,until_ms,reason");
  // The payload must be JSON and the status one of four.
  CHECK_THROWS(store.connection().exec(
    "INSERT INTO outbox (notifier, dedup_key, payload, status, next_attempt_at, created_at) "
    "VALUES ('a', 'k', 'not json', 'pending', 'x', 'x')"));
  CHECK_THROWS(store.connection().exec(
    "INSERT INTO outbox (notifier, dedup_key, payload, status, next_attempt_at, created_at) "
    "VALUES ('a', 'k', '{}', 'lost', 'x', 'x')"));
}

TEST_CASE("state: outbox keeps one message per notifier and dedup key") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  OutboxRepository outbox(store);
  auto first = outbox.add("ops", "run-1", R"({"title":"a"})", k_t0);
  REQUIRE(first);
  CHECK_FALSE(outbox.add("ops", "run-1", R"({"title":"b"})", k_t1));
  auto other = outbox.add("dev", "run-1", R"({"title":"c"})", k_t0);
  CHECK(other);
  auto entry = outbox.get(*first);
  REQUIRE(entry);
  CHECK(entry->payload == R"({"title":"a"})");
  CHECK(entry->status == "pending");
  CHECK(entry->attempts == 0);
  CHECK(entry->next_attempt_at == k_t0);
  CHECK(entry->created_at == k_t0);
  CHECK_FALSE(entry->sent_at);
}

TEST_CASE("state: outbox claims an entry for one caller only") {
  has::test::TempDir dir;
  const auto file = dir.path() / "state.db";
  auto store = Store::open(file);
  auto second_store = Store::open(file);
  OutboxRepository outbox(store);
  OutboxRepository other(second_store);
  const auto id = *outbox.add("ops", "k", "{}", k_t0);
  CHECK(outbox.due(k_t0, 10).size() == 1);

  auto attempt = outbox.claim(id, k_t0, k_t2);
  REQUIRE(attempt);
  CHECK(*attempt == 1);
  // Another connection sees it claimed (not due) until the lease lapses.
  CHECK_FALSE(other.claim(id, k_t1, k_t2));
  CHECK(other.due(k_t1, 10).empty());
  CHECK(outbox.get(id)->status == "sending");

  SUBCASE("the claimer records the outcome once") {
    CHECK(outbox.mark_sent(id, 1, k_t1, 200));
    CHECK_FALSE(outbox.mark_sent(id, 1, k_t1, 200));
    auto entry = outbox.get(id);
    CHECK(entry->status == "sent");
    CHECK(entry->sent_at == k_t1);
    CHECK(entry->last_http_status == 200);
    CHECK(outbox.due(k_t2, 10).empty());
  }
  SUBCASE("a lapsed claim is due again and a stale claimer cannot record") {
    CHECK(other.due(k_t2, 10).size() == 1);
    auto again = other.claim(id, k_t2, "2026-01-01T00:10:00.000Z");
    REQUIRE(again);
    CHECK(*again == 2);
    CHECK_FALSE(outbox.mark_sent(id, 1, k_t2, 200));
    CHECK(other.mark_sent(id, 2, k_t2, 200));
  }
}

TEST_CASE("state: outbox retries / fails / releases and requeues") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  OutboxRepository outbox(store);
  const auto id = *outbox.add("ops", "k", "{}", k_t0);

  REQUIRE(outbox.claim(id, k_t0, k_t2) == 1);
  CHECK(outbox.mark_retry(id, 1, k_t1, "HTTP 500", 500));
  auto entry = outbox.get(id);
  CHECK(entry->status == "pending");
  CHECK(entry->attempts == 1);
  CHECK(entry->last_error == "HTTP 500");
  CHECK(entry->next_attempt_at == k_t1);
  CHECK(outbox.due(k_t0, 10).empty());
  CHECK(outbox.due(k_t1, 10).size() == 1);

  // A release does not count the attempt.
  REQUIRE(outbox.claim(id, k_t1, k_t2) == 2);
  CHECK(outbox.release(id, 2, k_t2, "rate limited"));
  CHECK(outbox.get(id)->attempts == 1);
  CHECK(outbox.get(id)->last_error == "rate limited");

  REQUIRE(outbox.claim(id, k_t2, "2026-01-01T01:00:00.000Z") == 2);
  CHECK(outbox.mark_failed(id, 2, "token invalid", 200));
  CHECK(outbox.get(id)->status == "failed");
  CHECK(outbox.due("2027-01-01T00:00:00.000Z", 10).empty());
  CHECK(outbox.list(std::string("failed"), std::nullopt, 10).size() == 1);
  CHECK(outbox.list(std::nullopt, std::string("dev"), 10).empty());

  CHECK(outbox.requeue_failed(std::string("dev"), k_t2) == 0);
  CHECK(outbox.requeue_failed(std::nullopt, k_t2) == 1);
  entry = outbox.get(id);
  CHECK(entry->status == "pending");
  CHECK(entry->attempts == 0);
}

TEST_CASE("state: outbox purges sent entries older than a time") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  OutboxRepository outbox(store);
  const auto old_id = *outbox.add("ops", "old", "{}", k_t0);
  const auto new_id = *outbox.add("ops", "new", "{}", k_t0);
  outbox.claim(old_id, k_t0, k_t2);
  outbox.mark_sent(old_id, 1, k_t0, std::nullopt);
  outbox.claim(new_id, k_t0, k_t2);
  outbox.mark_sent(new_id, 1, k_t2, std::nullopt);
  CHECK(outbox.purge_sent(k_t1) == 1);
  CHECK_FALSE(outbox.get(old_id));
  CHECK(outbox.get(new_id));
}

TEST_CASE("state: outbox counts sends per notifier and keeps the later block") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  OutboxRepository outbox(store);
  outbox.record_send("ops", 1000, 0);
  outbox.record_send("ops", 2000, 0);
  outbox.record_send("dev", 2500, 0);
  CHECK(outbox.sends_since("ops", 0) == std::vector<std::int64_t>{1000, 2000});
  CHECK(outbox.sends_since("ops", 1500) == std::vector<std::int64_t>{2000});
  // Old sends are forgotten as new ones are recorded.
  outbox.record_send("ops", 9000, 1500);
  CHECK(outbox.sends_since("ops", 0) == std::vector<std::int64_t>{2000, 9000});

  CHECK_FALSE(outbox.blocked_until("ops"));
  outbox.block("ops", 5000, "429");
  outbox.block("ops", 4000, "earlier");
  CHECK(outbox.blocked_until("ops") == 5000);
  outbox.block("ops", 7000, "later");
  CHECK(outbox.blocked_until("ops") == 7000);
}
