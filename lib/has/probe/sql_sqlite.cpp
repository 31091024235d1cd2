// The sqlite driver of the sql probe: the file is opened read-only (a
// missing file is an error, never a new empty database), a busy database
// waits at most the timeout, and a progress handler interrupts a statement
// that runs past it.

#include <has/probe/http_text.hpp>
#include <has/probe/sql_driver.hpp>

#include <has/core/redact.hpp>

#include <fmt/format.h>

#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <memory>
#include <new>

namespace has::probe::sql {

namespace {

using Clock = std::chrono::steady_clock;

struct DbClose {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalize {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using Db = std::unique_ptr<sqlite3, DbClose>;
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalize>;

// VM instructions between two looks at the clock: cheap, and frequent
// enough to stop within a millisecond or so.
constexpr int k_progress_steps = 1000;

Failure failure(Stage stage, std::string message, int code) {
  message = core::redact(utf8_text(message));
  return Failure{stage, message, message, sqlite3_errstr(code)};
}

// The error of the last call on db, with SQLite's own message.
Failure db_failure(Stage stage, sqlite3* db, int code, std::string_view doing) {
  auto message = db == nullptr ? std::string(sqlite3_errstr(code)) : std::string(sqlite3_errmsg(db));
  return failure(stage, doing.empty() ? message : fmt::format("{}: {}", doing, message), code);
}

int past_deadline(void* deadline) {
  return Clock::now() >= *static_cast<const Clock::time_point*>(deadline) ? 1 : 0;
}

std::string upper(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::toupper(c); });
  return out;
}

// SQLite has no boolean type, but a column declared BOOL or BOOLEAN holds
// 0/1 meant as one.
bool declared_boolean(sqlite3_stmt* stmt, int column) {
  const char* declared = sqlite3_column_decltype(stmt, column);
  if (declared == nullptr) {
    return false;
  }
  auto type = upper(declared);
  return type == "BOOL" || type == "BOOLEAN";
}

nlohmann::json row_of(sqlite3_stmt* stmt) {
  auto out = nlohmann::json::object();
  for (int column = 0; column < sqlite3_column_count(stmt); ++column) {
    const char* raw_name = sqlite3_column_name(stmt, column);
    if (raw_name == nullptr) {
      throw std::bad_alloc();
    }
    auto name = utf8_text(raw_name);
    if (out.contains(name)) {
      continue; // the first column of a name wins, as in a SQL client's row
    }
    switch (sqlite3_column_type(stmt, column)) {
    case SQLITE_NULL:
      out[name] = nullptr;
      break;
    case SQLITE_INTEGER: {
      auto value = sqlite3_column_int64(stmt, column);
      if (declared_boolean(stmt, column) && (value == 0 || value == 1)) {
        out[name] = value == 1;
      } else {
        out[name] = value;
      }
      break;
    }
    case SQLITE_FLOAT:
      out[name] = number_value(sqlite3_column_double(stmt, column));
      break;
    default: { // text, and blobs shown as text
      const auto* data = sqlite3_column_blob(stmt, column);
      auto size = static_cast<std::size_t>(sqlite3_column_bytes(stmt, column));
      if (data == nullptr && size > 0) {
        throw std::bad_alloc();
      }
      out[name] = utf8_text(std::string_view(static_cast<const char*>(data), size));
    }
    }
  }
  return out;
}

// Prepares the one statement of sql; a second statement is refused, since
// its rows would be silently dropped.
std::variant<Stmt, Failure> prepare(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* raw = nullptr;
  const char* tail = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &raw, &tail);
  Stmt stmt(raw);
  if (rc != SQLITE_OK) {
    return db_failure(Stage::query, db, rc, "");
  }
  if (!stmt) {
    return failure(Stage::query, "the query holds no SQL statement", SQLITE_MISUSE);
  }
  if (tail != nullptr && *tail != '\0') {
    sqlite3_stmt* next = nullptr;
    rc = sqlite3_prepare_v2(db, tail, -1, &next, nullptr);
    Stmt rest(next);
    if (rc != SQLITE_OK || rest) { // comments and white space alone prepare to nothing
      return failure(Stage::query, "the query holds more than one SQL statement; give one", SQLITE_MISUSE);
    }
  }
  return stmt;
}

} // namespace

Outcome run_sqlite(const Query& query) {
  auto deadline = Clock::now() + query.timeout;
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(query.database.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  Db db(raw); // owns the handle even when opening failed
  if (rc != SQLITE_OK) {
    return db_failure(Stage::connect, db.get(), rc, fmt::format("cannot open SQLite database {}", query.database));
  }
  rc = sqlite3_busy_timeout(db.get(), static_cast<int>(std::min<long long>(query.timeout.count(), INT_MAX)));
  if (rc != SQLITE_OK) {
    return db_failure(Stage::connect, db.get(), rc, "cannot set the busy timeout");
  }
  sqlite3_progress_handler(db.get(), k_progress_steps, past_deadline, &deadline);

  auto prepared = prepare(db.get(), query.text);
  if (auto* error = std::get_if<Failure>(&prepared)) {
    return std::move(*error);
  }
  auto stmt = std::move(std::get<Stmt>(prepared));
  Rows rows;
  rows.source = query.database;
  for (;;) {
    rc = sqlite3_step(stmt.get());
    if (rc == SQLITE_DONE) {
      return rows;
    }
    if (rc != SQLITE_ROW) {
      break;
    }
    if (rows.count == 0) {
      rows.first = row_of(stmt.get());
    }
    ++rows.count;
  }
  if (rc == SQLITE_INTERRUPT) {
    auto text = fmt::format("timed out after {} ms running the query", query.timeout.count());
    return Failure{Stage::query, text, text, sqlite3_errstr(rc)};
  }
  return db_failure(Stage::query, db.get(), rc, "");
}

} // namespace has::probe::sql
