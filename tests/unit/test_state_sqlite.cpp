#include <has/state/sqlite.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>
#include <sqlite3.h>

#include <optional>
#include <string>

using has::core::ExitCode;
using has::state::Connection;
using has::state::OpenMode;
using has::state::SqliteError;

namespace {

Connection open_db(const has::test::TempDir& dir) {
  return Connection::open(dir.path() / "test.db", OpenMode::read_write_create);
}

} // namespace

TEST_CASE("state: sqlite binds by index and reads typed columns") {
  has::test::TempDir dir;
  auto db = open_db(dir);
  auto select = db.prepare("SELECT ?1, ?2, ?3, ?4, typeof(?1), typeof(?2), typeof(?3), typeof(?4)");
  select.bind(1, std::int64_t{9'000'000'000}).bind(2, 2.5).bind(3, "text").bind(4, std::nullopt);
  REQUIRE(select.step());
  CHECK(select.column_count() == 8);
  CHECK(select.column_int64(0) == 9'000'000'000);
  CHECK(select.column_double(1) == 2.5);
  CHECK(select.column_text(2) == "text");
  CHECK(select.column_is_null(3));
  CHECK_FALSE(select.column_is_null(2));
  CHECK(select.column_text(4) == "integer");
  CHECK(select.column_text(5) == "real");
  CHECK(select.column_text(6) == "text");
  CHECK(select.column_text(7) == "null");
  CHECK_FALSE(select.step());
}

TEST_CASE("state: sqlite binds by name / optionals and small integers") {
  has::test::TempDir dir;
  auto db = open_db(dir);
  auto select = db.prepare("SELECT :a, @b, $c, :d, :e, typeof(:e)");
  select.bind(":a", 7)
    .bind("@b", std::optional<std::string>{"x"})
    .bind("$c", std::optional<std::int64_t>{})
    .bind(":d", true)
    .bind(":e", std::string{});
  REQUIRE(select.step());
  CHECK(select.column_int64(0) == 7);
  CHECK(select.column_optional_text(1) == std::optional<std::string>{"x"});
  CHECK(select.column_optional_int64(2) == std::nullopt);
  CHECK(select.column_optional_text(2) == std::nullopt);
  CHECK(select.column_int64(3) == 1);
  // An empty string is text, not NULL.
  CHECK_FALSE(select.column_is_null(4));
  CHECK(select.column_text(5) == "text");
}

TEST_CASE("state: sqlite text keeps embedded NUL bytes") {
  has::test::TempDir dir;
  auto db = open_db(dir);
  auto select = db.prepare("SELECT ?");
  const std::string value("a\0b", 3);
  select.bind(1, value);
  REQUIRE(select.step());
  CHECK(select.column_text(0) == value);
}

TEST_CASE("state: sqlite reset runs a statement again with new bindings") {
  has::test::TempDir dir;
  auto db = open_db(dir);
  db.exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT); CREATE INDEX t_v ON t (v);");
  auto insert = db.prepare("INSERT INTO t (v) VALUES (?)");
  for (const char* value : {"one", "two", "three"}) {
    insert.reset();
    insert.bind(1, value);
    CHECK_FALSE(insert.step());
    CHECK(db.changes() == 1);
  }
  CHECK(db.last_insert_rowid() == 3);
  auto count = db.prepare("SELECT count(*), group_concat(v, ',') FROM t");
  REQUIRE(count.step());
  CHECK(count.column_int64(0) == 3);
  CHECK(count.column_text(1) == "one,two,three");
}

TEST_CASE("state: sqlite prepare errors carry SQLite's message") {
  has::test::TempDir dir;
  auto db = open_db(dir);
  try {
    db.prepare("SELEKT 1");
    FAIL("prepare accepted a syntax error");
  } catch (const SqliteError& e) {
    CHECK(e.code() == ExitCode::io);
    CHECK(e.sqlite_code() == SQLITE_ERROR);
    CHECK(e.reason() == "near \"SELEKT\": syntax error");
    CHECK(std::string(e.what()).find("SELEKT 1") != std::string::npos);
  }
  CHECK_THROWS_AS(db.prepare("SELECT * FROM nope"), SqliteError);
  CHECK_THROWS_AS(db.prepare("   "), SqliteError);
  CHECK_THROWS_AS(db.prepare("SELECT 1; SELECT 2"), SqliteError);
  // Whatever follows the one statement may be blanks or comments.
  CHECK_NOTHROW(db.prepare("SELECT 1; -- trailing comment\n"));
}

TEST_CASE("state: sqlite rejects unknown parameters and columns") {
  has::test::TempDir dir;
  auto db = open_db(dir);
  auto select = db.prepare("SELECT :a");
  CHECK_THROWS_AS(select.bind(":b", 1), SqliteError);
  CHECK_THROWS_AS(select.bind(2, 1), SqliteError);
  CHECK_THROWS_AS(select.bind(0, "x"), SqliteError);
  select.bind(":a", 1);
  REQUIRE(select.step());
  CHECK_THROWS_AS(select.column_int64(1), SqliteError);
  CHECK_THROWS_AS(select.column_text(-1), SqliteError);
}

TEST_CASE("state: sqlite step reports constraint violations") {
  has::test::TempDir dir;
  auto db = open_db(dir);
  db.exec("CREATE TABLE t (k TEXT UNIQUE)");
  db.exec("INSERT INTO t VALUES ('a')");
  auto insert = db.prepare("INSERT INTO t VALUES ('a')");
  try {
    insert.step();
    FAIL("duplicate accepted");
  } catch (const SqliteError& e) {
    CHECK(e.code() == ExitCode::io);
    CHECK(e.sqlite_code() == SQLITE_CONSTRAINT_UNIQUE);
    CHECK(e.reason() == "UNIQUE constraint failed: t.k");
    CHECK_FALSE(e.is_busy());
  }
}

TEST_CASE("state: sqlite exec runs scripts and reports the failing statement") {
  has::test::TempDir dir;
  auto db = open_db(dir);
  db.exec("CREATE TABLE a (x); INSERT INTO a VALUES (1); INSERT INTO a VALUES (2);");
  auto count = db.prepare("SELECT count(*) FROM a");
  REQUIRE(count.step());
  CHECK(count.column_int64(0) == 2);
  try {
    db.exec("INSERT INTO a VALUES (3); INSERT INTO nope VALUES (1);");
    FAIL("exec accepted a missing table");
  } catch (const SqliteError& e) {
    CHECK(e.reason() == "no such table: nope");
    CHECK(e.code() == ExitCode::io);
  }
}

TEST_CASE("state: sqlite open of a missing file without create fails with io") {
  has::test::TempDir dir;
  try {
    Connection::open(dir.path() / "missing.db", OpenMode::read_write);
    FAIL("opened a missing file");
  } catch (const SqliteError& e) {
    CHECK(e.code() == ExitCode::io);
    CHECK(e.sqlite_code() == SQLITE_CANTOPEN);
    CHECK(e.reason() == "unable to open database file");
    CHECK(std::string(e.what()).find("missing.db") != std::string::npos);
    CHECK_FALSE(e.help().empty());
  }
}

TEST_CASE("state: sqlite reports a busy database with a help line") {
  has::test::TempDir dir;
  auto first = open_db(dir);
  first.exec("PRAGMA journal_mode = WAL; CREATE TABLE t (x)");
  auto second = Connection::open(dir.path() / "test.db", OpenMode::read_write);
  second.set_busy_timeout(std::chrono::milliseconds{0});
  first.exec("BEGIN IMMEDIATE");
  CHECK_FALSE(first.in_autocommit());
  try {
    second.exec("BEGIN IMMEDIATE");
    FAIL("two writers at once");
  } catch (const SqliteError& e) {
    CHECK(e.is_busy());
    CHECK(e.reason() == "database is locked");
    CHECK(e.help().find("another has process") != std::string::npos);
  }
  first.exec("COMMIT");
  CHECK(first.in_autocommit());
  CHECK_NOTHROW(second.exec("BEGIN IMMEDIATE; COMMIT;"));
}

TEST_CASE("state: sqlite handles move") {
  has::test::TempDir dir;
  auto db = open_db(dir);
  Connection moved = std::move(db);
  auto statement = moved.prepare("SELECT 42");
  auto other = std::move(statement);
  REQUIRE(other.step());
  CHECK(other.column_int64(0) == 42);
  statement = moved.prepare("SELECT 43");
  REQUIRE(statement.step());
  CHECK(statement.column_int64(0) == 43);
}
