#pragma once

#include <chrono>
#include <cstdint>

namespace has::notify {

// The time as delivery sees it: signatures, rate budgets, backoff and waits
// all read this, so tests can drive them without waiting.
class Clock {
public:
  virtual ~Clock() = default;
  // Returns the current time.
  virtual std::chrono::system_clock::time_point now() = 0;
  // Waits for duration (a test clock may just move its time on).
  virtual void sleep_for(std::chrono::milliseconds duration) = 0;
};

// The machine's clock.
class SystemClock final : public Clock {
public:
  std::chrono::system_clock::time_point now() override;
  void sleep_for(std::chrono::milliseconds duration) override;
};

// Returns time as Unix milliseconds.
std::int64_t unix_ms(std::chrono::system_clock::time_point time);

} // namespace has::notify
