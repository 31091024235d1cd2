#include <has/state/store.hpp>

#include <has/core/log.hpp>
#include <has/state/migrations.hpp>

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace has::state {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr auto k_busy_timeout = 10s;
// SQLite returns SQLITE_BUSY without waiting where waiting could deadlock and
// while another process recovers the WAL; a short pause and a retry get past.
constexpr int k_busy_attempts = 4;
constexpr auto k_busy_pause = 20ms;
constexpr const char* k_state_help = "pass --state FILE or set HAS_STATE";

template <class F>
void retry_while_busy(F&& fn) {
  for (int attempt = 1;; ++attempt) {
    try {
      fn();
      return;
    } catch (const SqliteError& e) {
      if (!e.is_busy() || attempt == k_busy_attempts) {
        throw;
      }
      HAS_DEBUG("state database busy (attempt {}): {}", attempt, e.reason());
    }
    std::this_thread::sleep_for(k_busy_pause * attempt);
  }
}

[[noreturn]] void throw_errno(const std::string& what, int error) {
  throw core::Error(core::ExitCode::io, what, std::strerror(error),
                    fmt::format("{} to a writable location", k_state_help));
}

// Creates the missing directories above the file, owner-only: the state file
// records hosts, commands and outcomes.
void create_parent_directories(const fs::path& file) {
  std::vector<fs::path> missing;
  for (fs::path dir = file.parent_path(); !dir.empty(); dir = dir.parent_path()) {
    struct stat info {};
    if (::stat(dir.c_str(), &info) == 0) {
      if (!S_ISDIR(info.st_mode)) {
        throw_errno(fmt::format("cannot create directory {} for state file {}", dir.string(),
                                file.string()),
                    ENOTDIR);
      }
      break;
    }
    if (errno != ENOENT) {
      throw_errno(fmt::format("cannot create directory {} for state file {}", dir.string(),
                              file.string()),
                  errno);
    }
    missing.push_back(dir);
    if (dir == dir.parent_path()) {
      break;
    }
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    const std::string what =
      fmt::format("cannot create directory {} for state file {}", it->string(), file.string());
    if (::mkdir(it->c_str(), 0700) != 0) {
      // Another process created it in the meantime, which is fine.
      if (errno == EEXIST) {
        continue;
      }
      throw_errno(what, errno);
    }
    // The umask may have taken bits the owner needs.
    if (::chmod(it->c_str(), 0700) != 0) {
      throw_errno(what, errno);
    }
  }
}

// Creates the file with mode 0600 before SQLite sees it (SQLite would use
// 0644 less the umask), and checks that an existing one can be written. An
// existing file is never opened here: closing a descriptor of it would drop
// the POSIX locks of every SQLite connection this process has to it (a plan
// opens several), and another process would then take this one's WAL away.
void create_file(const fs::path& file) {
  const std::string what = fmt::format("cannot open state file {}", file.string());
  int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno != EEXIST) {
      throw_errno(what, errno);
    }
    struct stat info {};
    if (::stat(file.c_str(), &info) != 0) {
      throw_errno(what, errno);
    }
    if (S_ISDIR(info.st_mode)) {
      throw_errno(what, EISDIR);
    }
    if (::access(file.c_str(), R_OK | W_OK) != 0) {
      throw_errno(what, errno);
    }
    return;
  }
  // The umask may have taken bits the owner needs.
  if (::fchmod(fd, 0600) != 0) {
    const int error = errno;
    ::close(fd);
    throw_errno(what, error);
  }
  if (::close(fd) != 0) {
    throw_errno(what, errno);
  }
}

// Applies the connection settings every has process relies on.
void configure(Connection& connection, const fs::path& file) {
  connection.set_busy_timeout(k_busy_timeout);
  // Pages of 16 KiB for a new file (an existing one keeps its own): a run
  // stores thousands of results of about a KiB each, and every page is a
  // write of its own to the WAL and again at the checkpoint.
  connection.exec("PRAGMA page_size = 16384");
  std::string mode;
  retry_while_busy([&] {
    auto pragma = connection.prepare("PRAGMA journal_mode = WAL");
    pragma.step();
    mode = pragma.column_text(0);
  });
  if (mode != "wal") {
    throw core::Error(core::ExitCode::io, fmt::format("cannot open state file {}", file.string()),
                      fmt::format("SQLite cannot use WAL mode there (journal mode stays {})", mode),
                      fmt::format("keep the state file on a local filesystem: {}", k_state_help));
  }
  connection.exec("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;");
}

// Opens the file that create_file made; names the file in any SQLite error.
Connection open_configured(const fs::path& file) {
  try {
    auto connection = Connection::open(file, OpenMode::read_write);
    configure(connection, file);
    return connection;
  } catch (const SqliteError& e) {
    throw SqliteError(e.sqlite_code(), fmt::format("cannot open state file {}", file.string()),
                      e.reason(), e.help().empty() ? k_state_help : e.help());
  }
}

} // namespace

Store::Store(std::filesystem::path path, Connection connection)
  : m_path(std::move(path)), m_connection(std::move(connection)) {}

Store Store::open(const std::filesystem::path& file) {
  create_parent_directories(file);
  create_file(file);
  Store store(file, open_configured(file));
  migrate(store);
  HAS_DEBUG("state file {}: schema version {}", file.string(), store.schema_version());
  return store;
}

int Store::schema_version() {
  auto pragma = m_connection.prepare("PRAGMA user_version");
  pragma.step();
  return static_cast<int>(pragma.column_int64(0));
}

void Store::begin_immediate() {
  retry_while_busy([&] { m_connection.exec("BEGIN IMMEDIATE"); });
}

void Store::commit() { m_connection.exec("COMMIT"); }

void Store::rollback_after_failure() noexcept {
  // SQLite has already rolled back after some errors (SQLITE_FULL, ...).
  if (m_connection.in_autocommit()) {
    return;
  }
  try {
    m_connection.exec("ROLLBACK");
  } catch (const std::exception& e) {
    // The error that caused the rollback is the one to report; this one can
    // only be logged.
    HAS_LOG("state file {}: rollback failed: {}", m_path.string(), e.what());
  }
}

} // namespace has::state
