#pragma once

#include <has/core/error.hpp>

#include <chrono>
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

// The SQLite handles stay opaque here so that users of the state store do not
// need SQLite's header.
struct sqlite3;
struct sqlite3_stmt;

namespace has::state {

// An ExitCode::io error raised by SQLite. It also carries SQLite's extended
// result code, so a caller can tell a busy database from a broken one.
class SqliteError : public core::Error {
public:
  SqliteError(int sqlite_code, std::string what, std::string reason, std::string help);

  // Returns SQLite's extended result code (e.g. SQLITE_BUSY_SNAPSHOT).
  int sqlite_code() const noexcept { return m_sqlite_code; }

  // Returns whether the primary result code is SQLITE_BUSY (another connection
  // held a lock for longer than the busy timeout).
  bool is_busy() const noexcept;

private:
  int m_sqlite_code;
};

// How Connection::open treats the file.
enum class OpenMode { read_write_create, read_write, read_only };

class Connection;

// One prepared statement (sqlite3_stmt), finalized on destruction. Parameter
// indexes start at 1 and column indexes at 0, as in SQLite.
class Statement {
public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Binds an integer (bool binds as 0/1) and returns *this; throws SqliteError
  // if the index is out of range.
  template <std::integral T>
  Statement& bind(int index, T value) {
    return bind_int64(index, static_cast<std::int64_t>(value));
  }

  // Binds a floating-point value and returns *this; throws SqliteError if the
  // index is out of range.
  Statement& bind(int index, double value);

  // Binds a copy of the text (an empty string stays an empty string, not NULL)
  // and returns *this; throws SqliteError if the index is out of range.
  Statement& bind(int index, std::string_view value);

  // Binds NULL and returns *this; throws SqliteError if the index is out of
  // range.
  Statement& bind(int index, std::nullopt_t);

  // Binds the value, or NULL when it is empty, and returns *this; throws
  // SqliteError if the index is out of range.
  template <class T>
  Statement& bind(int index, const std::optional<T>& value) {
    if (value) {
      return bind(index, *value);
    }
    return bind(index, std::nullopt);
  }

  // Binds a named parameter (":name", "@name" or "$name", prefix included)
  // and returns *this; throws SqliteError if the statement has no such
  // parameter.
  template <class Name, class T>
    requires(std::convertible_to<Name, std::string_view> && !std::integral<std::decay_t<Name>>)
  Statement& bind(Name&& name, T&& value) {
    return bind(parameter_index(std::string_view(name)), std::forward<T>(value));
  }

  // Returns the 1-based index of a named parameter; throws SqliteError if the
  // statement has no such parameter.
  int parameter_index(std::string_view name) const;

  // Runs the statement one step: returns true when a row is ready to be read,
  // false when the statement is done; throws SqliteError on any other result
  // (busy beyond the timeout, constraint violation, I/O error, ...).
  bool step();

  // Rewinds the statement so it can run again; bindings are kept. Does not
  // throw: an error of the previous step() was already thrown by step().
  void reset() noexcept;

  // Returns the number of columns in the result.
  int column_count() const noexcept;

  // Return the value of a column of the current row, converted as SQLite does
  // (NULL reads as 0, 0.0 or ""); throw SqliteError if the index is out of
  // range or SQLite runs out of memory.
  std::int64_t column_int64(int index) const;
  double column_double(int index) const;
  std::string column_text(int index) const;

  // Returns whether the column of the current row is NULL; throws SqliteError
  // if the index is out of range.
  bool column_is_null(int index) const;

  // Return the column's value, or std::nullopt where it is NULL; throw as the
  // getters above.
  std::optional<std::int64_t> column_optional_int64(int index) const;
  std::optional<std::string> column_optional_text(int index) const;

private:
  friend class Connection;
  Statement(sqlite3* db, sqlite3_stmt* stmt) noexcept : m_db(db), m_stmt(stmt) {}

  Statement& bind_int64(int index, std::int64_t value);
  void check_bind(int rc, int index) const;
  void check_column(int index) const;
  [[noreturn]] void fail(int rc, std::string_view doing) const;

  sqlite3* m_db = nullptr;
  sqlite3_stmt* m_stmt = nullptr;
};

// One SQLite connection (sqlite3*), closed on destruction. Use it from one
// thread at a time, and never across fork(): a child opens its own.
class Connection {
public:
  // Opens the database file (":memory:" for a private in-memory database) and
  // returns the connection with extended result codes on; throws SqliteError
  // if SQLite cannot open it.
  static Connection open(const std::filesystem::path& file, OpenMode mode);

  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Compiles exactly one SQL statement and returns it; throws SqliteError on a
  // syntax error, an unknown table or column, or more than one statement.
  Statement prepare(std::string_view sql);

  // Runs a script of one or more statements, discarding any rows they return;
  // throws SqliteError at the first failing statement.
  void exec(std::string_view sql);

  // Sets how long a statement waits for another connection's lock before it
  // fails with SQLITE_BUSY; throws SqliteError if SQLite refuses.
  void set_busy_timeout(std::chrono::milliseconds timeout);

  // Returns the rowid of the most recent successful INSERT on this connection.
  std::int64_t last_insert_rowid() const noexcept;

  // Returns the number of rows changed by the most recent INSERT, UPDATE or
  // DELETE on this connection.
  std::int64_t changes() const noexcept;

  // Returns whether no transaction is open (SQLite's autocommit mode).
  bool in_autocommit() const noexcept;

  // Returns the raw handle for SQLite calls this wrapper does not cover.
  sqlite3* handle() const noexcept { return m_db; }

private:
  explicit Connection(sqlite3* db) noexcept : m_db(db) {}

  sqlite3* m_db = nullptr;
};

} // namespace has::state
