#include <has/probe/runner.hpp>

#include <has/core/redact.hpp>

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>

namespace has::probe {

namespace {

Result failed(const std::exception& e) {
  Result result;
  result.status = Status::unknown;
  result.message = core::redact(e.what());
  return result;
}

} // namespace

Result Finished::take() {
  if (!m_response) {
    return std::move(m_result);
  }
  try {
    return m_make(*m_response);
  } catch (const std::exception& e) {
    return failed(e);
  }
}

void run_tasks(std::vector<Task> tasks, const RunLimits& limits,
               const std::function<void(std::size_t, Result)>& on_done) {
  run_tasks(std::move(tasks), limits, [&](std::size_t index, Finished finished) { on_done(index, finished.take()); });
}

void run_tasks(std::vector<Task> tasks, const RunLimits& limits,
               const std::function<void(std::size_t, Finished)>& on_done) {
  std::mutex mutex;
  auto deliver = [&](std::size_t index, Finished finished) {
    std::lock_guard lock(mutex);
    on_done(index, std::move(finished));
  };

  std::vector<std::size_t> http_index, process_index, blocking_index;
  std::vector<util::HttpRequest> requests;
  std::vector<util::ProcessSpec> processes;
  // The requests and processes move out of their tasks (only the callbacks
  // are used from here on): thousands of URLs are not copied.
  auto http_count = static_cast<std::size_t>(
    std::count_if(tasks.begin(), tasks.end(), [](const Task& task) { return task.http.has_value(); }));
  http_index.reserve(http_count);
  requests.reserve(http_count);
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    if (tasks[i].http) {
      http_index.push_back(i);
      requests.push_back(std::move(*tasks[i].http));
    } else if (tasks[i].process) {
      process_index.push_back(i);
      processes.push_back(std::move(*tasks[i].process));
    } else {
      blocking_index.push_back(i);
    }
  }

  auto guarded = [&](std::size_t index, auto&& produce) {
    Result result;
    try {
      result = produce();
    } catch (const std::exception& e) {
      result = failed(e);
    }
    deliver(index, Finished(std::move(result)));
  };

  std::vector<std::thread> threads;
  std::exception_ptr http_error, process_error;
  if (!requests.empty()) {
    threads.emplace_back([&] {
      try {
        util::http_requests(requests, limits.concurrency, limits.per_target,
                            [&](std::size_t i, util::HttpResponse response) {
                              auto index = http_index[i];
                              deliver(index, Finished(std::move(tasks[index].on_http), std::move(response)));
                            });
      } catch (...) {
        http_error = std::current_exception();
      }
    });
  }
  if (!processes.empty()) {
    threads.emplace_back([&] {
      try {
        util::run_processes(processes, limits.concurrency, [&](std::size_t i, util::ProcessResult r) {
          auto index = process_index[i];
          guarded(index, [&] { return tasks[index].on_process(r); });
        });
      } catch (...) {
        process_error = std::current_exception();
      }
    });
  }
  std::atomic<std::size_t> next{0};
  auto workers = std::min(std::max<std::size_t>(limits.workers, 1), blocking_index.size());
  for (std::size_t w = 0; w < workers; ++w) {
    threads.emplace_back([&] {
      for (auto i = next++; i < blocking_index.size(); i = next++) {
        auto index = blocking_index[i];
        guarded(index, [&] { return tasks[index].blocking(); });
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  if (http_error) {
    std::rethrow_exception(http_error);
  }
  if (process_error) {
    std::rethrow_exception(process_error);
  }
}

} // namespace has::probe
