#pragma once

#include <has/probe/probe.hpp>

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace has::probe {

struct RunLimits {
  // Checks in flight at once, for each of HTTP, processes and the rest.
  std::size_t concurrency = 64;
  // HTTP connections in flight per host.
  std::size_t per_target = 8;
  // Threads for the checks that block (tcp, dns, system, sql, ...).
  std::size_t workers = 8;
};

// Runs every task concurrently: HTTP through one curl multi handle, processes
// asynchronously from one thread, the rest on a small pool. Calls
// on_done(index, result) exactly once per task, one call at a time (from any
// of the runner's threads). A callback of a kind that throws yields an
// unknown result with the error as message; nothing is thrown for a check.
void run_tasks(std::vector<Task> tasks, const RunLimits& limits,
               const std::function<void(std::size_t, Result)>& on_done);

// A task that has ended, whose Result is made by whoever takes it: an HTTP
// response becomes a Result there, not on the thread that runs every
// transfer.
class Finished {
public:
  explicit Finished(Result result) : m_result(std::move(result)) {}
  Finished(std::function<Result(const util::HttpResponse&)> make, util::HttpResponse response)
    : m_make(std::move(make)), m_response(std::move(response)) {}

  // Returns the task's result (once); a callback of its kind that throws
  // yields an unknown result with the error as message.
  Result take();

private:
  Result m_result;
  std::function<Result(const util::HttpResponse&)> m_make;
  std::optional<util::HttpResponse> m_response;
};

// Runs every task as run_tasks does, handing each on as Finished: the
// caller makes the results of HTTP tasks on its own thread.
void run_tasks(std::vector<Task> tasks, const RunLimits& limits,
               const std::function<void(std::size_t, Finished)>& on_done);

} // namespace has::probe
