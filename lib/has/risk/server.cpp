#include <has/risk/server.hpp>

#include <has/core/error.hpp>
#include <has/state/store.hpp>

#include <fmt/format.h>
#include <httplib.h>

#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <mutex>
#include <thread>

namespace has::risk {

namespace {

using nlohmann::json;

// Compares in time that does not depend on where the strings differ.
bool same_secret(std::string_view given, std::string_view expected) {
  unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < given.size(); ++i) {
    diff |= static_cast<unsigned char>(given[i] ^ expected[i % (expected.empty() ? 1 : expected.size())]);
  }
  return diff == 0 && !expected.empty();
}

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump() + "\n", "application/json");
}

} // namespace

void serve(const std::filesystem::path& state_file, const ServeOptions& options) {
  auto store = state::Store::open(state_file);
  std::mutex store_mutex;
  httplib::Server server;
  server.set_payload_max_length(options.max_body);
  // SO_REUSEADDR only: with SO_REUSEPORT (cpp-httplib's default) a second
  // receiver on the same port would bind too and take half the alerts.
  server.set_socket_options([](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  server.set_read_timeout(10, 0);
  server.set_write_timeout(10, 0);

  // The sender is told what is wrong with its request; a state file that
  // cannot be written is the receiver's fault (503: the sender retries).
  auto bearer_ok = [&](const httplib::Request& req) {
    const auto header = req.get_header_value("Authorization");
    constexpr std::string_view scheme = "Bearer ";
    return header.rfind(scheme, 0) == 0 && same_secret(std::string_view(header).substr(scheme.size()), *options.token);
  };
  auto ingest = [&](const httplib::Request& req, httplib::Response& res, Format format, bool pagerduty) {
    // PagerDuty's senders authenticate by the routing key in the body.
    if (options.token && !bearer_ok(req)) {
      auto doc = pagerduty ? json::parse(req.body, nullptr, false) : json();
      if (!pagerduty || !doc.is_object() || !same_secret(doc.value("routing_key", std::string()), *options.token)) {
        res.set_header("WWW-Authenticate", "Bearer");
        reply(res, 401, {{"error", pagerduty ? "the routing_key does not match" : "missing or wrong bearer token"}});
        return;
      }
    }
    std::vector<Incoming> alerts;
    try {
      alerts = risk::parse(req.body, format);
    } catch (const core::Error& e) {
      if (pagerduty) {
        reply(res, 400, {{"status", "invalid event"}, {"message", "Event object is invalid"}, {"errors", {e.what()}}});
      } else {
        reply(res, 400, {{"error", e.what()}});
      }
      return;
    }
    std::vector<Applied> applied;
    try {
      std::lock_guard lock(store_mutex);
      applied = risk::apply(store, alerts);
    } catch (const std::exception& e) {
      reply(res, 503, {{"error", fmt::format("cannot record the events: {}", e.what())}});
      return;
    }
    if (options.on_applied) {
      options.on_applied(applied);
    }
    if (pagerduty) {
      const auto& fingerprint = alerts.front().fingerprint;
      reply(res, 202, {{"status", "success"},
                       {"message", "Event processed"},
                       {"dedup_key", fingerprint.substr(fingerprint.find(':') + 1)},
                       {"applied", risk::to_json(applied)}});
      return;
    }
    reply(res, 200, {{"applied", risk::to_json(applied)}});
  };

  server.Post("/alertmanager", [&](const httplib::Request& req, httplib::Response& res) {
    ingest(req, res, Format::alertmanager, false);
  });
  server.Post("/v2/enqueue", [&](const httplib::Request& req, httplib::Response& res) {
    ingest(req, res, Format::pagerduty, true);
  });
  server.Post("/events", [&](const httplib::Request& req, httplib::Response& res) {
    ingest(req, res, Format::automatic, false);
  });
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) { reply(res, 200, {{"status", "ok"}}); });
  for (const char* path : {"/alertmanager", "/v2/enqueue", "/events"}) {
    server.Get(path, [](const httplib::Request&, httplib::Response& res) {
      res.set_header("Allow", "POST");
      reply(res, 405, {{"error", "use POST"}});
    });
  }
  server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) {
      const char* what = res.status == 404   ? "no such endpoint (POST /alertmanager, /v2/enqueue or /events)"
                         : res.status == 413 ? "the request body is too large"
                                             : "bad request";
      reply(res, res.status, {{"error", what}});
    }
  });
  server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    reply(res, 500, {{"error", "internal error"}});
  });
  server.set_logger([&](const httplib::Request& req, const httplib::Response& res) {
    if (!options.on_request) {
      return;
    }
    Access access;
    access.method = req.method;
    access.path = req.path;
    access.remote = req.remote_addr;
    access.status = res.status;
    auto body = json::parse(res.body, nullptr, false);
    if (body.is_object()) {
      if (body.contains("error") && body["error"].is_string()) {
        access.error = body["error"].get<std::string>();
      } else if (body.contains("errors") && body["errors"].is_array() && !body["errors"].empty()) {
        access.error = body["errors"][0].dump();
      }
      for (const auto& item : body.value("applied", json::array())) {
        access.applied.push_back({item.value("fingerprint", ""),
                                  item["event_id"].is_number() ? std::optional(item["event_id"].get<std::int64_t>())
                                                               : std::nullopt,
                                  item.value("outcome", "")});
      }
    }
    options.on_request(access);
  });

  int port = options.port;
  if (port == 0) {
    port = server.bind_to_any_port(options.host);
    if (port < 0) {
      port = 0;
    }
  } else if (!server.bind_to_port(options.host, port)) {
    port = 0;
  }
  if (port == 0) {
    throw core::Error(core::ExitCode::io,
                      fmt::format("cannot listen on {}:{}", options.host, options.port),
                      std::strerror(errno), "choose another address with --listen HOST:PORT");
  }
  if (options.on_listening) {
    options.on_listening(port);
  }
  std::atomic<bool> done{false};
  // stop() does nothing before the server runs: keep asking until it ends.
  std::jthread watcher([&] {
    while (!done.load()) {
      if (options.stop && options.stop()) {
        server.stop();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  server.listen_after_bind();
  done = true;
}

} // namespace has::risk
