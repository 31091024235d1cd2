#include <has/state/migrations.hpp>
#include <has/state/store.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>

#include <string>

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
