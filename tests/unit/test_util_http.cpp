#include <has/util/http.hpp>

#include <has/util/process.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>
#include <httplib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

using has::util::http_request;
using has::util::http_requests;
using has::util::HttpRequest;
using has::util::HttpResponse;
using has::util::Redirects;
using has::util::TlsVerify;
using namespace std::chrono_literals;

namespace {

// A cpp-httplib server on 127.0.0.1 (a free port), serving in its own thread
// for the life of the object.
class TestServer {
public:
  explicit TestServer(std::unique_ptr<httplib::Server> server = std::make_unique<httplib::Server>())
    : m_server(std::move(server)) {
    auto& s = *m_server;
    s.set_keep_alive_max_count(1000);
    s.set_keep_alive_timeout(1);
    s.Get("/hello", [](const httplib::Request&, httplib::Response& res) {
      res.set_header("X-Test", "yes");
      res.set_content("hello", "text/plain");
    });
    auto echo = [](const httplib::Request& req, httplib::Response& res) {
      res.status = req.method == "POST" ? 201 : 200;
      res.set_content("method=" + req.method + " type=" + req.get_header_value("Content-Type") +
                          " custom=" + req.get_header_value("X-Custom") + " expect=" +
                          req.get_header_value("Expect") + " body=" + req.body,
                      "text/plain");
    };
    s.Get("/echo", echo);
    s.Post("/echo", echo);
    s.Put("/echo", echo);
    s.Delete("/echo", echo);
    s.Get(R"(/status/(\d+))", [](const httplib::Request& req, httplib::Response& res) {
      res.status = std::stoi(req.matches[1]);
      res.set_content("status", "text/plain");
    });
    s.Get("/redirect", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/hello"); });
    s.Get("/loop", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/loop"); });
    s.Get("/slow", [this](const httplib::Request&, httplib::Response& res) {
      for (int i = 0; i < 300 && !m_stopping; ++i) {
        std::this_thread::sleep_for(10ms);
      }
      res.set_content("late", "text/plain");
    });
    s.Get("/big", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string(300000, 'b'), "application/octet-stream");
    });
    s.Get("/cookie/set", [](const httplib::Request&, httplib::Response& res) {
      res.set_header("Set-Cookie", "session=abc123; Path=/");
      res.set_content("set", "text/plain");
    });
    s.Get("/cookie/get", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(req.get_header_value("Cookie"), "text/plain");
    });
    s.Get(R"(/item/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
      int now = ++m_active;
      {
        std::lock_guard lock(m_mutex);
        m_most_active = std::max(m_most_active, now);
        m_client_ports.insert(req.remote_port);
      }
      std::this_thread::sleep_for(2ms);
      --m_active;
      res.set_content("item-" + std::string(req.matches[1]), "text/plain");
    });
    m_port = s.bind_to_any_port("127.0.0.1");
    REQUIRE(m_port > 0);
    m_thread = std::thread([this] { m_server->listen_after_bind(); });
  }
  ~TestServer() {
    m_stopping = true;
    m_server->stop();
    m_thread.join();
  }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  std::string url(const std::string& path, const std::string& scheme = "http") const {
    return scheme + "://127.0.0.1:" + std::to_string(m_port) + path;
  }
  int most_active() {
    std::lock_guard lock(m_mutex);
    return m_most_active;
  }
  std::size_t client_ports() {
    std::lock_guard lock(m_mutex);
    return m_client_ports.size();
  }

private:
  std::unique_ptr<httplib::Server> m_server;
  int m_port = 0;
  std::thread m_thread;
  std::atomic<bool> m_stopping{false};
  std::atomic<int> m_active{0};
  std::mutex m_mutex;
  int m_most_active = 0;
  std::set<int> m_client_ports;
};

HttpRequest get(const std::string& url) {
  HttpRequest request;
  request.url = url;
  return request;
}

// A loopback port with nothing listening on it.
int closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  socklen_t length = sizeof(address);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  ::close(fd);
  return ntohs(address.sin_port);
}

} // namespace

TEST_CASE("util::http_request GETs status and lower-cased headers and body") {
  TestServer server;
  auto response = http_request(get(server.url("/hello")));
  CHECK(response.ok());
  CHECK(response.error.empty());
  CHECK(response.status == 200);
  CHECK(response.body == "hello");
  CHECK_FALSE(response.body_truncated);
  CHECK(response.header("x-test") == "yes");
  CHECK(response.header("content-type") == "text/plain");
  CHECK(response.effective_url == server.url("/hello"));
  CHECK(response.elapsed_ms > 0);
  CHECK_FALSE(response.cert_days_left.has_value());
}

TEST_CASE("util::http_request sends method and headers and body") {
  TestServer server;
  HttpRequest request = get(server.url("/echo"));
  request.method = "POST";
  request.headers = {{"Content-Type", "application/json"}, {"X-Custom", "value 1"}};
  request.body = R"({"a":1})";
  auto response = http_request(request);
  CHECK(response.status == 201);
  CHECK(response.body == R"(method=POST type=application/json custom=value 1 expect= body={"a":1})");

  request.method = "PUT";
  request.body = "put body";
  CHECK(http_request(request).body == "method=PUT type=application/json custom=value 1 expect= body=put body");

  request.method = "DELETE";
  request.body.clear();
  request.headers.clear();
  CHECK(http_request(request).body == "method=DELETE type= custom= expect= body=");

  // A large body goes straight out, without an Expect: 100-continue round trip.
  request.method = "POST";
  request.headers = {{"Content-Type", "application/octet-stream"}};
  request.body = std::string(3 << 20, 'p');
  response = http_request(request);
  CHECK(response.status == 201);
  CHECK(response.body.starts_with("method=POST type=application/octet-stream custom= expect= body=ppp"));
  CHECK(response.body.size() > request.body.size());
}

TEST_CASE("util::http_request reports HTTP error statuses as responses") {
  TestServer server;
  for (int status : {204, 404, 500, 503}) {
    auto response = http_request(get(server.url("/status/" + std::to_string(status))));
    CHECK(response.ok());
    CHECK(response.status == status);
  }
}

TEST_CASE("util::http_request follows redirects only when asked") {
  TestServer server;
  auto request = get(server.url("/redirect"));
  auto response = http_request(request);
  CHECK(response.status == 302);
  CHECK(response.header("location") == "/hello");
  CHECK(response.effective_url == server.url("/redirect"));

  request.redirects = Redirects::follow;
  response = http_request(request);
  CHECK(response.ok());
  CHECK(response.status == 200);
  CHECK(response.body == "hello");
  CHECK(response.header("x-test") == "yes");
  CHECK_FALSE(response.header("location").has_value()); // headers of the last response only
  CHECK(response.effective_url == server.url("/hello"));

  auto loop = get(server.url("/loop"));
  loop.redirects = Redirects::follow;
  loop.max_redirects = 2;
  response = http_request(loop);
  CHECK_FALSE(response.ok());
  CHECK(response.error.find("edirect") != std::string::npos);
}

TEST_CASE("util::http_request times out against a slow server") {
  TestServer server;
  auto request = get(server.url("/slow"));
  request.timeout = 200ms;
  auto began = std::chrono::steady_clock::now();
  auto response = http_request(request);
  CHECK(std::chrono::steady_clock::now() - began < 2s);
  CHECK_FALSE(response.ok());
  CHECK(response.error.find("imed out") != std::string::npos);
  CHECK(response.status == 0);
}

TEST_CASE("util::http_request reports a refused connection") {
  auto response = http_request(get("http://127.0.0.1:" + std::to_string(closed_port()) + "/"));
  CHECK_FALSE(response.ok());
  CHECK(response.status == 0);
  CHECK(response.error.find("onnect") != std::string::npos);
  CHECK(response.error.find("127.0.0.1") != std::string::npos);
}

TEST_CASE("util::http_request refuses schemes other than http and https") {
  has::test::TempDir dir;
  auto file = dir.write("secret.txt", "secret");
  auto response = http_request(get("file://" + file.string()));
  CHECK_FALSE(response.ok());
  CHECK(response.body.empty());
}

TEST_CASE("util::http_request cuts the body at max_body") {
  TestServer server;
  auto request = get(server.url("/big"));
  request.max_body = 1000;
  auto response = http_request(request);
  CHECK(response.ok());
  CHECK(response.status == 200);
  CHECK(response.body.size() == 1000);
  CHECK(response.body_truncated);

  request.max_body = 300000;
  response = http_request(request);
  CHECK(response.body.size() == 300000);
  CHECK_FALSE(response.body_truncated);
}

TEST_CASE("util::http_request keeps cookies in the jar across requests") {
  TestServer server;
  has::test::TempDir dir;
  auto jar = (dir.path() / "cookies.txt").string();

  auto set = get(server.url("/cookie/set"));
  set.cookie_file = jar;
  REQUIRE(http_request(set).ok());
  REQUIRE(std::filesystem::exists(jar));

  auto read_back = get(server.url("/cookie/get"));
  CHECK(http_request(read_back).body.empty()); // no jar, no cookie
  read_back.cookie_file = jar;
  CHECK(http_request(read_back).body == "session=abc123");

  // The multi path writes the jar too.
  std::filesystem::remove(jar);
  http_requests({set}, 1, 0, [](std::size_t, HttpResponse) {});
  std::string seen;
  http_requests({read_back}, 1, 0, [&](std::size_t, HttpResponse response) { seen = response.body; });
  CHECK(seen == "session=abc123");
}

TEST_CASE("util::http_requests runs many requests over few connections within the limit") {
  TestServer server;
  constexpr std::size_t k_count = 200;
  std::vector<HttpRequest> requests;
  for (std::size_t i = 0; i < k_count; ++i) {
    requests.push_back(get(server.url("/item/" + std::to_string(i))));
  }
  std::map<std::size_t, HttpResponse> seen;
  std::size_t calls = 0;
  http_requests(requests, 8, 0, [&](std::size_t index, HttpResponse response) {
    ++calls;
    seen.emplace(index, std::move(response));
  });
  CHECK(calls == k_count);
  REQUIRE(seen.size() == k_count);
  for (std::size_t i = 0; i < k_count; ++i) {
    CHECK(seen[i].ok());
    CHECK(seen[i].status == 200);
    CHECK(seen[i].body == "item-" + std::to_string(i));
  }
  CHECK(server.most_active() <= 8);
  CHECK(server.most_active() >= 2);
  CHECK(server.client_ports() <= 16); // connections were reused
}

TEST_CASE("util::http_requests honours the per-host limit and reports failures per request") {
  TestServer server;
  std::vector<HttpRequest> requests;
  for (int i = 0; i < 30; ++i) {
    requests.push_back(get(server.url("/item/" + std::to_string(i))));
  }
  requests.push_back(get("http://127.0.0.1:" + std::to_string(closed_port()) + "/"));
  requests.push_back(get("notascheme://x"));
  std::map<std::size_t, HttpResponse> seen;
  http_requests(requests, 8, 2, [&](std::size_t index, HttpResponse response) {
    CHECK(seen.count(index) == 0);
    seen.emplace(index, std::move(response));
  });
  REQUIRE(seen.size() == requests.size());
  for (int i = 0; i < 30; ++i) {
    CHECK(seen[i].body == "item-" + std::to_string(i));
  }
  CHECK_FALSE(seen[30].ok());
  CHECK_FALSE(seen[31].ok());
  CHECK(server.most_active() <= 2);
  CHECK(server.most_active() >= 1);
}

TEST_CASE("util::http_requests with nothing to do calls nothing") {
  std::size_t calls = 0;
  http_requests({}, 4, 0, [&](std::size_t, HttpResponse) { ++calls; });
  CHECK(calls == 0);
}

TEST_CASE("util::http_request over https reports the certificate days left") {
  has::test::TempDir dir;
  auto cert = (dir.path() / "cert.pem").string();
  auto key = (dir.path() / "key.pem").string();
  has::util::ProcessSpec openssl;
  openssl.argv = {"openssl", "req",  "-x509",  "-newkey", "rsa:2048",   "-nodes",
                  "-keyout", key,    "-out",   cert,      "-days",      "30",
                  "-subj",   "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"};
  auto made = has::util::run_process(openssl);
  REQUIRE_MESSAGE(made.exit_code == 0, made.err);

  TestServer server(std::make_unique<httplib::SSLServer>(cert.c_str(), key.c_str()));
  auto request = get(server.url("/hello", "https"));
  auto response = http_request(request);
  CHECK_FALSE(response.ok()); // self-signed: verification fails by default
  CHECK(response.error.find("certificate") != std::string::npos);

  request.ca_file = cert;
  response = http_request(request);
  CHECK(response.ok());
  CHECK(response.body == "hello");
  REQUIRE(response.cert_days_left.has_value());
  CHECK(*response.cert_days_left >= 29);
  CHECK(*response.cert_days_left <= 30);

  request.ca_file.clear();
  request.verify = TlsVerify::off;
  std::vector<HttpRequest> requests(6, request);
  std::size_t with_days = 0;
  http_requests(requests, 2, 0, [&](std::size_t, HttpResponse each) {
    CHECK(each.ok());
    with_days += each.cert_days_left.has_value() ? 1 : 0;
  });
  CHECK(with_days == requests.size()); // also on reused connections
}

TEST_CASE("util::url_encode keeps unreserved characters only") {
  using has::util::url_encode;
  CHECK(url_encode("AZaz09-._~") == "AZaz09-._~");
  CHECK(url_encode("a b&c=d/e") == "a%20b%26c%3Dd%2Fe");
  CHECK(url_encode("é") == "%C3%A9");
  CHECK(url_encode("") == "");
  CHECK(url_encode(std::string("\0+", 2)) == "%00%2B");
}
