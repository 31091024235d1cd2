#pragma once

#include <fmt/format.h>

#include <functional>
#include <string_view>

namespace has::core {

enum class LogLevel { quiet = 0, normal = 1, verbose = 2, debug = 3 };

// The library never prints; it hands log lines to a sink that cmd/ installs.
using LogSink = std::function<void(LogLevel, std::string_view)>;

// Installs the sink and the most detailed level that reaches it.
void set_log_sink(LogSink sink, LogLevel level);

// Returns whether a line at this level would reach the sink.
bool log_enabled(LogLevel level) noexcept;

// Sends one line to the sink (call through HAS_LOG, which skips formatting
// when the level is off).
void log_line(LogLevel level, std::string_view line);

} // namespace has::core

// Costs one branch unless -v is given.
#define HAS_LOG(...)                                                                     \
  do {                                                                                   \
    if (::has::core::log_enabled(::has::core::LogLevel::verbose)) {                      \
      ::has::core::log_line(::has::core::LogLevel::verbose, ::fmt::format(__VA_ARGS__)); \
    }                                                                                    \
  } while (false)

#define HAS_DEBUG(...)                                                                 \
  do {                                                                                 \
    if (::has::core::log_enabled(::has::core::LogLevel::debug)) {                      \
      ::has::core::log_line(::has::core::LogLevel::debug, ::fmt::format(__VA_ARGS__)); \
    }                                                                                  \
  } while (false)
