// The sql probe: run one read-only query against PostgreSQL (libpq) or an
// SQLite file and offer the first row's columns as values. Running the query
// is the observation (ok); a database that cannot be reached or rejects the
// query is critical. The dsn may carry a password (often from ${env:}), so
// it never appears in a message or a value.

#include <has/probe/fields.hpp>
#include <has/probe/http_text.hpp>
#include <has/probe/kinds.hpp>
#include <has/probe/sql_driver.hpp>

#include <has/core/error.hpp>

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <limits>

namespace has::probe {

namespace sql {

nlohmann::json number_value(double number) {
  if (std::isnan(number)) {
    return nullptr;
  }
  return number;
}

std::optional<nlohmann::json> parse_number(std::string_view text) {
  if (text.empty()) {
    return std::nullopt;
  }
  const char* end = text.data() + text.size();
  std::int64_t integer = 0;
  if (auto [ptr, ec] = std::from_chars(text.data(), end, integer); ec == std::errc() && ptr == end) {
    return nlohmann::json(integer);
  }
  // from_chars takes "inf", "infinity" and "nan" in any case, but no '+'.
  auto body = text.front() == '+' ? text.substr(1) : text;
  double number = 0;
  if (auto [ptr, ec] = std::from_chars(body.data(), end, number); ec == std::errc() && ptr == end) {
    return number_value(number);
  }
  return std::nullopt;
}

} // namespace sql

namespace {

enum class Driver { postgresql, sqlite };

struct Params {
  Driver driver = Driver::postgresql;
  sql::Query query;
};

[[noreturn]] void bad_field(std::string_view field, std::string_view what, std::string reason = {},
                            std::string help = {}) {
  throw core::Error(core::ExitCode::bad_definitions, fmt::format("sql probe: field '{}' {}", field, what),
                    std::move(reason), std::move(help));
}

std::string rows_text(std::int64_t count) {
  if (count == 0) {
    return "no rows";
  }
  return count == 1 ? "1 row" : fmt::format("{} rows", count);
}

Result check(const Params& params) {
  auto start = std::chrono::steady_clock::now();
  auto outcome = params.driver == Driver::postgresql ? sql::run_postgresql(params.query)
                                                     : sql::run_sqlite(params.query);
  Result result;
  result.elapsed_ms = elapsed_ms_since(start);
  auto& values = result.values;
  if (auto* failure = std::get_if<sql::Failure>(&outcome)) {
    result.status = Status::critical;
    result.message = failure->stage == sql::Stage::connect ? fmt::format("cannot connect: {}", failure->message)
                                                           : fmt::format("query failed: {}", failure->message);
    result.evidence = failure->detail;
    values["error"] = failure->message;
    if (!failure->code.empty()) {
      values["error_code"] = failure->code;
    }
    values["elapsed_ms"] = result.elapsed_ms;
    return result;
  }
  auto& rows = std::get<sql::Rows>(outcome);
  // Columns come first, so a column named like one of the probe's own values
  // (rows, row, elapsed_ms) yields to it and stays readable as row.NAME.
  if (rows.first.is_object()) {
    values.update(rows.first);
  }
  values["rows"] = rows.count;
  values["row"] = rows.first;
  values["elapsed_ms"] = result.elapsed_ms;
  result.message = fmt::format("{} in {:.0f} ms from {}", rows_text(rows.count), result.elapsed_ms, rows.source);
  if (rows.first.is_object()) {
    result.evidence = excerpt(rows.first.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), 2048);
  }
  return result;
}

Driver driver_of(const Fields& fields) {
  auto name = fields.optional_string("driver").value_or("postgresql");
  if (name == "postgresql") {
    return Driver::postgresql;
  }
  if (name == "sqlite") {
    return Driver::sqlite;
  }
  bad_field("driver", fmt::format("must be postgresql or sqlite, not '{}'", name));
}

} // namespace

Task make_sql(const Spec& spec) {
  Fields fields("sql", spec.fields);
  Params params;
  params.driver = driver_of(fields);
  params.query.text = fields.string("query");
  if (params.query.text.find_first_not_of(" \t\r\n") == std::string::npos) {
    bad_field("query", "must not be empty");
  }
  params.query.timeout = fields.duration("timeout").value_or(spec.timeout);
  if (params.query.timeout.count() <= 0) {
    bad_field("timeout", "must be longer than zero");
  }
  if (params.driver == Driver::postgresql) {
    if (fields.has("database")) {
      bad_field("database", "is for driver sqlite; PostgreSQL takes the database name in the dsn",
                {}, "write dsn: \"host=... dbname=NAME user=...\"");
    }
    params.query.dsn = fields.optional_string("dsn").value_or("");
    if (auto error = sql::dsn_error(params.query.dsn)) {
      bad_field("dsn", "is not a valid libpq connection string", *error,
                "write key=value pairs (\"host=db port=5432 dbname=app user=monitor\") or a URI "
                "(postgresql://monitor@db:5432/app); take the password from ${env:NAME}");
    }
  } else {
    if (fields.has("dsn")) {
      bad_field("dsn", "is for driver postgresql; SQLite takes the file in 'database'");
    }
    params.query.database = fields.string("database");
    if (params.query.database.empty()) {
      bad_field("database", "must name an SQLite database file");
    }
  }

  Task task;
  task.blocking = [params = std::move(params)] { return check(params); };
  return task;
}

} // namespace has::probe
