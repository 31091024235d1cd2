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

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

using has::probe::Result;
using has::probe::Spec;
using has::probe::Status;
using has::probe::Task;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// How the fake server treats queries.
enum class Mode {
  answer,     // answers as described at FakeDns
  drop_first, // ignores the first query, then answers
  silent,     // never answers
};

// A tiny DNS server on 127.0.0.1 (a free UDP port) that knows a few names:
// svc.test has A 10.1.2.3 (behind a CNAME record) and AAAA fd00::1;
// gone.test is NXDOMAIN; empty.test exists without addresses; every other
// name is REFUSED. The addresses are only data in the replies.
class FakeDns {
public:
  explicit FakeDns(Mode mode = Mode::answer) : m_mode(mode) {
    m_fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(m_fd >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    REQUIRE(::bind(m_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::getsockname(m_fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    m_port = ntohs(address.sin_port);
    m_thread = std::thread([this] { serve(); });
  }
  ~FakeDns() {
    m_stopping = true;
    m_thread.join();
    ::close(m_fd);
  }
  FakeDns(const FakeDns&) = delete;
  FakeDns& operator=(const FakeDns&) = delete;

  std::string server() const { return "127.0.0.1:" + std::to_string(m_port); }

  // The (name, qtype) of every query received.
  std::vector<std::pair<std::string, int>> queries() {
    std::lock_guard lock(m_mutex);
    return m_queries;
  }

private:
  static void put16(std::string& out, int value) {
    out.push_back(static_cast<char>((value >> 8) & 0xFF));
    out.push_back(static_cast<char>(value & 0xFF));
  }
  // A record whose owner is the question's name (a pointer to offset 12).
  static void put_record(std::string& out, int type, const std::string& data) {
    out += "\xC0\x0C";
    put16(out, type);
    put16(out, 1);
    out += std::string("\x00\x00\x00\x3C", 4); // TTL 60
    put16(out, static_cast<int>(data.size()));
    out += data;
  }

  void serve() {
    bool dropped = false;
    while (!m_stopping) {
      pollfd entry{m_fd, POLLIN, 0};
      if (::poll(&entry, 1, 20) <= 0) {
        continue;
      }
      char buffer[512];
      sockaddr_storage peer{};
      socklen_t peer_length = sizeof peer;
      auto n = ::recvfrom(m_fd, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&peer), &peer_length);
      if (n < 17) {
        continue;
      }
      std::string query(buffer, static_cast<std::size_t>(n));
      // Decode the question's name (queries carry no compression).
      std::string name;
      std::size_t pos = 12;
      while (pos < query.size() && query[pos] != 0) {
        auto length = static_cast<unsigned char>(query[pos]);
        name += (name.empty() ? "" : ".") + query.substr(pos + 1, length);
        pos += length + 1;
      }
      if (pos + 5 > query.size()) {
        continue;
      }
      int qtype = (static_cast<unsigned char>(query[pos + 1]) << 8) | static_cast<unsigned char>(query[pos + 2]);
      {
        std::lock_guard lock(m_mutex);
        m_queries.emplace_back(name, qtype);
      }
      if (m_mode == Mode::silent || (m_mode == Mode::drop_first && !dropped)) {
        dropped = true;
        continue;
      }

      int rcode = 0;
      std::vector<std::pair<int, std::string>> answers;
      if (name == "svc.test") {
        if (qtype == 1) {
          answers.emplace_back(5, std::string("\x04real\xC0\x10", 7)); // CNAME real.test
          answers.emplace_back(1, std::string("\x0A\x01\x02\x03", 4));
        } else if (qtype == 28) {
          answers.emplace_back(28, std::string("\xFD\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01", 16));
        }
      } else if (name == "gone.test") {
        rcode = 3;
      } else if (name != "empty.test") {
        rcode = 5;
      }
      std::string reply = query.substr(0, 2);
      put16(reply, 0x8180 | rcode);
      put16(reply, 1);
      put16(reply, static_cast<int>(answers.size()));
      put16(reply, 0);
      put16(reply, 0);
      reply += query.substr(12, pos + 5 - 12);
      for (const auto& [type, data] : answers) {
        put_record(reply, type, data);
      }
      ::sendto(m_fd, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&peer), peer_length);
    }
  }

  Mode m_mode;
  int m_fd = -1;
  int m_port = 0;
  std::atomic<bool> m_stopping{false};
  std::mutex m_mutex;
  std::vector<std::pair<std::string, int>> m_queries;
  std::thread m_thread;
};

Spec dns_spec(json fields, std::chrono::milliseconds timeout = 5s) {
  return Spec{"dns", std::move(fields), timeout};
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
  return run({dns_spec(std::move(fields), timeout)}).at(0);
}

std::vector<std::string> addresses(const Result& result) {
  return result.values.at("addresses").get<std::vector<std::string>>();
}

has::core::ExitCode error_code(json fields) {
  try {
    has::probe::make_dns(dns_spec(fields));
  } catch (const has::core::Error& e) {
    return e.code();
  }
  FAIL("make_dns accepted " << fields.dump());
  return has::core::ExitCode::ok;
}

} // namespace

TEST_CASE("probe dns: localhost resolves through the system resolver") {
  auto result = run_one({{"name", "localhost"}, {"expect", "127.0.0.1"}});
  CHECK(result.status == Status::ok);
  auto found = addresses(result);
  CHECK(std::find(found.begin(), found.end(), "127.0.0.1") != found.end());
  CHECK(std::is_sorted(found.begin(), found.end()));
  CHECK(result.values["count"] == found.size());
  CHECK(result.values["type"] == "A");
  CHECK(result.values["elapsed_ms"].is_number());
  CHECK_FALSE(result.values.contains("server"));
  CHECK(result.message.starts_with("'localhost' resolved to "));
}

TEST_CASE("probe dns: a missing expected address is critical and named") {
  auto result = run_one({{"name", "localhost"}, {"expect", json::array({"127.0.0.1", "10.9.9.9"})}});
  CHECK(result.status == Status::critical);
  CHECK(result.values["missing"] == json::array({"10.9.9.9"}));
  CHECK(result.message.starts_with("'localhost' does not resolve to 10.9.9.9 (it resolves to "));
}

TEST_CASE("probe dns: a name that does not exist is critical") {
  auto result = run_one({{"name", "does-not-exist.invalid"}});
  CHECK(result.status == Status::critical);
  CHECK(result.message.find("does-not-exist.invalid") != std::string::npos);
  CHECK(result.values["error"] == result.message);
  CHECK(result.values["count"] == 0);
  CHECK(result.values["addresses"] == json::array());
}

TEST_CASE("probe dns: a server is asked directly over UDP") {
  FakeDns dns;
  auto result = run_one({{"name", "svc.test"}, {"server", dns.server()}, {"expect", "10.1.2.3"}});
  CHECK(result.status == Status::ok);
  CHECK(addresses(result) == std::vector<std::string>{"10.1.2.3"}); // the CNAME record is passed over
  CHECK(result.values["count"] == 1);
  CHECK(result.values["server"] == "127.0.0.1");
  CHECK(result.message.starts_with("'svc.test' resolved to 10.1.2.3 in "));
  CHECK(dns.queries() == std::vector<std::pair<std::string, int>>{{"svc.test", 1}});
}

TEST_CASE("probe dns: a missing expected address from a server is named") {
  FakeDns dns;
  auto result =
    run_one({{"name", "svc.test"}, {"server", dns.server()}, {"expect", json::array({"10.1.2.3", "10.9.9.9"})}});
  CHECK(result.status == Status::critical);
  CHECK(addresses(result) == std::vector<std::string>{"10.1.2.3"});
  CHECK(result.values["missing"] == json::array({"10.9.9.9"}));
  CHECK(result.message == "'svc.test' does not resolve to 10.9.9.9 (it resolves to 10.1.2.3)");
}

TEST_CASE("probe dns: AAAA and ANY ask for the right records") {
  FakeDns dns;
  auto results = run({
    dns_spec({{"name", "svc.test."}, {"type", "aaaa"}, {"server", dns.server()}, {"expect", "FD00:0::1"}}),
    dns_spec({{"name", "svc.test"}, {"type", "ANY"}, {"server", dns.server()}}),
  });
  CHECK(results[0].status == Status::ok);
  CHECK(addresses(results[0]) == std::vector<std::string>{"fd00::1"});
  CHECK(results[1].status == Status::ok);
  CHECK(addresses(results[1]) == std::vector<std::string>{"10.1.2.3", "fd00::1"});
  auto queries = dns.queries();
  std::sort(queries.begin(), queries.end());
  CHECK(queries == std::vector<std::pair<std::string, int>>{{"svc.test", 1}, {"svc.test", 28}, {"svc.test", 28}});
}

TEST_CASE("probe dns: a server's negative answers are critical") {
  FakeDns dns;
  auto results = run({
    dns_spec({{"name", "gone.test"}, {"server", dns.server()}}),
    dns_spec({{"name", "empty.test"}, {"server", dns.server()}}),
    dns_spec({{"name", "other.test"}, {"server", dns.server()}}),
  });
  CHECK(results[0].status == Status::critical);
  CHECK(results[0].message == "'gone.test' does not resolve (NXDOMAIN from 127.0.0.1)");
  CHECK(results[1].status == Status::critical);
  CHECK(results[1].message == "127.0.0.1 has no A record for 'empty.test'");
  CHECK(results[2].status == Status::critical);
  CHECK(results[2].message == "127.0.0.1 answered REFUSED for 'other.test'");
}

TEST_CASE("probe dns: a lost query is sent again") {
  FakeDns dns(Mode::drop_first);
  auto result = run_one({{"name", "svc.test"}, {"server", dns.server()}, {"timeout", "5s"}});
  CHECK(result.status == Status::ok);
  CHECK(addresses(result) == std::vector<std::string>{"10.1.2.3"});
  CHECK(dns.queries().size() == 2);
}

TEST_CASE("probe dns: a server that never answers times out") {
  FakeDns dns(Mode::silent);
  auto result = run_one({{"name", "svc.test"}, {"server", dns.server()}, {"timeout", "300ms"}}, 30s);
  CHECK(result.status == Status::critical);
  CHECK(result.message == "no reply from 127.0.0.1 within 300 ms");
  CHECK(result.values["count"] == 0);
}

TEST_CASE("probe dns: wrong fields are definition errors") {
  using has::core::ExitCode;
  CHECK(error_code(json::object()) == ExitCode::bad_definitions);
  CHECK(error_code({{"name", ""}}) == ExitCode::bad_definitions);
  CHECK(error_code({{"name", "a..b"}}) == ExitCode::bad_definitions);
  CHECK(error_code({{"name", std::string(64, 'a') + ".test"}}) == ExitCode::bad_definitions);
  CHECK(error_code({{"name", "a.test"}, {"type", "MX"}}) == ExitCode::bad_definitions);
  CHECK(error_code({{"name", "a.test"}, {"server", "127.0.0.1:0"}}) == ExitCode::bad_definitions);
  CHECK(error_code({{"name", "a.test"}, {"server", "127.0.0.1:dns"}}) == ExitCode::bad_definitions);
  CHECK(error_code({{"name", "a.test"}, {"server", "[::1"}}) == ExitCode::bad_definitions);
  CHECK(error_code({{"name", "a.test"}, {"expect", "not-an-ip"}}) == ExitCode::bad_definitions);
  CHECK(error_code({{"name", "a.test"}, {"expect", "::1"}}) == ExitCode::bad_definitions); // type A
  CHECK(error_code({{"name", "a.test"}, {"timeout", "0"}}) == ExitCode::bad_definitions);
  CHECK_NOTHROW(has::probe::make_dns(dns_spec({{"name", "a.test"}, {"server", "[::1]:5353"}})));
  CHECK_NOTHROW(has::probe::make_dns(dns_spec({{"name", "a.test"}, {"server", "::1"}, {"type", "ANY"}})));
}
