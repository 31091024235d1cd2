#pragma once

#include <has/probe/probe.hpp>

#include <cstddef>
#include <functional>
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

} // namespace has::probe
