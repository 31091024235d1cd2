#pragma once

// Private to the sql probe: one function per database driver, each running
// one query within a deadline and returning the first row and the row count,
// or why it could not. Drivers never put the connection string in what they
// return: it may hold a password.

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace has::probe::sql {

// One query to run, with everything a driver needs.
struct Query {
  std::string dsn;      // postgresql: libpq connection string or URI (may be empty)
  std::string database; // sqlite: path of the database file
  std::string text;     // the SQL
  std::chrono::milliseconds timeout{10'000};
};

// What a query returned.
struct Rows {
  nlohmann::json first = nullptr; // the first row as {column: value}, or null when none came
  std::int64_t count = 0;         // rows returned
  std::string source;             // where it ran, safe to show ("postgres@127.0.0.1:5432/app")
};

// Why a query did not run.
enum class Stage { connect, query };
struct Failure {
  Stage stage = Stage::query;
  std::string message; // one line: libpq's or SQLite's error
  std::string detail;  // the full error text, for evidence
  std::string code;    // SQLSTATE (postgresql) or SQLite's text for its result code, when known
};

using Outcome = std::variant<Rows, Failure>;

// Connects with the dsn, runs the query read-only and returns its rows, or
// the failure (connect error, server error, timeout). Never throws for what
// the server or the network does; throws only on memory exhaustion.
Outcome run_postgresql(const Query& query);

// Opens the database file read-only, runs the query and returns its rows, or
// the failure (missing file, SQL error, busy database, timeout).
Outcome run_sqlite(const Query& query);

// Returns why libpq cannot parse dsn, with every quoted fragment of it left
// out (they may hold the password), or nullopt when it parses.
std::optional<std::string> dsn_error(const std::string& dsn);

// Returns a number as a value: NaN (no number) becomes null, and infinities
// stay infinite for comparisons.
nlohmann::json number_value(double number);

// Returns text read as a number value, or nullopt when it is not one.
// Accepts what databases print: "42", "-1.5e3", "NaN", "Infinity", "-inf".
std::optional<nlohmann::json> parse_number(std::string_view text);

} // namespace has::probe::sql
