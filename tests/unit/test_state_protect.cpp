#include <has/state/protect.hpp>
#include <has/state/store.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

using has::state::ProtectPause;
using has::state::ProtectRepository;
using has::state::ProtectStart;
using has::state::Store;
using namespace std::chrono_literals;
using TimePoint = std::chrono::system_clock::time_point;

namespace {

constexpr const char* k_scope = "plan:restart-web";

// 2026-11-25T10:00:00Z, whole milliseconds as the tables keep them.
const TimePoint k_t0{std::chrono::milliseconds(1'795'600'800'000)};

ProtectStart start_at(std::int64_t run_id, TimePoint at) {
  ProtectStart start;
  start.scope = k_scope;
  start.run_id = run_id;
  start.host = "web-1";
  start.pid = 4242;
  start.pid_start = "start-id";
  start.targets = 3;
  start.at = at;
  start.forget_finished_before = at - 24h;
  return start;
}

std::vector<std::int64_t> run_ids(const std::vector<has::state::ProtectOpenRun>& runs) {
  std::vector<std::int64_t> out;
  for (const auto& run : runs) {
    out.push_back(run.run_id);
  }
  return out;
}

} // namespace

TEST_CASE("state: protect record_start opens a run and counts its start and keeps the limits in force") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  ProtectRepository repo(store);
  CHECK(repo.counters(k_scope).last_start == std::nullopt);
  CHECK(repo.scopes().empty());

  auto first = start_at(1, k_t0);
  first.rate_window = 10min;
  first.breaker_failures = 3;
  repo.record_start(first);
  repo.record_start(start_at(2, k_t0 + 1min));

  const auto open = repo.open_runs(k_scope, std::nullopt);
  REQUIRE(open.size() == 2);
  CHECK(open[0].run_id == 1);
  CHECK(open[0].host == "web-1");
  CHECK(open[0].pid == 4242);
  CHECK(open[0].pid_start == "start-id");
  CHECK(run_ids(repo.open_runs(k_scope, 1)) == std::vector<std::int64_t>{2});
  CHECK(repo.open_runs("plan:other", std::nullopt).empty());

  CHECK(repo.starts_after(k_scope, k_t0 - 1ms, std::nullopt) == std::vector<TimePoint>{k_t0, k_t0 + 1min});
  CHECK(repo.starts_after(k_scope, k_t0, std::nullopt) == std::vector<TimePoint>{k_t0 + 1min});
  CHECK(repo.starts_after(k_scope, k_t0 - 1ms, 2) == std::vector<TimePoint>{k_t0});

  // The last start's limits replace the first's: the second had none.
  const auto counters = repo.counters(k_scope);
  CHECK(counters.last_start == k_t0 + 1min);
  CHECK(counters.last_finish == std::nullopt);
  CHECK(counters.rate_window == std::nullopt);
  CHECK(counters.breaker_failures == std::nullopt);
  CHECK(counters.consecutive_failures == 0);
  CHECK(repo.scopes() == std::vector<std::string>{k_scope});
}

TEST_CASE("state: protect record_start of a run again reopens it without a second start") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  ProtectRepository repo(store);
  repo.record_start(start_at(7, k_t0));
  CHECK(repo.record_finish(k_scope, 7, true, k_t0 + 1min));
  CHECK(repo.open_runs(k_scope, std::nullopt).empty());

  auto again = start_at(7, k_t0 + 2min);
  again.pid = 5151;
  repo.record_start(again);
  const auto open = repo.open_runs(k_scope, std::nullopt);
  REQUIRE(open.size() == 1);
  CHECK(open[0].pid == 5151);
  // The run keeps its first start time.
  CHECK(repo.starts_after(k_scope, k_t0 - 1ms, std::nullopt) == std::vector<TimePoint>{k_t0});
  // Reopened, it may finish (and count) once more.
  CHECK(repo.record_finish(k_scope, 7, false, k_t0 + 3min));
  CHECK(repo.counters(k_scope).consecutive_failures == 1);
}

TEST_CASE("state: protect record_start forgets finished runs started before the given time only") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  ProtectRepository repo(store);
  repo.record_start(start_at(1, k_t0));
  repo.record_start(start_at(2, k_t0 + 1min));
  repo.record_start(start_at(3, k_t0 + 2min));
  repo.record_finish(k_scope, 1, true, k_t0 + 3min);
  repo.record_finish(k_scope, 3, true, k_t0 + 3min);

  auto later = start_at(4, k_t0 + 10min);
  later.forget_finished_before = k_t0 + 2min;
  repo.record_start(later);
  // Run 1 finished and is forgotten; run 2 is still open; run 3 started
  // right at the limit and is forgotten too.
  CHECK(repo.starts_after(k_scope, k_t0 - 1ms, std::nullopt) == std::vector<TimePoint>{k_t0 + 1min, k_t0 + 10min});
  CHECK(run_ids(repo.open_runs(k_scope, std::nullopt)) == std::vector<std::int64_t>{2, 4});
}

TEST_CASE("state: protect record_finish counts failures in a row and each end once") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  ProtectRepository repo(store);
  for (std::int64_t run = 1; run <= 3; ++run) {
    repo.record_start(start_at(run, k_t0 + std::chrono::minutes(run)));
  }
  CHECK(repo.record_finish(k_scope, 1, false, k_t0 + 10min));
  CHECK(repo.record_finish(k_scope, 2, false, k_t0 + 11min));
  auto counters = repo.counters(k_scope);
  CHECK(counters.consecutive_failures == 2);
  CHECK(counters.last_succeeded == false);
  CHECK(counters.last_finish == k_t0 + 11min);

  // A second end of the same run changes nothing.
  CHECK_FALSE(repo.record_finish(k_scope, 2, true, k_t0 + 12min));
  CHECK(repo.counters(k_scope).consecutive_failures == 2);
  CHECK(repo.counters(k_scope).last_finish == k_t0 + 11min);

  // An earlier finish does not move the last finish back; a success resets.
  CHECK(repo.record_finish(k_scope, 3, true, k_t0 + 5min));
  counters = repo.counters(k_scope);
  CHECK(counters.consecutive_failures == 0);
  CHECK(counters.last_succeeded == true);
  CHECK(counters.last_finish == k_t0 + 11min);

  // A run never started counts each time, and makes the scope known.
  CHECK(repo.record_finish("plan:other", 9, false, k_t0));
  CHECK(repo.record_finish("plan:other", 9, false, k_t0));
  CHECK(repo.counters("plan:other").consecutive_failures == 2);
  CHECK(repo.counters("plan:other").last_start == std::nullopt);
}

TEST_CASE("state: protect close_dead closes open runs only and a died run may still finish") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  ProtectRepository repo(store);
  repo.record_start(start_at(1, k_t0));
  repo.record_start(start_at(2, k_t0));
  repo.record_start(start_at(3, k_t0));
  repo.record_finish(k_scope, 3, true, k_t0 + 1min);

  repo.close_dead(k_scope, {1, 3, 99}, k_t0 + 2min);
  CHECK(run_ids(repo.open_runs(k_scope, std::nullopt)) == std::vector<std::int64_t>{2});
  // A died run feeds neither the last finish nor the failures...
  auto counters = repo.counters(k_scope);
  CHECK(counters.last_finish == k_t0 + 1min);
  CHECK(counters.consecutive_failures == 0);
  // ...but its own end, when it comes after all, counts.
  CHECK(repo.record_finish(k_scope, 1, false, k_t0 + 3min));
  CHECK(repo.counters(k_scope).consecutive_failures == 1);
  // Run 3 had finished before: closing it as dead did not touch it.
  CHECK_FALSE(repo.record_finish(k_scope, 3, false, k_t0 + 4min));
}

TEST_CASE("state: protect close_breaker zeroes the failures of a known scope only") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  ProtectRepository repo(store);
  auto start = start_at(1, k_t0);
  start.breaker_failures = 1;
  repo.record_start(start);
  repo.record_finish(k_scope, 1, false, k_t0 + 1min);
  REQUIRE(repo.counters(k_scope).consecutive_failures == 1);

  repo.close_breaker(k_scope);
  const auto counters = repo.counters(k_scope);
  CHECK(counters.consecutive_failures == 0);
  CHECK(counters.breaker_failures == 1);
  CHECK(counters.last_succeeded == false);

  repo.close_breaker("plan:unknown");
  CHECK(repo.scopes() == std::vector<std::string>{k_scope});
}

TEST_CASE("state: protect pauses are kept per scope and for every run - the latter first") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  ProtectRepository repo(store);
  CHECK(repo.pause(std::nullopt) == std::nullopt);
  CHECK(repo.pauses().empty());

  repo.set_pause({std::string("plan:b"), "deploy", std::string("ann"), k_t0});
  repo.set_pause({std::nullopt, "incident", std::nullopt, k_t0 + 1min});
  repo.set_pause({std::string("plan:a"), "first", std::nullopt, k_t0});
  repo.set_pause({std::string("plan:a"), "second", std::string("bob"), k_t0 + 2min});

  const auto all = repo.pauses();
  REQUIRE(all.size() == 3);
  CHECK(all[0].scope == std::nullopt);
  CHECK(all[0].reason == "incident");
  CHECK(all[0].by == std::nullopt);
  CHECK(all[0].at == k_t0 + 1min);
  CHECK(all[1].scope == "plan:a");
  CHECK(all[1].reason == "second");
  CHECK(all[1].by == "bob");
  CHECK(all[1].at == k_t0 + 2min);
  CHECK(all[2].scope == "plan:b");

  const auto one = repo.pause(std::string("plan:b"));
  REQUIRE(one);
  CHECK(one->reason == "deploy");
  CHECK(one->by == "ann");
  CHECK(repo.pause(std::string("plan:c")) == std::nullopt);
  // A scope paused on its own is known; the pause of every run is no scope.
  CHECK(repo.scopes() == std::vector<std::string>{"plan:a", "plan:b"});

  repo.clear_pause(std::nullopt);
  repo.clear_pause(std::string("plan:c"));
  CHECK(repo.pause(std::nullopt) == std::nullopt);
  CHECK(repo.pauses().size() == 2);
  repo.clear_pause(std::string("plan:a"));
  CHECK(repo.pause(std::string("plan:a")) == std::nullopt);
}

TEST_CASE("state: protect scopes lists each scope once and sorted") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  ProtectRepository repo(store);
  auto start = start_at(1, k_t0);
  start.scope = "scenario:disk";
  repo.record_start(start);
  repo.record_start(start_at(2, k_t0));
  repo.record_finish("plan:backup", 3, true, k_t0);
  repo.set_pause({std::string("plan:restart-web"), "hold", std::nullopt, k_t0});
  CHECK(repo.scopes() == std::vector<std::string>{"plan:backup", "plan:restart-web", "scenario:disk"});
}
