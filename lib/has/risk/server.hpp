#pragma once

// An HTTP receiver for risk events from outside: Alertmanager's webhook,
// PagerDuty's Events API v2 and has's JSON form, each request applied to
// the state file in one transaction.

#include <has/risk/ingest.hpp>

#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace has::risk {

// One request, as the log shows it.
struct Access {
  std::string method;
  std::string path;
  std::string remote;
  int status = 0;
  std::vector<Applied> applied;
  std::string error;
  double elapsed_ms = 0;
};

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 9095; // 0: any free port (on_listening tells which)
  std::optional<std::string> token; // when set, requests need "Authorization: Bearer TOKEN"
  std::size_t max_body = 1024 * 1024;
  std::function<bool()> stop;                    // polled; true ends serve()
  std::function<void(int port)> on_listening;    // once, when the socket is bound
  std::function<void(const Access&)> on_request; // after every request
  // After the alerts of a request are recorded (before it is answered);
  // must not block for long (hand work to another thread).
  std::function<void(const std::vector<Applied>&)> on_applied;
};

// Serves POST /alertmanager, POST /v2/enqueue (PagerDuty), POST /events
// (any of the formats) and GET /healthz until options.stop() returns true.
// Throws core::Error(ExitCode::io) when it cannot listen.
void serve(const std::filesystem::path& state_file, const ServeOptions& options);

} // namespace has::risk
