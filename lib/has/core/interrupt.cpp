#include <has/core/interrupt.hpp>

#include <atomic>
#include <csignal>

namespace has::core {

namespace {

std::atomic<bool> g_cooperative{false};
std::atomic<int> g_requests{0};
std::atomic<int> g_signal{0};

static_assert(std::atomic<int>::is_always_lock_free, "the signal handler needs lock-free counters");

} // namespace

void set_cooperative_interrupt(bool enabled) noexcept { g_cooperative.store(enabled); }
bool cooperative_interrupt() noexcept { return g_cooperative.load(); }
bool interrupt_requested() noexcept { return g_requests.load() > 0; }

int request_interrupt(int signal_number) noexcept {
  int expected = 0;
  g_signal.compare_exchange_strong(expected, signal_number);
  return g_requests.fetch_add(1) + 1;
}

int interrupt_signal() noexcept { return g_signal.load(); }

std::string interrupt_reason() {
  switch (g_signal.load()) {
  case SIGINT: return "interrupted by SIGINT (Ctrl-C)";
  case SIGTERM: return "interrupted by SIGTERM";
  case SIGHUP: return "interrupted by SIGHUP (the terminal or connection closed)";
  case 0: return "interrupted";
  default: return "interrupted by signal " + std::to_string(g_signal.load());
  }
}

void clear_interrupt() noexcept {
  g_requests.store(0);
  g_signal.store(0);
}

} // namespace has::core
