#include <has/probe/kinds.hpp>
#include <has/probe/runner.hpp>

#include <has/core/error.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>
#include <httplib.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

using has::probe::Result;
using has::probe::Spec;
using has::probe::Status;
using has::probe::Task;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// A cpp-httplib server on 127.0.0.1 (a free port), serving in its own thread
// for the life of the object.
class TestServer {
public:
  TestServer() {
    auto& s = m_server;
    s.Get("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_header("X-Served-By", "test");
      res.set_content("hello from the test", "text/plain");
    });
    s.Get("/json", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"status":"UP","data":{"ready":true}})", "application/json");
    });
    s.Get("/slow", [this](const httplib::Request&, httplib::Response& res) {
      for (int i = 0; i < 150 && !m_stopping; ++i) {
        std::this_thread::sleep_for(10ms);
      }
      res.set_content("late", "text/plain");
    });
    s.Get("/redirect", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/", 302); });
    s.Get("/500", [](const httplib::Request&, httplib::Response& res) {
      res.status = 500;
      res.set_content("broken", "text/plain");
    });
    // Not an HTTP status, though three digits: curl takes it as the answer.
    s.Get("/600", [](const httplib::Request&, httplib::Response& res) {
      res.status = 600;
      res.set_content("odd", "text/plain");
    });
    s.Get("/big", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string(10000, 'b'), "text/plain");
    });
    s.Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
      if (req.get_header_value("X-Token") != "s3cret") {
        res.status = 403;
        res.set_content("no token", "text/plain");
        return;
      }
      res.status = 201;
      res.set_content("echo: " + req.body, "text/plain");
    });
    m_port = s.bind_to_any_port("127.0.0.1");
    REQUIRE(m_port > 0);
    m_thread = std::thread([this] { m_server.listen_after_bind(); });
  }
  ~TestServer() {
    m_stopping = true;
    m_server.stop();
    m_thread.join();
  }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(m_port) + path; }

private:
  httplib::Server m_server;
  std::atomic<bool> m_stopping{false};
  int m_port = 0;
  std::thread m_thread;
};

// Returns a loopback port that nothing listens on (bound, then closed).
int closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  ::close(fd);
  return ntohs(address.sin_port);
}

Spec http_spec(json fields, std::chrono::milliseconds timeout = 5s) {
  return Spec{"http", std::move(fields), timeout};
}

// Runs the specs through the runner and returns their results in order.
std::vector<Result> run(const std::vector<Spec>& specs) {
  std::vector<Task> tasks;
  for (const auto& spec : specs) {
    tasks.push_back(has::probe::make_task(spec));
  }
  std::vector<Result> results(specs.size());
  std::vector<int> calls(specs.size(), 0);
  has::probe::run_tasks(std::move(tasks), {}, [&](std::size_t index, Result result) {
    ++calls.at(index);
    results.at(index) = std::move(result);
  });
  for (int count : calls) {
    CHECK(count == 1);
  }
  return results;
}

Result run_one(json fields, std::chrono::milliseconds timeout = 5s) {
  return run({http_spec(std::move(fields), timeout)}).at(0);
}

has::core::ExitCode error_code(const Spec& spec) {
  try {
    has::probe::make_http(spec);
  } catch (const has::core::Error& e) {
    return e.code();
  }
  FAIL("make_http accepted " << spec.fields.dump());
  return has::core::ExitCode::ok;
}

} // namespace

TEST_CASE("probe http: a GET yields status / headers / body and timing") {
  TestServer server;
  auto result = run_one({{"url", server.url("/")}});
  CHECK(result.status == Status::ok);
  CHECK(result.values["status"] == 200);
  CHECK(result.values["body"] == "hello from the test");
  CHECK(result.values["headers"]["x-served-by"] == "test");
  CHECK(result.values["headers"]["content-type"].get<std::string>().starts_with("text/plain"));
  CHECK(result.values["url"] == server.url("/"));
  CHECK(result.values["elapsed_ms"].is_number());
  CHECK(result.values["body_truncated"] == false);
  CHECK_FALSE(result.values.contains("json")); // the body is not JSON
  CHECK_FALSE(result.values.contains("cert_days_left")); // not https
  CHECK(result.message.starts_with("HTTP 200 in "));
  CHECK(result.message.ends_with(" ms"));
  CHECK(result.evidence == "hello from the test");
}

TEST_CASE("probe http: a JSON body is parsed into json") {
  TestServer server;
  auto result = run_one({{"url", server.url("/json")}});
  CHECK(result.status == Status::ok);
  REQUIRE(result.values.contains("json"));
  CHECK(result.values["json"]["status"] == "UP");
  CHECK(result.values["json"]["data"]["ready"] == true);
}

TEST_CASE("probe http: an HTTP error status is an observation - not a failure") {
  TestServer server;
  auto result = run_one({{"url", server.url("/500")}});
  CHECK(result.status == Status::ok);
  CHECK(result.values["status"] == 500);
  CHECK(result.message.starts_with("HTTP 500 in "));
}

TEST_CASE("probe http: without expectations the status class is the default verdict") {
  TestServer server;
  auto results = run({http_spec({{"url", server.url("/")}}), http_spec({{"url", server.url("/redirect")}}),
                      http_spec({{"url", server.url("/none")}}), http_spec({{"url", server.url("/500")}})});
  CHECK(results[0].by_default.status == Status::ok);
  CHECK(results[0].by_default.reason == "http status 200 is 2xx");
  CHECK(results[1].by_default.status == Status::ok);
  CHECK(results[1].by_default.reason == "http status 302 is 3xx");
  CHECK(results[2].by_default.status == Status::warning);
  CHECK(results[2].by_default.reason == "http status 404 is 4xx");
  CHECK(results[3].by_default.status == Status::critical);
  CHECK(results[3].by_default.reason == "http status 500 is 5xx");
  for (const auto& result : results) {
    CHECK(result.status == Status::ok); // observed: expectations may want any of them
    CHECK(result.field_verdict.empty());
  }
}

TEST_CASE("probe http: a status above 599 is not a valid HTTP status - critical by default") {
  TestServer server;
  auto result = run({http_spec({{"url", server.url("/600")}})})[0];
  CHECK(result.status == Status::ok);
  CHECK(result.values["status"] == 600);
  CHECK(result.by_default.status == Status::critical);
  CHECK(result.by_default.reason == "http status 600 is not a valid HTTP status");
}

TEST_CASE("probe http: expect_status makes an unlisted status critical") {
  TestServer server;
  auto results = run({http_spec({{"url", server.url("/500")}, {"expect_status", json::array({200, 500})}}),
                      http_spec({{"url", server.url("/500")}, {"expect_status", "2xx"}}),
                      http_spec({{"url", server.url("/")}, {"expect_status", json::array({"200-204", "3xx"})}}),
                      http_spec({{"url", server.url("/none")}, {"expect_status", "200"}})});
  CHECK(results[0].status == Status::ok);
  CHECK(results[0].by_default.status == Status::ok);
  CHECK(results[0].by_default.reason.empty()); // no default: expect_status judged
  CHECK(results[0].field_verdict == "http status 500 is in expect_status 200, 500");
  CHECK(results[2].field_verdict == "http status 200 is in expect_status 200-204, 3xx");
  CHECK(results[1].status == Status::critical);
  CHECK(results[1].field_verdict.empty());
  CHECK(results[1].message.ends_with(", expected 2xx"));
  CHECK(results[2].status == Status::ok);
  CHECK(results[3].status == Status::critical);
  CHECK(results[3].message.ends_with(", expected 200"));
  CHECK(results[3].values["status"] == 404);

  using has::core::ExitCode;
  for (const json& bad : {json("600"), json("2xy"), json("299-200"), json(json::array()), json("OK"), json(99)}) {
    CAPTURE(bad.dump());
    CHECK(error_code(http_spec({{"url", "http://h/"}, {"expect_status", bad}})) == ExitCode::bad_definitions);
  }
}

TEST_CASE("probe http: POST sends the method / headers and body") {
  TestServer server;
  auto results = run({
    http_spec({{"url", server.url("/echo")},
               {"method", "post"},
               {"headers", {{"X-Token", "s3cret"}}},
               {"body", "ping"}}),
    http_spec({{"url", server.url("/echo")}, {"method", "POST"}, {"body", "ping"}}),
  });
  CHECK(results[0].values["status"] == 201);
  CHECK(results[0].values["body"] == "echo: ping");
  CHECK(results[1].values["status"] == 403);
}

TEST_CASE("probe http: redirects are followed only when asked") {
  TestServer server;
  auto results = run({
    http_spec({{"url", server.url("/redirect")}}),
    http_spec({{"url", server.url("/redirect")}, {"follow_redirects", true}}),
    http_spec({{"url", server.url("/redirect")}, {"follow_redirects", "yes"}, {"max_redirects", "0"}}),
  });
  CHECK(results[0].status == Status::ok);
  CHECK(results[0].values["status"] == 302);
  CHECK(results[0].values["headers"]["location"] == "/");
  CHECK(results[0].values["url"] == server.url("/redirect"));

  CHECK(results[1].status == Status::ok);
  CHECK(results[1].values["status"] == 200);
  CHECK(results[1].values["body"] == "hello from the test");
  CHECK(results[1].values["url"] == server.url("/"));

  CHECK(results[2].status == Status::critical);
  CHECK_FALSE(results[2].message.empty());
}

TEST_CASE("probe http: a timeout is critical - with the error as message") {
  TestServer server;
  auto start = std::chrono::steady_clock::now();
  // The field overrides the rule's timeout in one case; the rule's applies in the other.
  auto results = run({
    http_spec({{"url", server.url("/slow")}, {"timeout", "300ms"}}, 30s),
    http_spec({{"url", server.url("/slow")}}, 300ms),
  });
  CHECK(std::chrono::steady_clock::now() - start < 1400ms);
  for (const auto& result : results) {
    CHECK(result.status == Status::critical);
    CHECK(result.message.find("timed out") != std::string::npos);
    CHECK(result.values["error"] == result.message);
    CHECK(result.values["elapsed_ms"].is_number());
    CHECK(result.values["status"].is_null()); // no answer, no HTTP status
    CHECK_FALSE(result.values.contains("body"));
  }
}

TEST_CASE("probe http: the timeout field overrides the rule's timeout") {
  auto task = has::probe::make_http(http_spec({{"url", "http://127.0.0.1/"}, {"timeout", "2s"}}, 300ms));
  REQUIRE(task.http);
  CHECK(task.http->timeout == 2s);
  task = has::probe::make_http(http_spec({{"url", "http://127.0.0.1/"}}, 300ms));
  CHECK(task.http->timeout == 300ms);
}

TEST_CASE("probe http: a refused connection is critical") {
  auto port = closed_port();
  auto url = "http://127.0.0.1:" + std::to_string(port) + "/";
  auto result = run_one({{"url", url}});
  CHECK(result.status == Status::critical);
  CHECK_FALSE(result.message.empty());
  CHECK(result.values["error"] == result.message);
  CHECK(result.values["elapsed_ms"].is_number());
  CHECK(result.values["status"].is_null()); // no answer, no HTTP status
}

TEST_CASE("probe http: the fields become the request") {
  auto task = has::probe::make_http(http_spec({
    {"url", "https://example.test/x"},
    {"method", "put"},
    {"headers", {{"Accept", "application/json"}, {"X-Count", 3}}},
    {"body", "{}"},
    {"verify_tls", "false"},
    {"ca_file", "/etc/ca.pem"},
    {"client_cert", "/etc/c.pem"},
    {"client_key", "/etc/k.pem"},
    {"follow_redirects", true},
    {"max_redirects", 3},
    {"max_body", "1KiB"},
  }));
  REQUIRE(task.http);
  CHECK(task.on_http);
  CHECK_FALSE(task.blocking);
  const auto& request = *task.http;
  CHECK(request.method == "PUT");
  using Headers = std::vector<std::pair<std::string, std::string>>;
  CHECK(request.headers == Headers{{"Accept", "application/json"}, {"X-Count", "3"}});
  CHECK(request.body == "{}");
  CHECK(request.verify == has::util::TlsVerify::off);
  CHECK(request.ca_file == "/etc/ca.pem");
  CHECK(request.client_cert == "/etc/c.pem");
  CHECK(request.client_key == "/etc/k.pem");
  CHECK(request.redirects == has::util::Redirects::follow);
  CHECK(request.max_redirects == 3);
  CHECK(request.max_body == 1024);

  auto plain = has::probe::make_http(http_spec({{"url", "HTTP://127.0.0.1"}}));
  CHECK(plain.http->method == "GET");
  CHECK(plain.http->verify == has::util::TlsVerify::on);
  CHECK(plain.http->redirects == has::util::Redirects::none);
}

TEST_CASE("probe http: the callback turns a real response into a result") {
  TestServer server;
  auto task = has::probe::make_http(http_spec({{"url", server.url("/json")}}));
  auto result = task.on_http(has::util::http_request(*task.http));
  CHECK(result.status == Status::ok);
  CHECK(result.values["status"] == 200);
  CHECK(result.values["json"]["data"]["ready"] == true);
  CHECK(result.elapsed_ms == result.values["elapsed_ms"].get<double>());
}

TEST_CASE("probe http: the callback keeps what reports can hold") {
  auto task = has::probe::make_http(http_spec({{"url", "https://example.test/"}}));

  has::util::HttpResponse response;
  response.status = 200;
  response.effective_url = "https://example.test/";
  response.headers = {{"set-cookie", "a=1"}, {"set-cookie", "b=2"}};
  response.body = std::string("ok \xFF\xFE") + std::string(5000, 'x');
  response.body_truncated = true;
  response.cert_days_left = 42;
  response.elapsed_ms = 7.4;
  auto result = task.on_http(response);
  CHECK(result.status == Status::ok);
  CHECK(result.values["cert_days_left"] == 42);
  CHECK(result.values["headers"]["set-cookie"] == "a=1, b=2");
  CHECK(result.values["body_truncated"] == true);
  CHECK_FALSE(result.values.contains("json"));
  CHECK_NOTHROW((void)result.values.dump()); // invalid UTF-8 was replaced
  CHECK(result.values["body"].get<std::string>().starts_with("ok \xEF\xBF\xBD\xEF\xBF\xBD"));
  CHECK(result.evidence.size() <= 2048 + 3);
  CHECK(result.evidence.ends_with("..."));
  CHECK(result.message == "HTTP 200 in 7 ms (body cut at max_body)");

  has::util::HttpResponse failed;
  failed.error = "SSL certificate problem: certificate has expired";
  failed.elapsed_ms = 3;
  result = task.on_http(failed);
  CHECK(result.status == Status::critical);
  CHECK(result.message == failed.error);
  CHECK(result.values["error"] == failed.error);
  CHECK(result.values["elapsed_ms"] == 3.0);
}

TEST_CASE("probe http: a long body is cut to a short excerpt in the evidence") {
  TestServer server;
  auto result = run_one({{"url", server.url("/big")}});
  CHECK(result.values["body"].get<std::string>().size() == 10000);
  CHECK(result.evidence.size() == 2048 + 3);
  auto cut = run_one({{"url", server.url("/big")}, {"max_body", "100B"}});
  CHECK(cut.status == Status::ok);
  CHECK(cut.values["body"].get<std::string>().size() == 100);
  CHECK(cut.values["body_truncated"] == true);
}

TEST_CASE("probe http: wrong fields are definition errors") {
  using has::core::ExitCode;
  CHECK(error_code(http_spec({{"url", "ftp://127.0.0.1/file"}})) == ExitCode::bad_definitions);
  CHECK(error_code(http_spec({{"url", "127.0.0.1:8080/health"}})) == ExitCode::bad_definitions);
  CHECK(error_code(http_spec({{"url", "http:///path"}})) == ExitCode::bad_definitions);
  CHECK(error_code(http_spec({{"url", "http://"}})) == ExitCode::bad_definitions);
  CHECK(error_code(http_spec(json::object())) == ExitCode::bad_definitions);
  CHECK(error_code(http_spec({{"url", "http://h/"}, {"method", "GET /x"}})) == ExitCode::bad_definitions);
  CHECK(error_code(http_spec({{"url", "http://h/"}, {"timeout", "soon"}})) == ExitCode::bad_definitions);
  CHECK(error_code(http_spec({{"url", "http://h/"}, {"timeout", "0"}})) == ExitCode::bad_definitions);
  CHECK(error_code(http_spec({{"url", "http://h/"}, {"headers", {{"X-A", "1\r\nX-B: 2"}}}})) ==
        ExitCode::bad_definitions);
  CHECK(error_code(http_spec({{"url", "http://h/"}, {"headers", "X-A: 1"}})) == ExitCode::bad_definitions);
  CHECK(error_code(http_spec({{"url", "http://h/"}, {"verify_tls", "maybe"}})) == ExitCode::bad_definitions);
  CHECK(error_code(http_spec({{"url", "http://h/"}, {"max_redirects", -1}})) == ExitCode::bad_definitions);
  CHECK(error_code(http_spec({{"url", "http://h/"}, {"max_body", "lots"}})) == ExitCode::bad_definitions);
  CHECK(error_code(http_spec({{"url", "http://h/"}, {"client_key", "/k.pem"}})) == ExitCode::bad_definitions);

  try {
    has::probe::make_task(http_spec({{"url", "ftp://127.0.0.1/file"}}));
    FAIL("no error");
  } catch (const has::core::Error& e) {
    CHECK(std::string(e.what()).find("'url'") != std::string::npos);
    CHECK(std::string(e.what()).find("ftp://127.0.0.1/file") != std::string::npos);
  }
}

TEST_CASE("probe http: many checks run at once - each with its own result") {
  TestServer server;
  std::vector<Spec> specs;
  for (int i = 0; i < 30; ++i) {
    specs.push_back(http_spec({{"url", server.url(i % 3 == 0 ? "/json" : i % 3 == 1 ? "/500" : "/")}}));
  }
  auto results = run(specs);
  for (int i = 0; i < 30; ++i) {
    CAPTURE(i);
    CHECK(results[i].status == Status::ok);
    CHECK(results[i].values["status"] == (i % 3 == 1 ? 500 : 200));
    CHECK(results[i].values.contains("json") == (i % 3 == 0));
  }
}
