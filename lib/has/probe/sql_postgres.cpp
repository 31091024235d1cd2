// The postgresql driver of the sql probe, on libpq's asynchronous interface:
// the connection and the query are polled against one deadline, so the
// probe's timeout holds however the server or the network behaves. The
// statement runs in a read-only transaction with statement_timeout set, and
// rows come one at a time, so a query returning a million rows is counted
// without being held in memory.

#include <has/probe/http_text.hpp>
#include <has/probe/sql_driver.hpp>

#include <has/core/log.hpp>
#include <has/core/redact.hpp>

#include <fmt/format.h>

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <new>

namespace has::probe::sql {

namespace {

using Clock = std::chrono::steady_clock;

struct ConnFree {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
struct ResultFree {
  void operator()(PGresult* result) const { PQclear(result); }
};
struct CancelFree {
  void operator()(PGcancel* cancel) const { PQfreeCancel(cancel); }
};
struct ConninfoFree {
  void operator()(PQconninfoOption* options) const { PQconninfoFree(options); }
};
using Conn = std::unique_ptr<PGconn, ConnFree>;
using PgResult = std::unique_ptr<PGresult, ResultFree>;

// Type OIDs of the built-in types (pg_type.dat); fixed across server
// versions, and the server headers that name them are not in libpq-dev.
constexpr Oid k_bool = 16;
constexpr Oid k_int8 = 20;
constexpr Oid k_int2 = 21;
constexpr Oid k_int4 = 23;
constexpr Oid k_oid = 26;
constexpr Oid k_json = 114;
constexpr Oid k_float4 = 700;
constexpr Oid k_float8 = 701;
constexpr Oid k_numeric = 1700;
constexpr Oid k_jsonb = 3802;

std::string trimmed(std::string_view text) {
  auto end = text.find_last_not_of(" \t\r\n");
  return std::string(end == std::string_view::npos ? std::string_view() : text.substr(0, end + 1));
}

std::string first_line(std::string_view text) {
  return trimmed(text.substr(0, text.find('\n')));
}

// libpq's messages name the host, port and user, never the password;
// redact() also hides every value that came from ${env:}.
Failure failure(Stage stage, std::string_view error, std::string code = {}) {
  auto text = core::redact(utf8_text(error));
  return Failure{stage, first_line(text), trimmed(text), std::move(code)};
}

// Where the connection goes, without the password.
std::string describe(const PGconn* conn) {
  auto text = [](const char* value) { return std::string(value == nullptr ? "" : value); };
  return core::redact(fmt::format("{}@{}:{}/{}", text(PQuser(conn)), text(PQhost(conn)), text(PQport(conn)),
                                  text(PQdb(conn))));
}

// Notices (warnings the server sends along) would otherwise go to stderr;
// the library never prints.
void on_notice(void*, const char* message) {
  HAS_DEBUG("sql probe: server notice: {}", message == nullptr ? "" : first_line(message));
}

enum class Wait { ready, timed_out };

// Waits until fd has one of events or the deadline passes. A poll() error
// counts as ready: libpq then meets the same error and reports it.
Wait wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      return Wait::timed_out;
    }
    pollfd entry{fd, events, 0};
    int ready = ::poll(&entry, 1, static_cast<int>(std::min<long long>(left, 60'000)));
    if (ready > 0 || (ready < 0 && errno != EINTR)) {
      return Wait::ready;
    }
  }
}

// Connects within the deadline, driving PQconnectPoll from our own poll() so
// the timeout covers every host tried and the TLS handshake as well.
std::variant<Conn, Failure> connect(const Query& query, Clock::time_point deadline) {
  // With expand_dbname the dsn may be a key=value string or a URI; the keys
  // after it fill in what the dsn leaves out.
  const char* keywords[] = {"dbname", "fallback_application_name", "client_encoding", nullptr};
  const char* values[] = {query.dsn.c_str(), "has", "UTF8", nullptr};
  Conn conn(PQconnectStartParams(keywords, values, 1));
  if (!conn) {
    throw std::bad_alloc();
  }
  PQsetNoticeProcessor(conn.get(), on_notice, nullptr);
  if (PQstatus(conn.get()) == CONNECTION_BAD) {
    return failure(Stage::connect, PQerrorMessage(conn.get()));
  }
  auto polling = PGRES_POLLING_WRITING;
  for (;;) {
    if (polling == PGRES_POLLING_OK) {
      return conn;
    }
    if (polling == PGRES_POLLING_FAILED) {
      return failure(Stage::connect, PQerrorMessage(conn.get()));
    }
    int fd = PQsocket(conn.get());
    if (fd < 0) {
      return failure(Stage::connect, PQerrorMessage(conn.get()));
    }
    if (wait_for(fd, polling == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline) == Wait::timed_out) {
      auto text = fmt::format("timed out after {} ms connecting to {}", query.timeout.count(), describe(conn.get()));
      return Failure{Stage::connect, text, text, {}};
    }
    polling = PQconnectPoll(conn.get());
  }
}

enum class Ready { yes, timed_out };

// Waits until libpq holds a whole result, so that PQgetResult won't block.
// A broken connection counts as ready: PQgetResult then reports it.
Ready await_result(PGconn* conn, Clock::time_point deadline) {
  while (PQisBusy(conn) != 0) {
    if (wait_for(PQsocket(conn), POLLIN, deadline) == Wait::timed_out) {
      return Ready::timed_out;
    }
    if (PQconsumeInput(conn) == 0) {
      return Ready::yes;
    }
  }
  return Ready::yes;
}

// Asks the server to stop the running statement. Best effort: the caller
// closes the connection next, which ends the statement anyway.
void cancel(PGconn* conn) {
  std::unique_ptr<PGcancel, CancelFree> handle(PQgetCancel(conn));
  char error[256] = {};
  if (!handle || PQcancel(handle.get(), error, sizeof error) == 0) {
    HAS_DEBUG("sql probe: cancelling the query failed: {}", first_line(error));
  }
}

Failure result_failure(Stage stage, const PGresult* result) {
  const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  auto out = failure(stage, PQresultErrorMessage(result), state == nullptr ? "" : state);
  if (primary != nullptr) {
    out.message = first_line(core::redact(utf8_text(primary)));
  }
  return out;
}

Failure timed_out(std::chrono::milliseconds timeout) {
  auto text = fmt::format("timed out after {} ms running the query", timeout.count());
  return Failure{Stage::query, text, text, "57014"};
}

nlohmann::json row_of(const PGresult* result, int row) {
  auto out = nlohmann::json::object();
  for (int column = 0; column < PQnfields(result); ++column) {
    auto name = utf8_text(PQfname(result, column));
    if (out.contains(name)) {
      continue; // the first column of a name wins, as in a SQL client's row
    }
    if (PQgetisnull(result, row, column) != 0) {
      out[name] = nullptr;
      continue;
    }
    std::string_view text(PQgetvalue(result, row, column), static_cast<std::size_t>(PQgetlength(result, row, column)));
    switch (PQftype(result, column)) {
    case k_bool:
      out[name] = text == "t";
      break;
    case k_int2:
    case k_int4:
    case k_int8:
    case k_oid:
    case k_float4:
    case k_float8:
    case k_numeric:
      out[name] = parse_number(text).value_or(nlohmann::json(utf8_text(text)));
      break;
    case k_json:
    case k_jsonb: {
      auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
      out[name] = json.is_discarded() ? nlohmann::json(utf8_text(text)) : std::move(json);
      break;
    }
    default:
      out[name] = utf8_text(text);
    }
  }
  return out;
}

// Sends sql and reads every result it yields into rows; returns the failure
// if the server reports one or the deadline passes.
std::optional<Failure> exchange(PGconn* conn, const std::string& sql, const Query& query, Clock::time_point deadline,
                                Rows* rows) {
  int sent = rows == nullptr ? PQsendQuery(conn, sql.c_str())
                             // The extended protocol runs exactly one statement.
                             : PQsendQueryParams(conn, sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0);
  if (sent == 0) {
    return failure(Stage::query, PQerrorMessage(conn));
  }
  if (rows != nullptr && PQsetSingleRowMode(conn) == 0) {
    return failure(Stage::query, PQerrorMessage(conn));
  }
  std::optional<Failure> error;
  for (;;) {
    if (await_result(conn, deadline) == Ready::timed_out) {
      cancel(conn);
      return timed_out(query.timeout);
    }
    PgResult result(PQgetResult(conn));
    if (!result) {
      return error;
    }
    switch (PQresultStatus(result.get())) {
    case PGRES_SINGLE_TUPLE:
    case PGRES_TUPLES_OK:
      if (rows != nullptr && !error) {
        if (rows->count == 0 && PQntuples(result.get()) > 0) {
          rows->first = row_of(result.get(), 0);
        }
        rows->count += PQntuples(result.get());
      }
      break;
    case PGRES_COMMAND_OK:
    case PGRES_EMPTY_QUERY:
      break;
    case PGRES_COPY_OUT:
    case PGRES_COPY_IN:
    case PGRES_COPY_BOTH: {
      // The caller drops the connection, which ends the copy.
      auto text = std::string("the query started a COPY, which the sql probe does not read; use SELECT");
      return Failure{Stage::query, text, text, {}};
    }
    default:
      // Keep reading: libpq needs the results drained before it is idle,
      // and the first error is the one that explains the rest.
      if (!error) {
        error = result_failure(Stage::query, result.get());
      }
    }
  }
}

// Returns text with every "quoted" part longer than one character replaced
// by "..." (one character is libpq naming a separator, such as "=").
std::string without_quoted(std::string_view text) {
  std::string out;
  for (;;) {
    auto open = text.find('"');
    auto close = open == std::string_view::npos ? open : text.find('"', open + 1);
    if (close == std::string_view::npos) {
      out += text.substr(0, open);
      return open == std::string_view::npos ? out : out + "\"...\"";
    }
    out += text.substr(0, open + 1);
    out += close - open - 1 <= 1 ? text.substr(open + 1, close - open - 1) : std::string_view("...");
    out += '"';
    text.remove_prefix(close + 1);
  }
}

} // namespace

Outcome run_postgresql(const Query& query) {
  auto deadline = Clock::now() + query.timeout;
  auto connected = connect(query, deadline);
  if (auto* error = std::get_if<Failure>(&connected)) {
    return std::move(*error);
  }
  auto conn = std::move(std::get<Conn>(connected));

  // The server stops the statement itself at the timeout, and a read-only
  // transaction keeps the probe from changing anything.
  auto setup = fmt::format("SET statement_timeout = {}; SET default_transaction_read_only = on",
                           std::max<long long>(query.timeout.count(), 1));
  if (auto error = exchange(conn.get(), setup, query, deadline, nullptr)) {
    return std::move(*error);
  }
  Rows rows;
  rows.source = describe(conn.get());
  if (auto error = exchange(conn.get(), query.text, query, deadline, &rows)) {
    return std::move(*error);
  }
  return rows;
}

std::optional<std::string> dsn_error(const std::string& dsn) {
  char* error = nullptr;
  std::unique_ptr<PQconninfoOption, ConninfoFree> options(PQconninfoParse(dsn.c_str(), &error));
  if (options) {
    return std::nullopt;
  }
  if (error == nullptr) {
    throw std::bad_alloc();
  }
  std::string text = first_line(without_quoted(error));
  PQfreemem(error);
  return text;
}

} // namespace has::probe::sql
