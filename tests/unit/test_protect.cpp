#include <has/core/error.hpp>
#include <has/defs/units.hpp>
#include <has/protect/protect.hpp>
#include <has/state/store.hpp>
#include <has/util/pid.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

using has::defs::parse_time;
using has::defs::Protection;
using has::defs::TimeWindow;
using has::protect::Decision;
using has::protect::Request;
using has::state::Store;
using namespace std::chrono_literals;

namespace protect = has::protect;

namespace {

constexpr const char* k_host = "test-host";
constexpr const char* k_scope = "plan:restart-web";

const auto k_t0 = parse_time("2026-11-25T10:00:00Z");

// A manual request by this process on this host.
Request manual(int targets = 1) {
  Request request;
  request.scope = k_scope;
  request.targets = targets;
  request.host = k_host;
  request.pid = ::getpid();
  request.pid_start = has::util::process_start_id(::getpid());
  return request;
}

Request automatic() {
  auto request = manual();
  request.automatic = true;
  return request;
}

std::vector<std::string> rules(const std::vector<has::protect::Block>& blocks) {
  std::vector<std::string> out;
  for (const auto& block : blocks) {
    out.push_back(block.rule);
  }
  return out;
}

std::int64_t query_int(Store& store, const std::string& sql) {
  auto query = store.connection().prepare(sql);
  REQUIRE(query.step());
  return query.column_int64(0);
}

TimeWindow absolute(const char* starts, const char* ends) {
  TimeWindow window;
  window.starts = parse_time(starts);
  window.ends = parse_time(ends);
  return window;
}

// Sets TZ for one test, restoring it after: daily windows use local time.
class LocalZone {
public:
  explicit LocalZone(const char* zone) {
    if (const char* old = std::getenv("TZ")) {
      m_old = old;
    }
    ::setenv("TZ", zone, 1);
    ::tzset();
  }
  ~LocalZone() {
    if (m_old) {
      ::setenv("TZ", m_old->c_str(), 1);
    } else {
      ::unsetenv("TZ");
    }
    ::tzset();
  }
  LocalZone(const LocalZone&) = delete;
  LocalZone& operator=(const LocalZone&) = delete;

private:
  std::optional<std::string> m_old;
};

} // namespace

TEST_CASE("protect: without rules every run is admitted and a scope is required") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  Protection none;
  for (std::int64_t run = 1; run <= 3; ++run) {
    auto decision = protect::admit(store, none, manual(100), run, k_t0);
    CHECK(decision.allowed());
    CHECK(decision.blocks.empty());
    CHECK(decision.overridden.empty());
  }
  CHECK(query_int(store, "SELECT count(*) FROM protect_runs WHERE finished_ms IS NULL") == 3);
  auto request = manual();
  request.scope = "";
  try {
    protect::check(store, none, request, k_t0);
    FAIL("an empty scope was accepted");
  } catch (const has::core::Error& e) {
    CHECK(e.code() == has::core::ExitCode::usage);
  }
  CHECK_THROWS_AS(protect::pause(store, std::string(), "x", std::nullopt), has::core::Error);
}

TEST_CASE("protect: rate admits N starts per sliding window and says when the next may start") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  Protection protection;
  protection.rate_runs = 2;
  protection.rate_window = 1h;
  CHECK(protect::admit(store, protection, manual(), 1, k_t0).allowed());
  protect::finish(store, k_scope, 1, true, k_t0 + 1min);
  CHECK(protect::admit(store, protection, manual(), 2, k_t0 + 10min).allowed());
  protect::finish(store, k_scope, 2, true, k_t0 + 11min);

  // check() reads only: asking again and again changes nothing.
  for (int i = 0; i < 3; ++i) {
    auto decision = protect::check(store, protection, manual(), k_t0 + 20min);
    REQUIRE(decision.blocks.size() == 1);
    CHECK(decision.blocks[0].rule == "rate");
    CHECK(decision.blocks[0].reason == "at most 2 runs per 1h: 2 started within the last 1h, the oldest at "
                                       "2026-11-25T10:00:00.000Z");
    REQUIRE(decision.blocks[0].allowed_at);
    CHECK(*decision.blocks[0].allowed_at == k_t0 + 1h);
    CHECK(decision.allowed_at() == k_t0 + 1h);
  }
  auto blocked = protect::admit(store, protection, manual(), 3, k_t0 + 59min);
  CHECK_FALSE(blocked.allowed());
  CHECK(query_int(store, "SELECT count(*) FROM protect_runs") == 2);
  // The window slides: the first start falls out at t0 + 1h.
  CHECK(protect::admit(store, protection, manual(), 3, k_t0 + 1h).allowed());
  auto next = protect::check(store, protection, manual(), k_t0 + 1h + 1s);
  REQUIRE(next.blocks.size() == 1);
  CHECK(next.blocks[0].allowed_at == k_t0 + 10min + 1h);
}

TEST_CASE("protect: cooldown runs from the last finish") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  Protection protection;
  protection.cooldown = 10min;
  CHECK(protect::admit(store, protection, manual(), 1, k_t0).allowed());
  // While the run runs, the cooldown has not begun.
  CHECK(protect::check(store, protection, manual(), k_t0 + 1min).allowed());
  protect::finish(store, k_scope, 1, false, k_t0 + 5min);
  auto decision = protect::check(store, protection, manual(), k_t0 + 7min);
  REQUIRE(decision.blocks.size() == 1);
  CHECK(decision.blocks[0].rule == "cooldown");
  CHECK(decision.blocks[0].reason ==
        "a cooldown of 10m follows every run: the last finished at 2026-11-25T10:05:00.000Z");
  CHECK(decision.blocks[0].allowed_at == k_t0 + 15min);
  CHECK(protect::check(store, protection, manual(), k_t0 + 15min).allowed());
}

TEST_CASE("protect: max_concurrent counts runs not finished whose process lives") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  Protection protection;
  protection.max_concurrent = 2;
  CHECK(protect::admit(store, protection, manual(), 1, k_t0).allowed());
  CHECK(protect::admit(store, protection, manual(), 2, k_t0).allowed());
  auto blocked = protect::admit(store, protection, manual(), 3, k_t0);
  REQUIRE(blocked.blocks.size() == 1);
  CHECK(blocked.blocks[0].rule == "concurrency");
  CHECK(blocked.blocks[0].reason == "at most 2 runs at once: runs 1, 2 still running");
  CHECK_FALSE(blocked.blocks[0].allowed_at);
  CHECK_FALSE(blocked.allowed_at());
  // Admitting a run again (a resume) does not count it against itself.
  CHECK(protect::admit(store, protection, manual(), 2, k_t0 + 1min).allowed());
  protect::finish(store, k_scope, 1, true, k_t0 + 2min);
  CHECK(protect::admit(store, protection, manual(), 3, k_t0 + 2min).allowed());
  // Other scopes have their own counters.
  auto other = manual();
  other.scope = "plan:other";
  CHECK(protect::admit(store, protection, other, 4, k_t0).allowed());
}

TEST_CASE("protect: a run whose process died does not count and is closed but other hosts count") {
  has::test::TempDir dir;
  const auto file = dir.path() / "state.db";
  // The child waits until its start id is read, then exits.
  int gate[2];
  REQUIRE(::pipe(gate) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(gate[1]);
    char byte = 0;
    while (::read(gate[0], &byte, 1) < 0 && errno == EINTR) {
    }
    ::_exit(0);
  }
  ::close(gate[0]);
  const auto child_start = has::util::process_start_id(child);
  REQUIRE(child_start);
  ::close(gate[1]);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  REQUIRE(WIFEXITED(status));

  auto store = Store::open(file);
  Protection protection;
  protection.max_concurrent = 1;
  auto dead = manual();
  dead.pid = child;
  dead.pid_start = child_start;
  // Admitted while nothing ran (the pid is only recorded).
  CHECK(protect::admit(store, protection, dead, 1, k_t0).allowed());
  auto decision = protect::admit(store, protection, manual(), 2, k_t0 + 1min);
  CHECK(decision.allowed());
  CHECK(query_int(store, "SELECT count(*) FROM protect_runs WHERE run_id = 1 AND outcome = 'died' AND "
                         "finished_ms IS NOT NULL") == 1);
  // A died run feeds neither the cooldown nor the breaker.
  CHECK(query_int(store, "SELECT last_finish_ms IS NULL AND consecutive_failures = 0 FROM protect_scopes") == 1);

  // The same dead pid on another host cannot be checked from here: it counts.
  protect::finish(store, k_scope, 2, true, k_t0 + 2min);
  auto remote = dead;
  remote.host = "other-host";
  CHECK(protect::admit(store, protection, remote, 3, k_t0 + 3min).allowed());
  auto blocked = protect::check(store, protection, manual(), k_t0 + 4min);
  REQUIRE(blocked.blocks.size() == 1);
  CHECK(blocked.blocks[0].reason == "at most 1 run at once: run 3 still running");
}

TEST_CASE("protect: blast radius blocks runs that touch too many targets") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  Protection protection;
  protection.blast_radius = 5;
  CHECK(protect::check(store, protection, manual(5), k_t0).allowed());
  auto decision = protect::admit(store, protection, manual(6), 1, k_t0);
  REQUIRE(decision.blocks.size() == 1);
  CHECK(decision.blocks[0].rule == "blast_radius");
  CHECK(decision.blocks[0].reason == "the run would touch 6 targets; at most 5 are allowed");
  CHECK_FALSE(decision.blocks[0].allowed_at);
  CHECK(query_int(store, "SELECT count(*) FROM protect_runs") == 0);
}

TEST_CASE("protect: windows allow runs only inside one and name the next opening") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  Protection protection;
  protection.windows.push_back(absolute("2026-11-25T12:00:00Z", "2026-11-25T13:00:00Z"));
  protection.windows.push_back(absolute("2026-11-25T11:00:00Z", "2026-11-25T11:30:00Z"));
  auto decision = protect::check(store, protection, manual(), k_t0);
  REQUIRE(decision.blocks.size() == 1);
  CHECK(decision.blocks[0].rule == "window");
  CHECK(decision.blocks[0].allowed_at == parse_time("2026-11-25T11:00:00Z"));
  CHECK(decision.blocks[0].reason ==
        "runs may start only inside their windows; the next opens at 2026-11-25T11:00:00.000Z");
  CHECK(protect::check(store, protection, manual(), parse_time("2026-11-25T11:10:00Z")).allowed());
  CHECK(protect::check(store, protection, manual(), parse_time("2026-11-25T12:59:59Z")).allowed());
  auto after = protect::check(store, protection, manual(), parse_time("2026-11-25T13:00:00Z"));
  REQUIRE(after.blocks.size() == 1);
  CHECK_FALSE(after.blocks[0].allowed_at);
}

TEST_CASE("protect: a daily window on weekdays opens again on Monday") {
  LocalZone zone("UTC");
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  Protection protection;
  TimeWindow office;
  office.daily_from = 9 * 60;
  office.daily_to = 17 * 60;
  office.weekdays = {1, 2, 3, 4, 5};
  protection.windows.push_back(office);
  // Wednesday 10:00 is inside; Saturday 10:00 waits for Monday 09:00.
  CHECK(protect::check(store, protection, manual(), k_t0).allowed());
  auto decision = protect::check(store, protection, manual(), parse_time("2026-11-28T10:00:00Z"));
  REQUIRE(decision.blocks.size() == 1);
  CHECK(decision.blocks[0].allowed_at == parse_time("2026-11-30T09:00:00Z"));
}

TEST_CASE("protect: a freeze blocks until it ends and overlapping freezes are followed") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  Protection protection;
  protection.freezes.push_back(absolute("2026-11-25T10:00:00Z", "2026-11-25T12:00:00Z"));
  protection.freezes.push_back(absolute("2026-11-25T11:00:00Z", "2026-11-25T13:00:00Z"));
  CHECK(protect::check(store, protection, manual(), k_t0 - 1s).allowed());
  auto decision = protect::admit(store, protection, manual(), 1, k_t0 + 30min);
  REQUIRE(decision.blocks.size() == 1);
  CHECK(decision.blocks[0].rule == "freeze");
  CHECK(decision.blocks[0].allowed_at == parse_time("2026-11-25T13:00:00Z"));
  CHECK(decision.blocks[0].reason == "a change freeze is in force until 2026-11-25T13:00:00.000Z");
  CHECK(protect::check(store, protection, manual(), parse_time("2026-11-25T13:00:00Z")).allowed());
}

TEST_CASE("protect: a manual run may override rules but an automatic run may not") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  Protection protection;
  protection.rate_runs = 1;
  protection.rate_window = 1h;
  protection.blast_radius = 2;
  CHECK(protect::admit(store, protection, manual(), 1, k_t0).allowed());
  protect::finish(store, k_scope, 1, true, k_t0 + 1min);

  auto request = manual(3);
  auto decision = protect::check(store, protection, request, k_t0 + 5min);
  CHECK(rules(decision.blocks) == std::vector<std::string>{"rate", "blast_radius"});
  request.overrides = {"rate"};
  decision = protect::admit(store, protection, request, 2, k_t0 + 5min);
  CHECK(rules(decision.blocks) == std::vector<std::string>{"blast_radius"});
  CHECK(rules(decision.overridden) == std::vector<std::string>{"rate"});
  request.overrides = {"rate", "blast_radius"};
  decision = protect::admit(store, protection, request, 2, k_t0 + 5min);
  CHECK(decision.allowed());
  CHECK(rules(decision.overridden) == std::vector<std::string>{"rate", "blast_radius"});
  protect::finish(store, k_scope, 2, true, k_t0 + 6min);

  // Two starts in the window now: the rate allows the next when both are out.
  auto robot = automatic();
  robot.overrides = {"rate"};
  decision = protect::check(store, protection, robot, k_t0 + 10min);
  CHECK(rules(decision.blocks) == std::vector<std::string>{"rate"});
  CHECK(decision.overridden.empty());
  CHECK(decision.blocks[0].allowed_at == k_t0 + 5min + 1h);
}

TEST_CASE("protect: the breaker opens after N failures in a row and stops automatic runs only until reset") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  Protection protection;
  protection.breaker_failures = 3;
  std::int64_t run = 0;
  auto run_once = [&](bool succeeded) {
    ++run;
    REQUIRE(protect::admit(store, protection, automatic(), run, k_t0 + run * 1min).allowed());
    protect::finish(store, k_scope, run, succeeded, k_t0 + run * 1min + 10s);
  };
  // Two failures, a success, two failures: never three in a row.
  run_once(false);
  run_once(false);
  run_once(true);
  run_once(false);
  run_once(false);
  CHECK(protect::check(store, protection, automatic(), k_t0 + 1h).allowed());
  run_once(false);
  // Finishing the same run again does not count twice.
  protect::finish(store, k_scope, run, false, k_t0 + 1h);

  auto decision = protect::check(store, protection, automatic(), k_t0 + 1h);
  REQUIRE(decision.blocks.size() == 1);
  CHECK(decision.blocks[0].rule == "breaker");
  CHECK(decision.blocks[0].reason == "the circuit breaker is open: the last 3 runs failed (it opens after 3); "
                                     "automatic runs stay stopped until someone resets it");
  CHECK_FALSE(decision.blocks[0].allowed_at);
  CHECK_FALSE(protect::admit(store, protection, automatic(), 100, k_t0 + 1h).allowed());
  // A person decides: manual runs still run.
  CHECK(protect::check(store, protection, manual(), k_t0 + 1h).allowed());

  auto listed = protect::states(store, k_t0 + 1h, k_host);
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].consecutive_failures == 3);
  CHECK(listed[0].breaker_failures == 3);
  CHECK(listed[0].breaker_open);

  protect::reset_breaker(store, k_scope);
  CHECK(protect::check(store, protection, automatic(), k_t0 + 1h).allowed());
  CHECK_FALSE(protect::states(store, k_t0 + 1h, k_host)[0].breaker_open);
}

TEST_CASE("protect: pause stops every run until resume but a manual run may override it") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  Protection none;
  protect::pause(store, std::nullopt, "incident 42 in progress", "alice");
  auto pauses = protect::pauses(store);
  REQUIRE(pauses.size() == 1);
  CHECK_FALSE(pauses[0].scope);
  CHECK(pauses[0].reason == "incident 42 in progress");
  CHECK(pauses[0].by == "alice");

  auto other = manual();
  other.scope = "plan:other";
  for (const auto& request : {manual(), automatic(), other}) {
    auto decision = protect::admit(store, none, request, 1, k_t0);
    REQUIRE(decision.blocks.size() == 1);
    CHECK(decision.blocks[0].rule == "paused");
    CHECK(decision.blocks[0].reason.find("all runs are paused since ") == 0);
    CHECK(decision.blocks[0].reason.find(" by alice: incident 42 in progress") != std::string::npos);
    CHECK_FALSE(decision.blocks[0].allowed_at);
  }
  auto robot = automatic();
  robot.overrides = {"paused"};
  CHECK_FALSE(protect::check(store, none, robot, k_t0).allowed());
  auto person = manual();
  person.overrides = {"paused"};
  CHECK(protect::check(store, none, person, k_t0).allowed());

  // Resuming a scope that is not paused leaves the global pause.
  protect::resume(store, std::string(k_scope));
  CHECK_FALSE(protect::check(store, none, manual(), k_t0).allowed());
  protect::resume(store, std::nullopt);
  CHECK(protect::check(store, none, manual(), k_t0).allowed());
  CHECK(protect::pauses(store).empty());

  // One scope paused: the others run.
  protect::pause(store, std::string(k_scope), "broken deploy", std::nullopt);
  auto decision = protect::check(store, none, manual(), k_t0);
  REQUIRE(decision.blocks.size() == 1);
  CHECK(decision.blocks[0].reason.find("runs of plan:restart-web are paused since ") == 0);
  CHECK(protect::check(store, none, other, k_t0).allowed());
  auto listed = protect::states(store, k_t0, k_host);
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].scope == k_scope);
  REQUIRE(listed[0].paused);
  CHECK(listed[0].paused->reason == "broken deploy");
  protect::resume(store, std::string(k_scope));
  CHECK(protect::check(store, none, manual(), k_t0).allowed());
}

TEST_CASE("protect: states lists the counters of each scope") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  Protection protection;
  protection.rate_runs = 5;
  protection.rate_window = 30min;
  CHECK(protect::admit(store, protection, manual(), 1, k_t0).allowed());
  protect::finish(store, k_scope, 1, false, k_t0 + 1min);
  CHECK(protect::admit(store, protection, manual(), 2, k_t0 + 20min).allowed());
  auto listed = protect::states(store, k_t0 + 40min, k_host);
  REQUIRE(listed.size() == 1);
  const auto& state = listed[0];
  CHECK(state.scope == k_scope);
  CHECK(state.window == 30min);
  CHECK(state.starts_in_window == 1);
  CHECK(state.running == std::vector<std::int64_t>{2});
  CHECK(state.last_start == k_t0 + 20min);
  CHECK(state.last_finish == k_t0 + 1min);
  CHECK(state.last_succeeded == false);
  CHECK(state.consecutive_failures == 1);
  CHECK_FALSE(state.breaker_failures);
  CHECK_FALSE(state.breaker_open);
  CHECK_FALSE(state.paused);
  // Seen from another host, the same run cannot be checked and still counts.
  CHECK(protect::states(store, k_t0 + 40min, "elsewhere")[0].running == std::vector<std::int64_t>{2});
}

TEST_CASE("protect: of 8 processes racing for max_concurrent 1 exactly one is admitted") {
  has::test::TempDir dir;
  const auto file = dir.path() / "state.db";
  constexpr int k_children = 8;
  // Create the file first; the parent's connection is closed before fork().
  { Store::open(file); }
  // start: closing it starts every child at once; decided: each child writes
  // a byte after admit(); release: closing it lets the children exit, so the
  // admitted one is alive while the others decide.
  int start[2], decided[2], release[2];
  REQUIRE(::pipe(start) == 0);
  REQUIRE(::pipe(decided) == 0);
  REQUIRE(::pipe(release) == 0);
  std::vector<pid_t> pids;
  for (int i = 0; i < k_children; ++i) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(start[1]);
      ::close(decided[0]);
      ::close(release[1]);
      char byte = 0;
      while (::read(start[0], &byte, 1) < 0 && errno == EINTR) {
      }
      int code = 0;
      try {
        auto store = Store::open(file);
        Protection protection;
        protection.max_concurrent = 1;
        auto request = manual();
        request.pid = ::getpid();
        request.pid_start = has::util::process_start_id(::getpid());
        code = protect::admit(store, protection, request, 1000 + i, k_t0).allowed() ? 0 : 1;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child %d: %s\n", i, e.what());
        code = 100;
      }
      (void)!::write(decided[1], "x", 1);
      while (::read(release[0], &byte, 1) < 0 && errno == EINTR) {
      }
      ::_exit(code);
    }
    pids.push_back(pid);
  }
  ::close(start[0]);
  ::close(decided[1]);
  ::close(release[0]);
  ::close(start[1]);
  int answers = 0;
  char byte = 0;
  while (answers < k_children) {
    const auto got = ::read(decided[0], &byte, 1);
    if (got == 1) {
      ++answers;
    } else if (got == 0 || errno != EINTR) {
      break;
    }
  }
  CHECK(answers == k_children);
  ::close(release[1]);
  ::close(decided[0]);
  int admitted = 0;
  int blocked = 0;
  for (const pid_t pid : pids) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    REQUIRE(WIFEXITED(status));
    const int code = WEXITSTATUS(status);
    CHECK((code == 0 || code == 1));
    admitted += code == 0;
    blocked += code == 1;
  }
  CHECK(admitted == 1);
  CHECK(blocked == k_children - 1);
  auto store = Store::open(file);
  CHECK(query_int(store, "SELECT count(*) FROM protect_runs") == 1);
}
