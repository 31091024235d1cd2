#include <has/probe/kinds.hpp>
#include <has/probe/runner.hpp>

#include <has/core/error.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

using has::probe::Result;
using has::probe::Spec;
using has::probe::Status;
using has::probe::Task;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// Owns a test socket.
class Fd {
public:
  explicit Fd(int fd = -1) : m_fd(fd) {}
  ~Fd() {
    if (m_fd >= 0) {
      ::close(m_fd);
    }
  }
  Fd(Fd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    std::swap(m_fd, other.m_fd);
    return *this;
  }
  int get() const { return m_fd; }

private:
  int m_fd;
};

// Binds a TCP socket to port 0 of a loopback address and returns it with
// the port; fd -1 when the address is not available here.
std::pair<Fd, int> bind_loopback(int family) {
  Fd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) {
    return {Fd(), 0};
  }
  sockaddr_storage storage{};
  socklen_t length = 0;
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&storage);
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    length = sizeof *in;
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
    in6->sin6_family = AF_INET6;
    in6->sin6_addr = in6addr_loopback;
    length = sizeof *in6;
  }
  auto* address = reinterpret_cast<sockaddr*>(&storage);
  if (::bind(fd.get(), address, length) != 0 || ::getsockname(fd.get(), address, &length) != 0) {
    return {Fd(), 0};
  }
  int port = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&storage)->sin_port
                                     : reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port);
  return {std::move(fd), port};
}

// What the test server does with each connection.
enum class Behaviour {
  banner,   // writes "SSH-2.0-test\r\n" and keeps the connection open
  other,    // writes "HELLO\r\n" and closes
  silent,   // writes nothing and keeps the connection open
  echo_line // reads a line and answers "you said: <line>"
};

// A TCP server on a loopback address, accepting in its own thread.
class TcpServer {
public:
  explicit TcpServer(Behaviour behaviour, int family = AF_INET) : m_behaviour(behaviour) {
    auto [fd, port] = bind_loopback(family);
    if (fd.get() < 0) {
      return;
    }
    REQUIRE(::listen(fd.get(), 16) == 0);
    m_listener = std::move(fd);
    m_port = port;
    m_thread = std::thread([this] { serve(); });
  }
  ~TcpServer() {
    m_stopping = true;
    if (m_thread.joinable()) {
      m_thread.join();
    }
  }
  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;

  bool running() const { return m_port > 0; }
  int port() const { return m_port; }

private:
  void serve() {
    std::vector<Fd> open;
    while (!m_stopping) {
      pollfd entry{m_listener.get(), POLLIN, 0};
      if (::poll(&entry, 1, 20) <= 0) {
        continue;
      }
      Fd client(::accept(m_listener.get(), nullptr, nullptr));
      if (client.get() < 0) {
        continue;
      }
      switch (m_behaviour) {
      case Behaviour::banner:
        write_all(client.get(), "SSH-2.0-test\r\n");
        open.push_back(std::move(client));
        break;
      case Behaviour::other:
        write_all(client.get(), "HELLO\r\n");
        break;
      case Behaviour::silent:
        open.push_back(std::move(client));
        break;
      case Behaviour::echo_line: {
        timeval limit{2, 0}; // never hang the server on a client that sends no line
        ::setsockopt(client.get(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
        std::string line;
        char c = 0;
        while (::read(client.get(), &c, 1) == 1 && c != '\n') {
          line += c;
        }
        write_all(client.get(), "you said: " + line + "\n");
        break;
      }
      }
    }
  }
  // No assertion here (this is not the test's thread): a short write shows
  // up in the probe's result. MSG_NOSIGNAL: a client gone is no SIGPIPE.
  static void write_all(int fd, const std::string& text) {
    (void)::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
  }

  Behaviour m_behaviour;
  Fd m_listener;
  int m_port = 0;
  std::atomic<bool> m_stopping{false};
  std::thread m_thread;
};

Spec tcp_spec(json fields, std::chrono::milliseconds timeout = 5s) {
  return Spec{"tcp", std::move(fields), timeout};
}

std::vector<Result> run(const std::vector<Spec>& specs) {
  std::vector<Task> tasks;
  for (const auto& spec : specs) {
    tasks.push_back(has::probe::make_task(spec));
  }
  std::vector<Result> results(specs.size());
  has::probe::run_tasks(std::move(tasks), {}, [&](std::size_t index, Result result) {
    results.at(index) = std::move(result);
  });
  return results;
}

Result run_one(json fields, std::chrono::milliseconds timeout = 5s) {
  return run({tcp_spec(std::move(fields), timeout)}).at(0);
}

has::core::ExitCode error_code(json fields) {
  try {
    has::probe::make_tcp(tcp_spec(fields));
  } catch (const has::core::Error& e) {
    return e.code();
  }
  FAIL("make_tcp accepted " << fields.dump());
  return has::core::ExitCode::ok;
}

} // namespace

TEST_CASE("probe tcp: a listening port is ok") {
  TcpServer server(Behaviour::silent);
  REQUIRE(server.running());
  // The port may arrive as text after interpolation; host defaults to 127.0.0.1.
  auto result = run_one({{"port", std::to_string(server.port())}});
  CHECK(result.status == Status::ok);
  CHECK(result.values["connected"] == true);
  CHECK(result.values["host"] == "127.0.0.1");
  CHECK(result.values["port"] == server.port());
  CHECK(result.values["address"] == "127.0.0.1");
  CHECK(result.values["elapsed_ms"].is_number());
  CHECK_FALSE(result.values.contains("banner")); // nothing is read without expect
  CHECK(result.message.starts_with("connected to 127.0.0.1:" + std::to_string(server.port()) + " in "));
}

TEST_CASE("probe tcp: an expected banner is found") {
  TcpServer server(Behaviour::banner);
  REQUIRE(server.running());
  auto result = run_one({{"host", "127.0.0.1"}, {"port", server.port()}, {"expect", "SSH-"}});
  CHECK(result.status == Status::ok);
  CHECK(result.values["banner"] == "SSH-2.0-test\r\n");
  CHECK(result.evidence == "SSH-2.0-test\r\n");
  CHECK(result.message.find("'SSH-' found in the reply") != std::string::npos);
}

TEST_CASE("probe tcp: send is written before the reply is read") {
  TcpServer server(Behaviour::echo_line);
  REQUIRE(server.running());
  auto result = run_one({{"port", server.port()}, {"send", "PING\n"}, {"expect", "you said: PING"}});
  CHECK(result.status == Status::ok);
  CHECK(result.values["banner"] == "you said: PING\n");
}

TEST_CASE("probe tcp: a reply without the expected text is critical") {
  TcpServer server(Behaviour::other);
  REQUIRE(server.running());
  auto result = run_one({{"port", server.port()}, {"expect", "SSH-"}});
  CHECK(result.status == Status::critical);
  CHECK(result.values["connected"] == true);
  CHECK(result.values["banner"] == "HELLO\r\n");
  CHECK(result.message == "'SSH-' not found in the reply (the connection was closed)");
  CHECK(result.values["error"] == result.message);
}

TEST_CASE("probe tcp: a server that never answers times out waiting for expect") {
  TcpServer server(Behaviour::silent);
  REQUIRE(server.running());
  auto result = run_one({{"port", server.port()}, {"expect", "SSH-"}, {"timeout", "300ms"}}, 30s);
  CHECK(result.status == Status::critical);
  CHECK(result.values["connected"] == true);
  CHECK_FALSE(result.values.contains("banner"));
  CHECK(result.message == "'SSH-' not found in the reply (timed out after 300 ms)");
  CHECK(result.elapsed_ms >= 290);
}

TEST_CASE("probe tcp: a refused connection is critical") {
  int port = 0;
  {
    auto [fd, bound] = bind_loopback(AF_INET); // bound but not listening: refused
    REQUIRE(fd.get() >= 0);
    port = bound;
  }
  auto result = run_one({{"host", "127.0.0.1"}, {"port", port}});
  CHECK(result.status == Status::critical);
  CHECK(result.values["connected"] == false);
  CHECK(result.message == "connection refused to 127.0.0.1:" + std::to_string(port));
  CHECK(result.values["error"] == result.message);
}

TEST_CASE("probe tcp: a connection that never completes times out") {
  // A listener with backlog 0 that never accepts: once its queue is full the
  // kernel drops further SYNs, so the connect hangs; all on loopback.
  auto [listener, port] = bind_loopback(AF_INET);
  REQUIRE(listener.get() >= 0);
  REQUIRE(::listen(listener.get(), 0) == 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::vector<Fd> fillers;
  bool full = false;
  for (int i = 0; i < 16 && !full; ++i) {
    Fd filler(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    ::connect(filler.get(), reinterpret_cast<sockaddr*>(&address), sizeof address);
    pollfd entry{filler.get(), POLLOUT, 0};
    full = ::poll(&entry, 1, 200) == 0;
    fillers.push_back(std::move(filler));
  }
  if (!full) {
    MESSAGE("skipped: this kernel completes connections beyond a full listen queue");
    return;
  }
  auto result = run_one({{"port", port}, {"timeout", "300ms"}});
  CHECK(result.status == Status::critical);
  CHECK(result.values["connected"] == false);
  CHECK(result.message == "timed out after 300 ms connecting to 127.0.0.1:" + std::to_string(port));
}

TEST_CASE("probe tcp: IPv6 loopback works - with or without brackets") {
  TcpServer server(Behaviour::banner, AF_INET6);
  if (!server.running()) {
    MESSAGE("skipped: ::1 is not available here");
    return;
  }
  auto results = run({
    tcp_spec({{"host", "::1"}, {"port", server.port()}, {"expect", "SSH-"}}),
    tcp_spec({{"host", "[::1]"}, {"port", server.port()}}),
  });
  for (const auto& result : results) {
    CHECK(result.status == Status::ok);
    CHECK(result.values["host"] == "::1");
    CHECK(result.values["address"] == "::1");
    CHECK(result.message.starts_with("connected to [::1]:" + std::to_string(server.port())));
  }
}

TEST_CASE("probe tcp: many checks run at once") {
  TcpServer open(Behaviour::banner);
  REQUIRE(open.running());
  std::vector<Spec> specs;
  for (int i = 0; i < 20; ++i) {
    specs.push_back(tcp_spec({{"port", open.port()}, {"expect", "SSH-"}}));
  }
  for (const auto& result : run(specs)) {
    CHECK(result.status == Status::ok);
    CHECK(result.values["banner"] == "SSH-2.0-test\r\n");
  }
}

TEST_CASE("probe tcp: wrong fields are definition errors") {
  using has::core::ExitCode;
  CHECK(error_code(json::object()) == ExitCode::bad_definitions);
  CHECK(error_code({{"port", 0}}) == ExitCode::bad_definitions);
  CHECK(error_code({{"port", 65536}}) == ExitCode::bad_definitions);
  CHECK(error_code({{"port", "ssh"}}) == ExitCode::bad_definitions);
  CHECK(error_code({{"port", 22}, {"host", ""}}) == ExitCode::bad_definitions);
  CHECK(error_code({{"port", 22}, {"expect", ""}}) == ExitCode::bad_definitions);
  CHECK(error_code({{"port", 22}, {"timeout", "0"}}) == ExitCode::bad_definitions);
  CHECK(error_code({{"port", 22}, {"send", {"a", "b"}}}) == ExitCode::bad_definitions);
  auto task = has::probe::make_tcp(tcp_spec({{"port", 22}}));
  CHECK(task.blocking);
  CHECK_FALSE(task.http);
}
