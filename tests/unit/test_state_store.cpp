#include <has/state/migrations.hpp>
#include <has/state/runs.hpp>
#include <has/state/store.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using has::core::Error;
using has::core::ExitCode;
using has::state::Connection;
using has::state::OpenMode;
using has::state::RunRepository;
using has::state::Store;

namespace fs = std::filesystem;

namespace {

unsigned mode_of(const fs::path& path) {
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  return info.st_mode & 07777;
}

std::int64_t query_int(Connection& connection, const std::string& sql) {
  auto statement = connection.prepare(sql);
  REQUIRE(statement.step());
  return statement.column_int64(0);
}

std::string query_text(Connection& connection, const std::string& sql) {
  auto statement = connection.prepare(sql);
  REQUIRE(statement.step());
  return statement.column_text(0);
}

has::state::Run make_run(std::string command, std::string name = {}) {
  has::state::Run run;
  run.command = std::move(command);
  run.name = std::move(name);
  return run;
}

// Sets the umask for one scope.
class UmaskGuard {
public:
  explicit UmaskGuard(mode_t mask) : m_old(::umask(mask)) {}
  ~UmaskGuard() { ::umask(m_old); }
  UmaskGuard(const UmaskGuard&) = delete;
  UmaskGuard& operator=(const UmaskGuard&) = delete;

private:
  mode_t m_old;
};

// Forks `count` children that wait at a gate and then all run body(i) at the
// same moment; returns each child's exit status (128 + signal if killed).
// A child never touches the parent's connections and leaves through _exit, so
// no destructor of the parent's objects runs twice.
std::vector<int> run_children(int count, const std::function<int(int)>& body) {
  int gate[2];
  REQUIRE(::pipe(gate) == 0);
  std::vector<pid_t> pids;
  for (int i = 0; i < count; ++i) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(gate[1]);
      char byte = 0;
      while (::read(gate[0], &byte, 1) < 0 && errno == EINTR) {
      }
      int code = 0;
      try {
        code = body(i);
      } catch (const Error& e) {
        std::fprintf(stderr, "child %d: %s\n", i, e.render().c_str());
        code = 100;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child %d: %s\n", i, e.what());
        code = 101;
      }
      ::_exit(code);
    }
    if (pid < 0) {
      break;
    }
    pids.push_back(pid);
  }
  // Closing the write end wakes every child at once.
  ::close(gate[0]);
  ::close(gate[1]);
  std::vector<int> statuses;
  for (const pid_t pid : pids) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    statuses.push_back(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  }
  REQUIRE(static_cast<int>(pids.size()) == count);
  return statuses;
}

} // namespace

TEST_CASE("state: open creates parent directories 0700 and the file 0600") {
  has::test::TempDir dir;
  const auto file = dir.path() / "a" / "b" / "state.db";
  // A umask that would leave the owner without write access is overridden.
  UmaskGuard umask(0277);
  auto store = Store::open(file);
  CHECK(store.path() == file);
  CHECK(mode_of(dir.path() / "a") == 0700);
  CHECK(mode_of(dir.path() / "a" / "b") == 0700);
  CHECK(mode_of(file) == 0600);
  // SQLite gives the WAL and shared-memory files the database's mode.
  RunRepository(store).start(make_run("inspect"));
  CHECK(mode_of(fs::path(file.string() + "-wal")) == 0600);
  CHECK(mode_of(fs::path(file.string() + "-shm")) == 0600);
}

TEST_CASE("state: open keeps the mode of an existing file") {
  has::test::TempDir dir;
  const auto file = dir.write("state.db", "");
  REQUIRE(::chmod(file.c_str(), 0640) == 0);
  auto store = Store::open(file);
  CHECK(mode_of(file) == 0640);
  CHECK(store.schema_version() == has::state::latest_schema_version());
}

TEST_CASE("state: open turns on WAL / busy timeout / foreign keys and synchronous NORMAL") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  auto& connection = store.connection();
  CHECK(query_text(connection, "PRAGMA journal_mode") == "wal");
  CHECK(query_int(connection, "PRAGMA foreign_keys") == 1);
  CHECK(query_int(connection, "PRAGMA synchronous") == 1);
  CHECK(query_int(connection, "PRAGMA busy_timeout") == 10000);
  // WAL is recorded in the file, so every other connection sees it too.
  auto other = Connection::open(dir.path() / "state.db", OpenMode::read_only);
  CHECK(query_text(other, "PRAGMA journal_mode") == "wal");
}

TEST_CASE("state: a new file has pages of 16 KiB and an existing file keeps its own") {
  has::test::TempDir dir;
  {
    auto store = Store::open(dir.path() / "new.db");
    CHECK(query_int(store.connection(), "PRAGMA page_size") == 16384);
  }
  {
    // A state file made by an older has, with SQLite's default pages.
    Store::open(dir.path() / "old.db").connection().exec("CREATE TABLE kept (x); INSERT INTO kept VALUES (1)");
    auto old = Connection::open(dir.path() / "old.db", OpenMode::read_write);
    old.exec("PRAGMA journal_mode = DELETE; PRAGMA page_size = 4096; VACUUM; PRAGMA journal_mode = WAL");
    CHECK(query_int(old, "PRAGMA page_size") == 4096);
  }
  auto store = Store::open(dir.path() / "old.db");
  CHECK(query_int(store.connection(), "PRAGMA page_size") == 4096);
  CHECK(query_int(store.connection(), "SELECT x FROM kept") == 1);
}

TEST_CASE("state: migrations are applied once and reopening is idempotent") {
  has::test::TempDir dir;
  const auto file = dir.path() / "state.db";
  std::int64_t id = 0;
  {
    auto store = Store::open(file);
    CHECK(store.schema_version() == has::state::latest_schema_version());
    CHECK(query_text(store.connection(),
                     "SELECT value FROM meta WHERE key = 'created_by_version'") == HAS_VERSION);
    id = RunRepository(store).start(make_run("inspect"));
  }
  for (int i = 0; i < 2; ++i) {
    auto store = Store::open(file);
    CHECK(store.schema_version() == has::state::latest_schema_version());
    CHECK(query_int(store.connection(), "SELECT count(*) FROM meta") == 1);
    // The data of the first open is still there: nothing was created twice.
    CHECK(RunRepository(store).get(id).has_value());
  }
}

TEST_CASE("state: a schema newer than this has knows is refused") {
  has::test::TempDir dir;
  const auto file = dir.path() / "state.db";
  const int newer = has::state::latest_schema_version() + 1;
  {
    auto store = Store::open(file);
    store.connection().exec(fmt::format("PRAGMA user_version = {}", newer));
  }
  try {
    Store::open(file);
    FAIL("a newer schema was accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::io);
    CHECK(std::string(e.what()) ==
          fmt::format("state file {} has schema version {}, newer than this has knows ({})",
                      file.string(), newer, has::state::latest_schema_version()));
    CHECK(e.help() == "upgrade has, or use another --state file");
  }
  // Refusing changed nothing.
  auto raw = Connection::open(file, OpenMode::read_only);
  CHECK(query_int(raw, "PRAGMA user_version") == newer);
}

TEST_CASE("state: a file that is not a database is refused") {
  has::test::TempDir dir;
  const auto file = dir.write("state.db", std::string(4096, 'x'));
  try {
    Store::open(file);
    FAIL("a text file was accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::io);
    CHECK(std::string(e.what()) == "cannot open state file " + file.string());
    CHECK(e.reason() == "file is not a database");
    CHECK(e.help().find("--state FILE") != std::string::npos);
  }
}

TEST_CASE("state: another program's SQLite database is refused") {
  has::test::TempDir dir;
  const auto file = dir.path() / "other.db";
  Connection::open(file, OpenMode::read_write_create).exec("CREATE TABLE notes (text)");
  try {
    Store::open(file);
    FAIL("a foreign database was migrated");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::io);
    CHECK(std::string(e.what()) ==
          "state file " + file.string() + " is a SQLite database of another program");
  }
  auto raw = Connection::open(file, OpenMode::read_only);
  CHECK(query_int(raw, "SELECT count(*) FROM sqlite_schema WHERE name = 'runs'") == 0);
}

TEST_CASE("state: an unwritable location gives a clear io error") {
  has::test::TempDir dir;
  const auto blocker = dir.write("blocker", "a regular file");

  SUBCASE("parent is a regular file") {
    const auto file = blocker / "state.db";
    try {
      Store::open(file);
      FAIL("opened below a regular file");
    } catch (const Error& e) {
      CHECK(e.code() == ExitCode::io);
      CHECK(std::string(e.what()) == fmt::format("cannot create directory {} for state file {}",
                                                 blocker.string(), file.string()));
      CHECK(e.reason() == "Not a directory");
      CHECK(e.help() == "pass --state FILE or set HAS_STATE to a writable location");
    }
  }
  SUBCASE("an ancestor is a regular file") {
    const auto file = blocker / "sub" / "state.db";
    try {
      Store::open(file);
      FAIL("opened below a regular file");
    } catch (const Error& e) {
      CHECK(e.code() == ExitCode::io);
      CHECK(e.reason() == "Not a directory");
    }
  }
  SUBCASE("the state path is a directory") {
    const auto file = dir.path() / "adir";
    fs::create_directory(file);
    try {
      Store::open(file);
      FAIL("opened a directory");
    } catch (const Error& e) {
      CHECK(e.code() == ExitCode::io);
      CHECK(std::string(e.what()) == "cannot open state file " + file.string());
      CHECK(e.reason() == "Is a directory");
    }
  }
  SUBCASE("a read-only directory, where permission bits apply") {
    // Root bypasses permission bits; the cases above cover root.
    if (::geteuid() != 0) {
      const auto locked = dir.path() / "locked";
      fs::create_directory(locked);
      REQUIRE(::chmod(locked.c_str(), 0500) == 0);
      try {
        Store::open(locked / "state.db");
        FAIL("opened in a read-only directory");
      } catch (const Error& e) {
        CHECK(e.code() == ExitCode::io);
        CHECK(e.reason() == "Permission denied");
      }
      ::chmod(locked.c_str(), 0700);
    }
  }
}

TEST_CASE("state: transaction commits and returns the function's value") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  auto& connection = store.connection();
  const auto id = store.transaction([&] {
    connection.exec("INSERT INTO meta (key, value) VALUES ('k', 'v')");
    return connection.last_insert_rowid();
  });
  CHECK(id > 0);
  CHECK(connection.in_autocommit());
  // Visible to another connection, so it was committed.
  auto other = Connection::open(dir.path() / "state.db", OpenMode::read_only);
  CHECK(query_text(other, "SELECT value FROM meta WHERE key = 'k'") == "v");
}

TEST_CASE("state: transaction rolls back when the function throws") {
  has::test::TempDir dir;
  auto store = Store::open(dir.path() / "state.db");
  auto& connection = store.connection();
  CHECK_THROWS_WITH_AS(store.transaction([&] {
    connection.exec("INSERT INTO meta (key, value) VALUES ('k', 'v')");
    throw std::runtime_error("boom");
  }),
                       "boom", std::runtime_error);
  CHECK(connection.in_autocommit());
  CHECK(query_int(connection, "SELECT count(*) FROM meta WHERE key = 'k'") == 0);

  SUBCASE("a failing statement rolls back the earlier ones") {
    CHECK_THROWS_AS(store.transaction([&] {
      connection.exec("INSERT INTO meta (key, value) VALUES ('k', 'v')");
      connection.exec("INSERT INTO meta (key, value) VALUES ('k', 'duplicate')");
    }),
                    has::state::SqliteError);
    CHECK(query_int(connection, "SELECT count(*) FROM meta WHERE key = 'k'") == 0);
  }
  SUBCASE("the store stays usable") {
    store.transaction([&] { connection.exec("INSERT INTO meta (key, value) VALUES ('k', 'v')"); });
    CHECK(query_int(connection, "SELECT count(*) FROM meta WHERE key = 'k'") == 1);
  }
  SUBCASE("transactions do not nest") {
    CHECK_THROWS_AS(store.transaction([&] { store.transaction([] {}); }), Error);
    CHECK(connection.in_autocommit());
  }
}

TEST_CASE("state: transaction waits for another writer to finish") {
  has::test::TempDir dir;
  const auto file = dir.path() / "state.db";
  auto store = Store::open(file);
  auto writer = Connection::open(file, OpenMode::read_write);
  writer.exec("BEGIN IMMEDIATE; INSERT INTO meta (key, value) VALUES ('writer', '1');");
  std::thread finisher([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    writer.exec("COMMIT");
  });
  // Without the busy timeout this would fail at once with "database is locked".
  CHECK_NOTHROW(store.transaction(
    [&] { store.connection().exec("INSERT INTO meta (key, value) VALUES ('store', '1')"); }));
  finisher.join();
  CHECK(query_int(store.connection(), "SELECT count(*) FROM meta WHERE key IN ('writer', "
                                      "'store')") == 2);
}

TEST_CASE("state: 8 processes writing 200 runs each lose nothing") {
  has::test::TempDir dir;
  const auto file = dir.path() / "state.db";
  constexpr int k_children = 8;
  constexpr int k_runs = 200;
  // Create the file first; the parent's connection is closed before fork().
  { Store::open(file); }
  const auto statuses = run_children(k_children, [&](int child) {
    auto store = Store::open(file);
    RunRepository runs(store);
    for (int i = 0; i < k_runs; ++i) {
      has::state::Run run;
      run.command = "inspect";
      run.name = fmt::format("child-{}-{}", child, i);
      run.pid = ::getpid();
      runs.start(run);
    }
    return 0;
  });
  for (int i = 0; i < k_children; ++i) {
    CAPTURE(i);
    CHECK(statuses[i] == 0);
  }
  auto store = Store::open(file);
  auto& connection = store.connection();
  CHECK(query_int(connection, "SELECT count(*) FROM runs") == k_children * k_runs);
  CHECK(query_int(connection, "SELECT count(DISTINCT name) FROM runs") == k_children * k_runs);
  CHECK(query_int(connection, "SELECT count(DISTINCT pid) FROM runs") == k_children);
  CHECK(query_int(connection, "SELECT max(n) FROM (SELECT count(*) AS n FROM runs GROUP BY pid)") ==
        k_runs);
  CHECK(query_text(connection, "PRAGMA integrity_check") == "ok");
}

TEST_CASE("state: 8 processes racing to create and migrate a new file all succeed") {
  has::test::TempDir dir;
  constexpr int k_children = 8;
  // Several rounds, each on a brand-new file, to give the race a chance.
  for (int round = 0; round < 5; ++round) {
    CAPTURE(round);
    const auto file = dir.path() / fmt::format("round-{}", round) / "deep" / "state.db";
    const auto statuses = run_children(k_children, [&](int child) {
      auto store = Store::open(file);
      if (store.schema_version() != has::state::latest_schema_version()) {
        return 2;
      }
      RunRepository(store).start(make_run("race", fmt::format("child-{}", child)));
      return 0;
    });
    for (int i = 0; i < k_children; ++i) {
      CAPTURE(i);
      CHECK(statuses[i] == 0);
    }
    CHECK(mode_of(file) == 0600);
    auto store = Store::open(file);
    auto& connection = store.connection();
    CHECK(store.schema_version() == has::state::latest_schema_version());
    // Applied once: one version row, one set of tables, and every run kept.
    CHECK(query_int(connection, "SELECT count(*) FROM meta") == 1);
    CHECK(query_int(connection, "SELECT count(*) FROM sqlite_schema WHERE name = 'runs'") == 1);
    CHECK(query_int(connection, "SELECT count(*) FROM runs") == k_children);
    CHECK(query_text(connection, "PRAGMA journal_mode") == "wal");
  }
}
