#include <has/state/sqlite.hpp>

#include <has/core/log.hpp>

#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <limits>
#include <utility>

namespace has::state {

namespace {

// A help line for the failures an operator can do something about.
std::string help_for(int rc) {
  switch (rc & 0xff) {
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return "another has process holds the state file locked; retry, or look for a stuck has "
           "process";
  case SQLITE_READONLY:
  case SQLITE_PERM:
  case SQLITE_CANTOPEN:
    return "make the state file and its directory writable, or pass --state FILE or set "
           "HAS_STATE";
  case SQLITE_FULL:
    return "free disk space on the state file's filesystem";
  case SQLITE_NOTADB:
  case SQLITE_CORRUPT:
    return "the file is not a has state database or is damaged; pass --state FILE or set "
           "HAS_STATE";
  case SQLITE_IOERR:
    return "check the disk and filesystem that hold the state file";
  default:
    return {};
  }
}

// SQLite's message for the connection's last error, or the generic text of
// the code where the connection's message belongs to another call.
std::string reason_for(sqlite3* db, int rc) {
  if (db != nullptr && sqlite3_extended_errcode(db) == rc) {
    return sqlite3_errmsg(db);
  }
  return sqlite3_errstr(rc);
}

std::string describe_db(sqlite3* db) {
  const char* name = db != nullptr ? sqlite3_db_filename(db, "main") : nullptr;
  if (name == nullptr || *name == '\0') {
    return "in-memory state database";
  }
  return fmt::format("state file {}", name);
}

// Keeps messages one line and short: the first line of the SQL, cut at 80.
std::string abbreviate(std::string_view sql) {
  const auto first = sql.find_first_not_of(" \t\r\n");
  sql = first == std::string_view::npos ? std::string_view{} : sql.substr(first);
  const auto newline = sql.find('\n');
  bool cut = newline != std::string_view::npos;
  sql = sql.substr(0, newline);
  if (sql.size() > 80) {
    sql = sql.substr(0, 80);
    cut = true;
  }
  return cut ? std::string(sql) + " ..." : std::string(sql);
}

int checked_length(std::string_view text) {
  if (text.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw SqliteError(SQLITE_TOOBIG, "SQL text too long", sqlite3_errstr(SQLITE_TOOBIG), {});
  }
  return static_cast<int>(text.size());
}

std::string_view sql_of(sqlite3_stmt* stmt) {
  const char* sql = stmt != nullptr ? sqlite3_sql(stmt) : nullptr;
  return sql != nullptr ? std::string_view(sql) : std::string_view{};
}

bool only_blanks(std::string_view text) {
  return text.find_first_not_of(" \t\r\n;") == std::string_view::npos;
}

} // namespace

// ---------------------------------------------------------------- SqliteError

SqliteError::SqliteError(int sqlite_code, std::string what, std::string reason, std::string help)
  : core::Error(core::ExitCode::io, std::move(what), std::move(reason), std::move(help)),
    m_sqlite_code(sqlite_code) {}

bool SqliteError::is_busy() const noexcept { return (m_sqlite_code & 0xff) == SQLITE_BUSY; }

// ------------------------------------------------------------------ Statement

Statement::Statement(Statement&& other) noexcept
  : m_db(std::exchange(other.m_db, nullptr)), m_stmt(std::exchange(other.m_stmt, nullptr)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(m_stmt);
    m_db = std::exchange(other.m_db, nullptr);
    m_stmt = std::exchange(other.m_stmt, nullptr);
  }
  return *this;
}

Statement::~Statement() {
  // sqlite3_finalize only repeats the error of the last step(), which step()
  // has already thrown.
  sqlite3_finalize(m_stmt);
}

void Statement::fail(int rc, std::string_view doing) const {
  throw SqliteError(rc,
                    fmt::format("{}: cannot {} \"{}\"", describe_db(m_db), doing,
                                abbreviate(sql_of(m_stmt))),
                    reason_for(m_db, rc), help_for(rc));
}

void Statement::check_bind(int rc, int index) const {
  if (rc != SQLITE_OK) {
    fail(rc, fmt::format("bind parameter {} of", index));
  }
}

Statement& Statement::bind_int64(int index, std::int64_t value) {
  check_bind(sqlite3_bind_int64(m_stmt, index, value), index);
  return *this;
}

Statement& Statement::bind(int index, double value) {
  check_bind(sqlite3_bind_double(m_stmt, index, value), index);
  return *this;
}

Statement& Statement::bind(int index, std::string_view value) {
  // A null data pointer would bind NULL; an empty string must stay a string.
  const char* data = value.data() != nullptr ? value.data() : "";
  check_bind(sqlite3_bind_text64(m_stmt, index, data, value.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
             index);
  return *this;
}

Statement& Statement::bind(int index, std::nullopt_t) {
  check_bind(sqlite3_bind_null(m_stmt, index), index);
  return *this;
}

int Statement::parameter_index(std::string_view name) const {
  const int index = sqlite3_bind_parameter_index(m_stmt, std::string(name).c_str());
  if (index == 0) {
    throw SqliteError(SQLITE_RANGE,
                      fmt::format("{}: no parameter {} in \"{}\"", describe_db(m_db), name,
                                  abbreviate(sql_of(m_stmt))),
                      sqlite3_errstr(SQLITE_RANGE), {});
  }
  return index;
}

bool Statement::step() {
  const int rc = sqlite3_step(m_stmt);
  if (rc == SQLITE_ROW) {
    return true;
  }
  if (rc == SQLITE_DONE) {
    return false;
  }
  fail(rc, "run");
}

void Statement::reset() noexcept {
  // sqlite3_reset returns the error of the last step(), already thrown there.
  sqlite3_reset(m_stmt);
}

int Statement::column_count() const noexcept { return sqlite3_column_count(m_stmt); }

void Statement::check_column(int index) const {
  if (index < 0 || index >= sqlite3_column_count(m_stmt)) {
    throw SqliteError(SQLITE_RANGE,
                      fmt::format("{}: no column {} in \"{}\"", describe_db(m_db), index,
                                  abbreviate(sql_of(m_stmt))),
                      sqlite3_errstr(SQLITE_RANGE), {});
  }
}

std::int64_t Statement::column_int64(int index) const {
  check_column(index);
  return sqlite3_column_int64(m_stmt, index);
}

double Statement::column_double(int index) const {
  check_column(index);
  return sqlite3_column_double(m_stmt, index);
}

std::string Statement::column_text(int index) const {
  check_column(index);
  const unsigned char* text = sqlite3_column_text(m_stmt, index);
  if (text == nullptr) {
    // NULL reads as ""; a null pointer for a non-NULL value means no memory.
    if (sqlite3_column_type(m_stmt, index) != SQLITE_NULL) {
      fail(SQLITE_NOMEM, "read a column of");
    }
    return {};
  }
  const int size = sqlite3_column_bytes(m_stmt, index);
  return std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(size));
}

bool Statement::column_is_null(int index) const {
  check_column(index);
  return sqlite3_column_type(m_stmt, index) == SQLITE_NULL;
}

std::optional<std::int64_t> Statement::column_optional_int64(int index) const {
  if (column_is_null(index)) {
    return std::nullopt;
  }
  return column_int64(index);
}

std::optional<std::string> Statement::column_optional_text(int index) const {
  if (column_is_null(index)) {
    return std::nullopt;
  }
  return column_text(index);
}

// ----------------------------------------------------------------- Connection

Connection Connection::open(const std::filesystem::path& file, OpenMode mode) {
  int flags = 0;
  switch (mode) {
  case OpenMode::read_write_create:
    flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    break;
  case OpenMode::read_write:
    flags = SQLITE_OPEN_READWRITE;
    break;
  case OpenMode::read_only:
    flags = SQLITE_OPEN_READONLY;
    break;
  }
  // has reads no SQLite memory statistics: without them every allocation
  // inside SQLite skips a global mutex and counter (must be set before the
  // first connection; a later call fails harmlessly with SQLITE_MISUSE).
  static const int no_memory_statistics [[maybe_unused]] = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(file.c_str(), &raw, flags, nullptr);
  // The connection owns the handle from here on, even if opening failed.
  Connection connection(raw);
  if (rc == SQLITE_OK) {
    rc = sqlite3_extended_result_codes(raw, 1);
  }
  if (rc != SQLITE_OK) {
    throw SqliteError(rc, fmt::format("cannot open state file {}", file.string()),
                      reason_for(raw, rc), help_for(rc));
  }
  return connection;
}

Connection::Connection(Connection&& other) noexcept : m_db(std::exchange(other.m_db, nullptr)) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    sqlite3_close_v2(m_db);
    m_db = std::exchange(other.m_db, nullptr);
  }
  return *this;
}

Connection::~Connection() {
  // close_v2 defers the close until the last statement is finalized, so it
  // cannot fail for statements still alive; nothing else can be done here.
  if (m_db != nullptr && sqlite3_close_v2(m_db) != SQLITE_OK) {
    HAS_DEBUG("closing the state database failed: {}", sqlite3_errmsg(m_db));
  }
}

Statement Connection::prepare(std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  const char* tail = nullptr;
  int rc = sqlite3_prepare_v3(m_db, sql.data(), checked_length(sql), 0, &raw, &tail);
  Statement statement(m_db, raw);
  if (rc != SQLITE_OK) {
    throw SqliteError(rc,
                      fmt::format("{}: cannot prepare \"{}\"", describe_db(m_db), abbreviate(sql)),
                      reason_for(m_db, rc), help_for(rc));
  }
  if (raw == nullptr) {
    throw SqliteError(SQLITE_MISUSE,
                      fmt::format("{}: no SQL statement in \"{}\"", describe_db(m_db),
                                  abbreviate(sql)),
                      sqlite3_errstr(SQLITE_MISUSE), {});
  }
  const std::string_view rest = sql.substr(static_cast<std::size_t>(tail - sql.data()));
  if (!only_blanks(rest)) {
    // Whatever follows may be comments only; compiling it tells.
    sqlite3_stmt* extra = nullptr;
    rc = sqlite3_prepare_v3(m_db, rest.data(), checked_length(rest), 0, &extra, nullptr);
    Statement extra_statement(m_db, extra);
    if (rc != SQLITE_OK || extra != nullptr) {
      throw SqliteError(SQLITE_MISUSE,
                        fmt::format("{}: more than one SQL statement in \"{}\"", describe_db(m_db),
                                    abbreviate(sql)),
                        "prepare() takes one statement; use exec() for scripts", {});
    }
  }
  return statement;
}

void Connection::exec(std::string_view sql) {
  char* message = nullptr;
  const int rc = sqlite3_exec(m_db, std::string(sql).c_str(), nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    std::string reason = message != nullptr ? message : reason_for(m_db, rc);
    sqlite3_free(message);
    throw SqliteError(rc, fmt::format("{}: cannot run \"{}\"", describe_db(m_db), abbreviate(sql)),
                      std::move(reason), help_for(rc));
  }
}

void Connection::set_busy_timeout(std::chrono::milliseconds timeout) {
  const auto ms = std::min<std::chrono::milliseconds::rep>(timeout.count(),
                                                           std::numeric_limits<int>::max());
  const int rc = sqlite3_busy_timeout(m_db, static_cast<int>(ms));
  if (rc != SQLITE_OK) {
    throw SqliteError(rc, fmt::format("{}: cannot set the busy timeout", describe_db(m_db)),
                      reason_for(m_db, rc), {});
  }
}

std::int64_t Connection::last_insert_rowid() const noexcept {
  return sqlite3_last_insert_rowid(m_db);
}

std::int64_t Connection::changes() const noexcept { return sqlite3_changes64(m_db); }

bool Connection::in_autocommit() const noexcept { return sqlite3_get_autocommit(m_db) != 0; }

} // namespace has::state
