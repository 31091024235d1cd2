#include <has/core/log.hpp>

#include <atomic>
#include <mutex>

namespace has::core {

namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::normal)};
std::mutex g_mutex;
LogSink g_sink;
} // namespace

void set_log_sink(LogSink sink, LogLevel level) {
  std::lock_guard lock(g_mutex);
  g_sink = std::move(sink);
  g_level = static_cast<int>(level);
}

bool log_enabled(LogLevel level) noexcept {
  return static_cast<int>(level) <= g_level.load(std::memory_order_relaxed);
}

void log_line(LogLevel level, std::string_view line) {
  std::lock_guard lock(g_mutex);
  if (g_sink) {
    g_sink(level, line);
  }
}

} // namespace has::core
