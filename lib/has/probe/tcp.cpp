// The tcp probe: connect (non-blocking, bounded by the timeout), optionally
// send a line, and, when `expect` is given, read the reply until it shows up.
// The reply is read only when `expect` asks for it, so a plain port check
// never waits for a server that does not speak first.

#include <has/probe/fields.hpp>
#include <has/probe/http_text.hpp>
#include <has/probe/kinds.hpp>

#include <has/core/error.hpp>

#include <fmt/format.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <memory>
#include <system_error>
#include <utility>

namespace has::probe {

namespace {

using Clock = std::chrono::steady_clock;

// Bytes of reply kept while looking for `expect`.
constexpr std::size_t k_max_read = 64 * 1024;
constexpr std::size_t k_evidence_bytes = 2048;

// Owns a socket and closes it on every path out.
class Socket {
public:
  explicit Socket(int fd) : m_fd(fd) {}
  ~Socket() {
    if (m_fd >= 0) {
      ::close(m_fd);
    }
  }
  Socket(Socket&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
  Socket& operator=(Socket&& other) noexcept {
    std::swap(m_fd, other.m_fd);
    return *this;
  }
  int get() const { return m_fd; }
  bool valid() const { return m_fd >= 0; }

private:
  int m_fd;
};

struct AddrinfoFree {
  void operator()(addrinfo* list) const { freeaddrinfo(list); }
};

// errno as a lower-case phrase ("connection refused"), to sit mid-sentence.
std::string errno_text(int code) {
  auto text = std::error_code(code, std::generic_category()).message();
  if (!text.empty()) {
    text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  }
  return text;
}

std::string endpoint(const std::string& host, std::int64_t port) {
  return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port) : fmt::format("{}:{}", host, port);
}

std::string numeric_address(const sockaddr* address, socklen_t length) {
  char text[NI_MAXHOST] = {};
  if (getnameinfo(address, length, text, sizeof text, nullptr, 0, NI_NUMERICHOST) != 0) {
    return {};
  }
  return text;
}

enum class Wait { ready, timed_out };

// Waits until fd has one of events or the deadline passes.
Wait wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      return Wait::timed_out;
    }
    pollfd entry{fd, events, 0};
    int ready = ::poll(&entry, 1, static_cast<int>(std::min<long long>(left, 60'000)));
    if (ready > 0) {
      return Wait::ready;
    }
    if (ready < 0 && errno != EINTR) {
      throw core::Error(core::ExitCode::failure, "tcp probe: poll() failed", errno_text(errno));
    }
  }
}

struct Params {
  std::string host;
  std::int64_t port = 0;
  std::chrono::milliseconds timeout{};
  std::optional<std::string> send, expect;
};

struct Connected {
  Socket socket{-1};
  std::string address;
  std::string failure; // why no connection was made; empty when connected
};

// Tries each address of the host in turn, all within one deadline.
Connected connect_to(const Params& params, Clock::time_point deadline) {
  Connected out;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  auto port = std::to_string(params.port);
  if (int rc = getaddrinfo(params.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    out.failure = fmt::format("cannot resolve '{}': {}", params.host,
                              rc == EAI_SYSTEM ? errno_text(errno) : std::string(gai_strerror(rc)));
    return out;
  }
  std::unique_ptr<addrinfo, AddrinfoFree> list(found);

  int last_error = 0;
  for (auto* ai = list.get(); ai != nullptr; ai = ai->ai_next) {
    Socket socket(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
    if (!socket.valid()) {
      last_error = errno;
      continue;
    }
    int error = 0;
    if (::connect(socket.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
      error = errno;
      if (error == EINPROGRESS) {
        if (wait_for(socket.get(), POLLOUT, deadline) == Wait::timed_out) {
          out.failure = fmt::format("timed out after {} ms connecting to {}", params.timeout.count(),
                                    endpoint(params.host, params.port));
          return out;
        }
        socklen_t length = sizeof error;
        if (::getsockopt(socket.get(), SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
          error = errno;
        }
      }
    }
    if (error == 0) {
      out.address = numeric_address(ai->ai_addr, ai->ai_addrlen);
      out.socket = std::move(socket);
      return out;
    }
    last_error = error;
  }
  out.failure = fmt::format("{} to {}", errno_text(last_error), endpoint(params.host, params.port));
  return out;
}

// Writes all of data, or returns why not.
std::optional<std::string> send_all(int fd, std::string_view data, Clock::time_point deadline,
                                    std::chrono::milliseconds timeout) {
  while (!data.empty()) {
    auto n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (wait_for(fd, POLLOUT, deadline) == Wait::timed_out) {
        return fmt::format("timed out after {} ms sending", timeout.count());
      }
    } else if (errno != EINTR) {
      return fmt::format("sending failed: {}", errno_text(errno));
    }
  }
  return std::nullopt;
}

struct Reply {
  std::string data;
  bool found = false;
  std::string stopped; // why reading ended without finding `expect`
};

// Reads until `expect` appears, the peer closes, the deadline passes or
// k_max_read bytes have come.
Reply read_until(int fd, const std::string& expect, Clock::time_point deadline, std::chrono::milliseconds timeout) {
  Reply reply;
  char chunk[4096];
  while (reply.data.size() < k_max_read) {
    if (wait_for(fd, POLLIN, deadline) == Wait::timed_out) {
      reply.stopped = fmt::format("timed out after {} ms", timeout.count());
      return reply;
    }
    auto n = ::recv(fd, chunk, std::min(sizeof chunk, k_max_read - reply.data.size()), 0);
    if (n == 0) {
      reply.stopped = "the connection was closed";
      return reply;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        continue;
      }
      reply.stopped = errno_text(errno);
      return reply;
    }
    // Search only where a new match can start: the tail of the old data on.
    auto from = reply.data.size() >= expect.size() ? reply.data.size() - expect.size() + 1 : 0;
    reply.data.append(chunk, static_cast<std::size_t>(n));
    if (reply.data.find(expect, from) != std::string::npos) {
      reply.found = true;
      return reply;
    }
  }
  reply.stopped = fmt::format("{} KiB read", k_max_read / 1024);
  return reply;
}

Result check(const Params& params) {
  auto start = Clock::now();
  auto deadline = start + params.timeout;
  Result result;
  auto& values = result.values;
  values["host"] = params.host;
  values["port"] = params.port;

  auto connection = connect_to(params, deadline);
  auto connect_ms = elapsed_ms_since(start);
  values["connected"] = connection.failure.empty();
  values["elapsed_ms"] = connect_ms;
  if (!connection.failure.empty()) {
    result.status = Status::critical;
    result.message = connection.failure;
    values["error"] = connection.failure;
    result.elapsed_ms = elapsed_ms_since(start);
    return result;
  }
  values["address"] = connection.address;
  result.message = fmt::format("connected to {} in {:.0f} ms", endpoint(params.host, params.port), connect_ms);

  std::optional<std::string> failure;
  if (params.send) {
    failure = send_all(connection.socket.get(), *params.send, deadline, params.timeout);
  }
  if (!failure && params.expect) {
    auto reply = read_until(connection.socket.get(), *params.expect, deadline, params.timeout);
    if (!reply.data.empty()) {
      values["banner"] = utf8_text(reply.data);
      result.evidence = excerpt(reply.data, k_evidence_bytes);
    }
    if (reply.found) {
      result.message += fmt::format(", '{}' found in the reply", utf8_text(*params.expect));
    } else {
      failure = fmt::format("'{}' not found in the reply ({})", utf8_text(*params.expect), reply.stopped);
    }
  }
  if (failure) {
    result.status = Status::critical;
    result.message = *failure;
    values["error"] = *failure;
  }
  result.elapsed_ms = elapsed_ms_since(start);
  return result;
}

[[noreturn]] void bad_field(std::string_view field, std::string_view what) {
  throw core::Error(core::ExitCode::bad_definitions, fmt::format("tcp probe: field '{}' {}", field, what));
}

} // namespace

Task make_tcp(const Spec& spec) {
  Fields fields("tcp", spec.fields);
  Params params;
  params.host = fields.optional_string("host").value_or("127.0.0.1");
  // An IPv6 literal may be written as in a URL: [::1].
  if (params.host.size() > 2 && params.host.front() == '[' && params.host.back() == ']') {
    params.host = params.host.substr(1, params.host.size() - 2);
  }
  if (params.host.empty()) {
    bad_field("host", "must not be empty");
  }
  params.port = fields.integer("port");
  if (params.port < 1 || params.port > 65535) {
    bad_field("port", fmt::format("must be between 1 and 65535, not {}", params.port));
  }
  params.timeout = fields.duration("timeout").value_or(spec.timeout);
  if (params.timeout.count() <= 0) {
    bad_field("timeout", "must be longer than zero");
  }
  params.send = fields.optional_string("send");
  params.expect = fields.optional_string("expect");
  if (params.expect && params.expect->empty()) {
    bad_field("expect", "must not be empty (leave it out to only check the connection)");
  }

  Task task;
  task.blocking = [params = std::move(params)] { return check(params); };
  return task;
}

} // namespace has::probe
