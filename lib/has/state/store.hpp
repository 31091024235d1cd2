#pragma once

#include <has/state/sqlite.hpp>

#include <filesystem>
#include <functional>
#include <type_traits>

namespace has::state {

// The state file: one SQLite database shared by every has process that names
// it (cron jobs, terminals). Each process, and each child after fork(), opens
// its own Store; keep transactions short, other processes wait for them.
class Store {
public:
  // Opens the state file, creating missing parent directories (mode 0700) and
  // the file itself (mode 0600; existing files keep their mode), switches it
  // to WAL with a busy timeout, foreign keys and synchronous=NORMAL, and
  // applies pending migrations. Throws core::Error(ExitCode::io) with a reason
  // and a help line if a directory or the file cannot be created or written,
  // the file is not a SQLite database, or its schema is newer than this has.
  static Store open(const std::filesystem::path& file);

  Store(Store&&) noexcept = default;
  Store& operator=(Store&&) noexcept = default;

  // Returns the schema version recorded in the file (PRAGMA user_version);
  // throws SqliteError if it cannot be read.
  int schema_version();

  // Runs fn() inside BEGIN IMMEDIATE ... COMMIT and returns what fn returns.
  // If fn throws, rolls back and rethrows; throws SqliteError if the write lock
  // stays busy beyond the busy timeout and a few retries, or COMMIT fails (the
  // transaction is then rolled back). Transactions do not nest.
  template <class F>
  std::invoke_result_t<F&> transaction(F&& fn) {
    using Result = std::invoke_result_t<F&>;
    static_assert(!std::is_reference_v<Result>, "return a value from a transaction");
    begin_immediate();
    try {
      if constexpr (std::is_void_v<Result>) {
        std::invoke(fn);
        commit();
      } else {
        Result result = std::invoke(fn);
        commit();
        return result;
      }
    } catch (...) {
      rollback_after_failure();
      throw;
    }
  }

  // Returns the connection, for repositories and migrations.
  Connection& connection() noexcept { return m_connection; }

  // Returns the path the store was opened with.
  const std::filesystem::path& path() const noexcept { return m_path; }

private:
  Store(std::filesystem::path path, Connection connection);

  void begin_immediate();
  void commit();
  void rollback_after_failure() noexcept;

  std::filesystem::path m_path;
  Connection m_connection;
};

} // namespace has::state
