#include <has/probe/kinds.hpp>
#include <has/probe/runner.hpp>
#include <has/probe/sql_driver.hpp>

#include <has/core/error.hpp>
#include <has/state/sqlite.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

using has::probe::Result;
using has::probe::Spec;
using has::probe::Status;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// Makes an SQLite file in dir holding script's tables and returns its path.
std::string make_db(const has::test::TempDir& dir, const std::string& script) {
  auto file = dir.path() / "test.db";
  has::state::Connection::open(file, has::state::OpenMode::read_write_create).exec(script);
  return file.string();
}

const char* const k_script = R"(
  create table items (id integer, price real, name text, active boolean, note text, data blob);
  insert into items values (1, 2.5, 'first', 1, null, x'6869');
  insert into items values (2, 7.25, 'second', 0, 'n', null);
  insert into items values (3, 1e999, 'third', 1, null, null);
)";

// Runs one sql probe through the runner and returns its result.
Result run_sql(json fields, std::chrono::milliseconds timeout = 5s) {
  std::vector<has::probe::Task> tasks;
  tasks.push_back(has::probe::make_task(Spec{"sql", std::move(fields), timeout}));
  Result out;
  int calls = 0;
  has::probe::run_tasks(std::move(tasks), {}, [&](std::size_t, Result result) {
    ++calls;
    out = std::move(result);
  });
  CHECK(calls == 1);
  return out;
}

Result run_sqlite(const std::string& database, const std::string& query, std::chrono::milliseconds timeout = 5s) {
  return run_sql({{"driver", "sqlite"}, {"database", database}, {"query", query}}, timeout);
}

// Returns the error make_sql throws for fields (failing the test if none).
has::core::Error make_error(json fields) {
  try {
    has::probe::make_sql(Spec{"sql", std::move(fields), 5s});
  } catch (const has::core::Error& e) {
    return e;
  }
  FAIL("make_sql accepted the fields");
  return has::core::Error(has::core::ExitCode::ok, "");
}

// A TCP socket on 127.0.0.1 that listens but never accepts: the kernel
// completes connections, and nothing ever answers on them.
class SilentServer {
public:
  SilentServer() {
    m_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(m_fd >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    REQUIRE(::bind(m_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::getsockname(m_fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    REQUIRE(::listen(m_fd, 8) == 0);
    m_port = ntohs(address.sin_port);
  }
  ~SilentServer() { ::close(m_fd); }
  SilentServer(const SilentServer&) = delete;
  SilentServer& operator=(const SilentServer&) = delete;
  int port() const { return m_port; }

private:
  int m_fd = -1;
  int m_port = 0;
};

// Returns a loopback port that nothing listens on (bound, then closed).
int closed_port() {
  int port = 0;
  {
    SilentServer server;
    port = server.port();
  }
  return port;
}

} // namespace

TEST_CASE("probe sql: sqlite columns of the first row become typed values") {
  has::test::TempDir dir;
  auto db = make_db(dir, k_script);
  auto result = run_sqlite(db, "select id, price, name, active, note, data from items order by id");
  CHECK(result.status == Status::ok);
  const auto& values = result.values;
  CHECK(values["id"] == 1);
  CHECK(values["id"].is_number_integer());
  CHECK(values["price"] == 2.5);
  CHECK(values["name"] == "first");
  CHECK(values["active"] == true); // a column declared boolean
  CHECK(values["note"].is_null());
  CHECK(values["data"] == "hi"); // a blob, shown as text
  CHECK(values["rows"] == 3);
  CHECK(values["row"] == json{{"id", 1}, {"price", 2.5}, {"name", "first"}, {"active", true}, {"note", nullptr},
                              {"data", "hi"}});
  CHECK(values["elapsed_ms"].is_number());
  CHECK(result.message.starts_with("3 rows in "));
  CHECK(result.message.find(db) != std::string::npos);
}

TEST_CASE("probe sql: sqlite aggregates / expressions and infinities") {
  has::test::TempDir dir;
  auto db = make_db(dir, k_script);
  auto result = run_sqlite(db, "select count(*) as n, sum(price) as total, max(price) as top, "
                               "1 = 1 as yes, null as absent, 'a' || 'b' as text from items");
  CHECK(result.status == Status::ok);
  CHECK(result.values["n"] == 3);
  CHECK(result.values["yes"] == 1); // no declared type: SQLite's integer stays one
  CHECK(result.values["absent"].is_null());
  CHECK(result.values["text"] == "ab");
  REQUIRE(result.values["top"].is_number_float());
  CHECK(std::isinf(result.values["top"].get<double>()));
  CHECK(result.values["rows"] == 1);
}

TEST_CASE("probe sql: no rows is ok with rows 0 and row null") {
  has::test::TempDir dir;
  auto db = make_db(dir, k_script);
  auto result = run_sqlite(db, "select id from items where id > 100");
  CHECK(result.status == Status::ok);
  CHECK(result.values["rows"] == 0);
  CHECK(result.values["row"].is_null());
  CHECK_FALSE(result.values.contains("id"));
  CHECK(result.message.starts_with("no rows in "));
}

TEST_CASE("probe sql: a column named like a probe value yields to it") {
  has::test::TempDir dir;
  auto db = make_db(dir, k_script);
  auto result = run_sqlite(db, "select 42 as rows, 'x' as other");
  CHECK(result.values["rows"] == 1);
  CHECK(result.values["row"]["rows"] == 42);
  CHECK(result.values["other"] == "x");
}

TEST_CASE("probe sql: bad SQL is critical with SQLite's error") {
  has::test::TempDir dir;
  auto db = make_db(dir, k_script);
  auto result = run_sqlite(db, "selec id from items");
  CHECK(result.status == Status::critical);
  CHECK(result.message.starts_with("query failed: "));
  CHECK(result.message.find("syntax error") != std::string::npos);
  CHECK(result.values["error"].get<std::string>().find("syntax error") != std::string::npos);
  CHECK(result.values["error_code"] == "SQL logic error");

  auto missing = run_sqlite(db, "select nope from items");
  CHECK(missing.status == Status::critical);
  CHECK(missing.message.find("no such column: nope") != std::string::npos);
}

TEST_CASE("probe sql: a missing sqlite file is critical and is not created") {
  has::test::TempDir dir;
  auto file = dir.path() / "absent.db";
  auto result = run_sqlite(file.string(), "select 1");
  CHECK(result.status == Status::critical);
  CHECK(result.message.starts_with("cannot connect: cannot open SQLite database "));
  CHECK(result.message.find("absent.db") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(file));
}

TEST_CASE("probe sql: the sqlite database is opened read-only") {
  has::test::TempDir dir;
  auto db = make_db(dir, k_script);
  auto result = run_sqlite(db, "delete from items");
  CHECK(result.status == Status::critical);
  CHECK(result.message.find("readonly database") != std::string::npos);
  CHECK(run_sqlite(db, "select count(*) as n from items").values["n"] == 3);
}

TEST_CASE("probe sql: more than one statement is refused - trailing comments are not") {
  has::test::TempDir dir;
  auto db = make_db(dir, k_script);
  auto two = run_sqlite(db, "select 1; select 2");
  CHECK(two.status == Status::critical);
  CHECK(two.message.find("more than one SQL statement") != std::string::npos);
  auto commented = run_sqlite(db, "select 1 as one; -- the check\n");
  CHECK(commented.status == Status::ok);
  CHECK(commented.values["one"] == 1);
}

TEST_CASE("probe sql: a sqlite query running past the timeout is stopped") {
  has::test::TempDir dir;
  auto db = make_db(dir, k_script);
  auto start = std::chrono::steady_clock::now();
  auto result = run_sqlite(db, "with recursive n(i) as (select 1 union all select i + 1 from n) "
                               "select count(*) from n", 200ms);
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(result.status == Status::critical);
  CHECK(result.message == "query failed: timed out after 200 ms running the query");
  CHECK(took < 5s);
}

TEST_CASE("probe sql: an unreachable postgresql server is critical without the dsn") {
  auto dsn = fmt::format("host=127.0.0.1 port={} dbname=app user=monitor password=s3cretpw", closed_port());
  auto result = run_sql({{"dsn", dsn}, {"query", "select 1"}});
  CHECK(result.status == Status::critical);
  CHECK(result.message.starts_with("cannot connect: "));
  CHECK(result.message.find("127.0.0.1") != std::string::npos);
  CHECK(result.message.find('\n') == std::string::npos);
  for (const auto& text : std::vector<std::string>{result.message, result.evidence, result.values.dump()}) {
    CHECK(text.find("s3cretpw") == std::string::npos);
  }
}

TEST_CASE("probe sql: a postgresql server that never answers times out") {
  SilentServer server;
  auto dsn = fmt::format("postgresql://monitor:s3cretpw@127.0.0.1:{}/app?sslmode=disable", server.port());
  auto start = std::chrono::steady_clock::now();
  auto result = run_sql({{"dsn", dsn}, {"query", "select 1"}, {"timeout", "300ms"}});
  CHECK(std::chrono::steady_clock::now() - start < 3s);
  CHECK(result.status == Status::critical);
  CHECK(result.message == fmt::format("cannot connect: timed out after 300 ms connecting to monitor@127.0.0.1:{}/app",
                                      server.port()));
  CHECK(result.values.dump().find("s3cretpw") == std::string::npos);
}

TEST_CASE("probe sql: wrong fields are definition errors") {
  using has::core::ExitCode;
  CHECK(make_error({{"driver", "mysql"}, {"query", "select 1"}}).code() == ExitCode::bad_definitions);
  CHECK(make_error({{"driver", "sqlite"}, {"query", "select 1"}}).code() == ExitCode::bad_definitions);
  CHECK(make_error({{"driver", "sqlite"}, {"database", "x.db"}}).code() == ExitCode::bad_definitions);
  CHECK(make_error({{"driver", "sqlite"}, {"database", "x.db"}, {"query", "  "}}).code() == ExitCode::bad_definitions);
  CHECK(make_error({{"driver", "sqlite"}, {"database", "x.db"}, {"dsn", "host=x"}, {"query", "select 1"}}).code() ==
        ExitCode::bad_definitions);
  CHECK(make_error({{"database", "x.db"}, {"query", "select 1"}}).code() == ExitCode::bad_definitions);
  CHECK(make_error({{"dsn", "host=x"}, {"query", "select 1"}, {"timeout", "0s"}}).code() == ExitCode::bad_definitions);

  // libpq's parse error quotes the dsn; the quoted part must not be shown.
  auto error = make_error({{"dsn", "host=db user=me s3cretpw"}, {"query", "select 1"}});
  CHECK(error.code() == ExitCode::bad_definitions);
  CHECK(std::string(error.what()).find("field 'dsn'") != std::string::npos);
  CHECK(error.render().find("s3cretpw") == std::string::npos);
  CHECK(error.reason() == "missing \"=\" after \"...\" in connection info string");
}

TEST_CASE("probe sql: numbers are read as databases print them") {
  using has::probe::sql::parse_number;
  CHECK(parse_number("42") == json(42));
  CHECK(parse_number("-7") == json(-7));
  CHECK(parse_number("1.5e3") == json(1500.0));
  CHECK(parse_number("12345678901234567890")->is_number_float());
  CHECK(parse_number("NaN")->is_null());
  CHECK(std::isinf(parse_number("Infinity")->get<double>()));
  CHECK(parse_number("-Infinity")->get<double>() < 0);
  CHECK(std::isinf(parse_number("+Inf")->get<double>()));
  CHECK_FALSE(parse_number("12 apples"));
  CHECK_FALSE(parse_number(""));
}
