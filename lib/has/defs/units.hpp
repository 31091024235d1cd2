#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace has::defs {

// Parsing of the units that definitions use, in one place. Each function
// throws core::Error(ExitCode::bad_definitions) whose message says what was
// expected; the loader adds file:line:col.

// Returns the duration of text such as "500ms", "10s", "5m", "1h30m", "2d"
// (units ms, s, m, h, d; several may be combined in decreasing order; a bare
// "0" is zero).
std::chrono::milliseconds parse_duration(std::string_view text);

// Returns text for a duration in the shortest exact form ("1h30m", "250ms").
std::string format_duration(std::chrono::milliseconds duration);

// Returns the number of bytes in text such as "512MiB", "1G", "10kB", "4096"
// (binary units KiB MiB GiB TiB; decimal kB/K MB/M GB/G TB/T; B or none for
// bytes).
std::uint64_t parse_size(std::string_view text);

// Returns the percentage in text such as "30%" or "12.5%" as a number in
// [0, 100]; the "%" sign is required.
double parse_percent(std::string_view text);

// Returns the instant in an ISO-8601 time such as "2026-11-25T02:00:00Z" or
// "2026-11-25T04:00:00+02:00" (seconds and fractions optional; a zone is
// required, Z or an offset).
std::chrono::system_clock::time_point parse_time(std::string_view text);

// Returns the minutes after midnight of a clock time "HH:MM" (00:00-24:00).
int parse_clock(std::string_view text);

} // namespace has::defs
