#include <has/state/clock.hpp>
#include <has/state/diagnose.hpp>
#include <has/state/inspect.hpp>
#include <has/state/migrations.hpp>
#include <has/state/plan.hpp>
#include <has/state/sqlite.hpp>
#include <has/state/store.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>

#include <fmt/format.h>

#include <string>
#include <vector>

using has::state::latest_schema_version;
using has::state::migrations;

TEST_CASE("state: migrations are numbered 1..N without gaps") {
  const auto table = migrations();
  REQUIRE_FALSE(table.empty());
  int expected = 1;
  for (const auto& migration : table) {
    CHECK(migration.version == expected);
    CHECK_FALSE(migration.description.empty());
    CHECK_FALSE(migration.sql.empty());
    // migrate() owns the version; a step setting it would skip the others.
    CHECK(std::string(migration.sql).find("user_version") == std::string::npos);
    ++expected;
  }
  CHECK(latest_schema_version() == table.back().version);
}

TEST_CASE("state: migrate on a current store changes nothing") {
  has::test::TempDir dir;
  auto store = has::state::Store::open(dir.path() / "state.db");
  REQUIRE(store.schema_version() == latest_schema_version());
  auto count_objects = [&] {
    auto count = store.connection().prepare("SELECT count(*) FROM sqlite_schema");
    count.step();
    return count.column_int64(0);
  };
  const auto objects = count_objects();
  has::state::migrate(store);
  CHECK(store.schema_version() == latest_schema_version());
  CHECK(count_objects() == objects);
}

TEST_CASE("state: migration 1 creates runs with its index and meta") {
  has::test::TempDir dir;
  auto store = has::state::Store::open(dir.path() / "state.db");
  auto names = store.connection().prepare(
    "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_schema "
    "WHERE name NOT LIKE 'sqlite_%' AND (name LIKE 'runs%' OR name = 'meta') ORDER BY name)");
  REQUIRE(names.step());
  CHECK(names.column_text(0) == "meta,runs,runs_command_started_at");
  auto columns = store.connection().prepare(
    "SELECT group_concat(name, ',') FROM pragma_table_info('runs')");
  REQUIRE(columns.step());
  CHECK(columns.column_text(0) == "id,command,name,started_at,finished_at,status,exit_code,host,"
                                  "user,pid,workspace,git_commit,git_dirty,summary");
  auto index = store.connection().prepare(
    "SELECT group_concat(name, ',') FROM pragma_index_info('runs_command_started_at')");
  REQUIRE(index.step());
  CHECK(index.column_text(0) == "command,started_at");
}

TEST_CASE("state: migration 2 creates the inspection and event tables") {
  has::test::TempDir dir;
  auto store = has::state::Store::open(dir.path() / "state.db");
  auto names = store.connection().prepare(
    "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_schema "
    "WHERE name LIKE 'inspect%' OR name LIKE 'events%' ORDER BY name)");
  REQUIRE(names.step());
  CHECK(names.column_text(0) == "events,events_open_fingerprint,events_status,inspect_results,"
                                "inspect_results_rule_at,inspect_results_run,inspect_state");
  // Only one open event per fingerprint.
  auto& db = store.connection();
  db.exec("INSERT INTO events (fingerprint, source, title, severity, status, first_seen, last_seen) "
          "VALUES ('f', 'inspect', 't', 'critical', 'open', 'a', 'a')");
  CHECK_THROWS(db.exec("INSERT INTO events (fingerprint, source, title, severity, status, first_seen, "
                       "last_seen) VALUES ('f', 'inspect', 't', 'critical', 'open', 'b', 'b')"));
  db.exec("UPDATE events SET status = 'resolved'");
  db.exec("INSERT INTO events (fingerprint, source, title, severity, status, first_seen, last_seen) "
          "VALUES ('f', 'inspect', 't', 'critical', 'open', 'c', 'c')");
}

TEST_CASE("state: migration 5 creates the protection counters") {
  has::test::TempDir dir;
  auto store = has::state::Store::open(dir.path() / "state.db");
  CHECK(store.schema_version() >= 5);
  auto columns = [&](const char* table) {
    auto select = store.connection().prepare(
      std::string("SELECT group_concat(name, ',') FROM pragma_table_info('") + table + "')");
    REQUIRE(select.step());
    return select.column_text(0);
  };
  CHECK(columns("protect_runs") ==
        "scope,run_id,host,pid,pid_start,automatic,targets,started_ms,finished_ms,outcome");
  CHECK(columns("protect_scopes") == "scope,last_start_ms,last_finish_ms,last_succeeded,consecutive_failures,"
                                     "rate_window_ms,breaker_failures");
  CHECK(columns("protect_pauses") == "scope,reason,by_user,at_ms");
  CHECK_THROWS(store.connection().exec("INSERT INTO protect_runs (scope, run_id, host, pid, automatic, started_ms, "
                                       "outcome) VALUES ('s', 1, 'h', 1, 0, 0, 'vanished')"));
}

namespace {

// Builds a state file at schema version 6, as a has without timelines left it.
void make_version_6(const std::filesystem::path& file) {
  auto db = has::state::Connection::open(file, has::state::OpenMode::read_write_create);
  db.exec("PRAGMA foreign_keys = ON");
  for (const auto& migration : migrations()) {
    if (migration.version <= 6) {
      db.exec(migration.sql);
    }
  }
  db.exec("PRAGMA user_version = 6");
  db.exec(R"sql(
    INSERT INTO runs (id, command, started_at, finished_at, status, user) VALUES
      (1, 'inspect', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:01.000Z', 'critical', 'ann'),
      (2, 'diagnose', '2026-01-01T00:01:00.000Z', '2026-01-01T00:01:02.000Z', 'critical', 'bob'),
      (3, 'plan', '2026-01-01T00:02:00.000Z', '2026-01-01T00:02:05.000Z', 'ok', 'bob'),
      (4, 'plan', '2026-01-01T00:02:01.000Z', '2026-01-01T00:02:04.000Z', 'ok', 'bob');
    INSERT INTO events (id, fingerprint, source, title, severity, status, count, first_seen, last_seen, resolved_at)
      VALUES (1, 'f', 'inspect', 'web down', 'critical', 'resolved', 3, '2026-01-01T00:00:01.000Z',
              '2026-01-01T00:03:00.000Z', '2026-01-01T00:03:00.000Z'),
             (2, 'g', 'inspect', 'db slow', 'warning', 'open', 1, '2026-01-01T00:04:00.000Z',
              '2026-01-01T00:04:00.000Z', NULL);
    INSERT INTO diagnose_runs (run_id, tree, event_id, outcome, node, severity, cause, conclusion, path)
      VALUES (2, 'web', 1, 'diagnosis', 'down', 'critical', 'nginx is down', '{"cause": "nginx is down"}', '[]');
    INSERT INTO plan_runs (run_id, plan, state, event_id) VALUES (3, 'restart', 'succeeded', 1);
    INSERT INTO plan_runs (run_id, plan, state, event_id, parent_run) VALUES (4, 'child', 'succeeded', 1, 3);
  )sql");
}

std::vector<std::string> timeline_lines(has::state::Store& store, std::int64_t event) {
  std::vector<std::string> lines;
  for (const auto& entry : has::state::EventRepository(store).timeline(event)) {
    lines.push_back(entry.at + " " + entry.kind + " " + (entry.run_id ? std::to_string(*entry.run_id) : "-") + " " +
                    entry.user.value_or("-") + " " + entry.text);
  }
  return lines;
}

} // namespace

TEST_CASE("state: migration 7 writes the timelines of the events a version 6 file holds") {
  has::test::TempDir dir;
  make_version_6(dir.path() / "state.db");
  auto store = has::state::Store::open(dir.path() / "state.db");
  REQUIRE(store.schema_version() == latest_schema_version());
  CHECK(timeline_lines(store, 1) == std::vector<std::string>{
                                      "2026-01-01T00:00:01.000Z opened - - opened: web down (critical)",
                                      "2026-01-01T00:01:02.000Z diagnosis 2 bob tree web: nginx is down (critical)",
                                      "2026-01-01T00:02:00.000Z plan 3 bob plan restart started",
                                      "2026-01-01T00:02:05.000Z plan 3 bob plan restart succeeded",
                                      "2026-01-01T00:03:00.000Z resolved - - resolved (seen 3 times)"});
  CHECK(timeline_lines(store, 2) ==
        std::vector<std::string>{"2026-01-01T00:04:00.000Z opened - - opened: db slow (warning)"});
}

TEST_CASE("state: migration 8 keeps the plan runs and takes refused runs and unknown steps") {
  has::test::TempDir dir;
  make_version_6(dir.path() / "state.db");
  auto store = has::state::Store::open(dir.path() / "state.db");
  REQUIRE(store.schema_version() == latest_schema_version());
  has::state::PlanRepository journal(store);
  REQUIRE(journal.get(3));
  CHECK(journal.get(3)->plan == "restart");
  CHECK(journal.get(4)->parent_run == std::optional<std::int64_t>(3));
  auto step = has::state::StepRecord{};
  step.run_id = 3;
  step.step = "restart";
  step.kind = "exec";
  journal.step_started(step);
  journal.step_state(3, "restart", "do", "unknown", std::string("cut short"));
  CHECK(journal.steps(3).front().state == "unknown");
  // The timeline's trigger came back with the table: a refused run is a line.
  journal.set_state(3, "refused", std::string("lock held"));
  CHECK(timeline_lines(store, 1).back().ends_with("plan restart refused: lock held"));
}

TEST_CASE("state: the timeline follows events and the diagnoses and plans run for them") {
  has::test::TempDir dir;
  auto store = has::state::Store::open(dir.path() / "state.db");
  auto& db = store.connection();
  has::state::EventRepository events(store);
  db.exec("INSERT INTO runs (id, command, started_at, status, user) VALUES (1, 'inspect', 'a', 'ok', 'ann'), "
          "(2, 'inspect', 'b', 'ok', 'ann'), (3, 'plan', 'c', 'running', 'bob'), (4, 'plan', 'd', 'running', 'bob'), "
          "(5, 'diagnose', 'e', 'running', 'bob')");
  has::state::Event event;
  event.fingerprint = "inspect:web:a";
  event.source = "inspect";
  event.title = "web failing on a";
  event.severity = "warning";
  // The lines run for plans and walks are stamped now, so the event's are too.
  event.first_seen = event.last_seen = has::state::now_iso8601();
  event.run_id = 1;
  auto [id, opened] = events.raise(event);
  CHECK(opened);
  event.last_seen = has::state::now_iso8601();
  event.run_id = 2;
  events.raise(event); // the same severity: no line
  event.severity = "critical";
  event.last_seen = has::state::now_iso8601();
  events.raise(event);

  // A plan for the event, one it calls, and one for an event that is not there.
  db.exec(fmt::format("INSERT INTO plan_runs (run_id, plan, state, event_id) VALUES (3, 'restart', 'running', {})", id));
  db.exec(fmt::format(
    "INSERT INTO plan_runs (run_id, plan, state, event_id, parent_run) VALUES (4, 'child', 'running', {}, 3)", id));
  db.exec("UPDATE plan_runs SET state = 'succeeded' WHERE run_id = 4");
  db.exec("UPDATE plan_runs SET state = 'waiting' WHERE run_id = 3");
  db.exec("UPDATE plan_runs SET state = 'running' WHERE run_id = 3");
  db.exec("UPDATE plan_runs SET state = 'interrupted', reason = 'interrupted by a signal' WHERE run_id = 3");
  db.exec("UPDATE plan_runs SET state = 'rolling_back', reason = NULL WHERE run_id = 3");
  db.exec("UPDATE plan_runs SET state = 'rolled_back' WHERE run_id = 3");
  db.exec("INSERT INTO plan_runs (run_id, plan, state, event_id) VALUES (5, 'other', 'running', 999)");

  has::state::DiagnoseRun walk;
  walk.run_id = 5;
  walk.tree = "web";
  walk.event_id = id;
  walk.outcome = "inconclusive";
  walk.node = "health";
  walk.severity = "unknown";
  has::state::DiagnoseRepository(store).record(walk);

  CHECK(events.resolve(event.fingerprint, has::state::now_iso8601(), 2) == id);
  CHECK_FALSE(events.resolve(event.fingerprint, has::state::now_iso8601(), 2)); // nothing open: no line

  std::vector<std::string> texts;
  for (const auto& entry : events.timeline(id)) {
    texts.push_back(entry.kind + " " + (entry.run_id ? std::to_string(*entry.run_id) : "-") + " " + entry.text);
  }
  CHECK(texts == std::vector<std::string>{
                   "opened 1 opened: web failing on a (warning)",
                   "severity 2 severity warning -> critical (seen 3 times)",
                   "plan 3 plan restart started",
                   "plan 3 plan restart interrupted: interrupted by a signal",
                   "plan 3 plan restart rolling back",
                   "plan 3 plan restart rolled back",
                   "diagnosis 5 tree web: inconclusive at node health",
                   "resolved 2 resolved (seen 3 times)",
                 });
  auto count = db.prepare("SELECT count(*) FROM event_timeline WHERE event_id NOT IN (SELECT id FROM events)");
  REQUIRE(count.step());
  CHECK(count.column_int64(0) == 0);
}

TEST_CASE("state: an event is claimed for handling once / released / noted") {
  has::test::TempDir dir;
  auto store = has::state::Store::open(dir.path() / "state.db");
  has::state::EventRepository events(store);
  has::state::Event event;
  event.fingerprint = "f";
  event.source = "json";
  event.title = "t";
  event.severity = "warning";
  event.first_seen = event.last_seen = has::state::now_iso8601();
  auto id = events.raise(event).first;
  CHECK(events.unhandled() == std::vector<std::int64_t>{id});
  CHECK(events.claim(id, has::state::now_iso8601()));
  CHECK_FALSE(events.claim(id, has::state::now_iso8601()));
  CHECK(events.unhandled().empty());
  events.release(id);
  CHECK(events.unhandled() == std::vector<std::int64_t>{id});
  // Handled as a warning, it is to be handled again once it is critical.
  CHECK(events.claim(id, has::state::now_iso8601()));
  event.severity = "critical";
  events.raise(event);
  CHECK(events.unhandled() == std::vector<std::int64_t>{id});
  has::state::TimelineEntry entry;
  entry.event_id = id;
  entry.at = has::state::now_iso8601();
  entry.kind = "heal";
  entry.source = "handle";
  entry.text = "self-healing dry run";
  entry.user = "ann";
  events.note(entry);
  auto lines = events.timeline(id);
  REQUIRE(lines.size() == 3); // opened, severity, heal
  CHECK(lines[1].kind == "severity");
  CHECK(lines[2].kind == "heal");
  CHECK(lines[2].user == "ann");
  entry.kind = "nonsense";
  CHECK_THROWS(events.note(entry)); // the kinds are checked by the table
  CHECK(events.open_id("f") == id);
  CHECK(events.close(id, "ann", has::state::now_iso8601()));
  CHECK_FALSE(events.open_id("f"));
  CHECK_FALSE(events.acknowledge(id, "bob", has::state::now_iso8601())); // not open any more
}
