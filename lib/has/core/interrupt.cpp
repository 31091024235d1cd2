#include <has/core/interrupt.hpp>

#include <atomic>

namespace has::core {

namespace {

std::atomic<bool> g_cooperative{false};
std::atomic<bool> g_requested{false};

static_assert(std::atomic<bool>::is_always_lock_free, "the signal handler needs a lock-free flag");

} // namespace

void set_cooperative_interrupt(bool enabled) noexcept { g_cooperative.store(enabled); }
bool cooperative_interrupt() noexcept { return g_cooperative.load(); }
bool interrupt_requested() noexcept { return g_requested.load(); }
bool request_interrupt() noexcept { return !g_requested.exchange(true); }
void clear_interrupt() noexcept { g_requested.store(false); }

} // namespace has::core
