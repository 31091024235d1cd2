#include <has/probe/kinds.hpp>
#include <has/probe/runner.hpp>

#include <has/core/error.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>
#include <httplib.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <mutex>
#include <thread>

using has::probe::Result;
using has::probe::Spec;
using has::probe::Status;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// Answers in the shape of Prometheus 2.x's /api/v1/query, as recorded from
// a real server, keyed by the query.
json vector_of(const std::vector<std::pair<std::string, std::string>>& samples) {
  auto result = json::array();
  for (const auto& [instance, value] : samples) {
    result.push_back({{"metric", {{"__name__", "up"}, {"instance", instance}, {"job", "node"}}},
                      {"value", {1700000000.781, value}}});
  }
  return {{"status", "success"}, {"data", {{"resultType", "vector"}, {"result", result}}}};
}

// A fake Prometheus on 127.0.0.1 (a free port), serving in its own thread.
// It records the last query, timeout and Authorization header it received.
class FakePrometheus {
public:
  FakePrometheus() {
    m_server.Get("/api/v1/query", [this](const httplib::Request& req, httplib::Response& res) {
      auto query = req.get_param_value("query");
      {
        std::lock_guard lock(m_mutex);
        m_query = query;
        m_timeout = req.get_param_value("timeout");
        m_authorization = req.get_header_value("Authorization");
      }
      res.set_content(answer(query, res).dump(), "application/json");
    });
    m_server.Get("/proxy/api/v1/query", [](const httplib::Request&, httplib::Response& res) {
      res.status = 502;
      res.set_content("<html><body>Bad Gateway</body></html>", "text/html");
    });
    m_server.Get("/other/api/v1/query", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("hello", "text/plain");
    });
    m_port = m_server.bind_to_any_port("127.0.0.1");
    REQUIRE(m_port > 0);
    m_thread = std::thread([this] { m_server.listen_after_bind(); });
  }
  ~FakePrometheus() {
    m_server.stop();
    m_thread.join();
  }
  FakePrometheus(const FakePrometheus&) = delete;
  FakePrometheus& operator=(const FakePrometheus&) = delete;

  std::string url(const std::string& path = "") const { return "http://127.0.0.1:" + std::to_string(m_port) + path; }
  std::string query() const {
    std::lock_guard lock(m_mutex);
    return m_query;
  }
  std::string timeout() const {
    std::lock_guard lock(m_mutex);
    return m_timeout;
  }
  std::string authorization() const {
    std::lock_guard lock(m_mutex);
    return m_authorization;
  }

private:
  static json answer(const std::string& query, httplib::Response& res) {
    if (query == "up") {
      return vector_of({{"localhost:9100", "1"}, {"db:9100", "0"}});
    }
    if (query == "scalar(vector(0.25))") {
      return {{"status", "success"}, {"data", {{"resultType", "scalar"}, {"result", {1700000000.781, "0.25"}}}}};
    }
    if (query == "absent_metric") {
      return {{"status", "success"}, {"data", {{"resultType", "vector"}, {"result", json::array()}}}};
    }
    if (query == "nan") {
      return vector_of({{"a:1", "NaN"}});
    }
    if (query == "inf") {
      return vector_of({{"a:1", "+Inf"}, {"b:1", "-Inf"}});
    }
    if (query == "many") {
      std::vector<std::pair<std::string, std::string>> samples;
      for (int i = 0; i < 150; ++i) {
        samples.emplace_back("host" + std::to_string(i) + ":9100", std::to_string(i));
      }
      return vector_of(samples);
    }
    if (query == "up[1m]") {
      return {{"status", "success"},
              {"data",
               {{"resultType", "matrix"},
                {"result",
                 {{{"metric", {{"__name__", "up"}, {"job", "node"}}},
                   {"values", {{1700000000.0, "0"}, {1700000015.0, "1"}}}}}}}}};
    }
    if (query == "warned") {
      auto out = vector_of({{"a:1", "3"}});
      out["warnings"] = {"PromQL info: metric might not be a counter"};
      return out;
    }
    // Prometheus answers a query it cannot parse with 400 and this body.
    res.status = 400;
    return {{"status", "error"},
            {"errorType", "bad_data"},
            {"error", "invalid parameter \"query\": 1:5: parse error: unclosed left parenthesis"}};
  }

  httplib::Server m_server;
  mutable std::mutex m_mutex;
  std::string m_query, m_timeout, m_authorization;
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

// Runs one prometheus probe through the runner and returns its result.
Result run_query(const std::string& url, const std::string& query, json extra = json::object()) {
  json fields = {{"url", url}, {"query", query}};
  fields.update(extra);
  std::vector<has::probe::Task> tasks;
  tasks.push_back(has::probe::make_task(Spec{"prometheus", std::move(fields), 5s}));
  Result out;
  int calls = 0;
  has::probe::run_tasks(std::move(tasks), {}, [&](std::size_t, Result result) {
    ++calls;
    out = std::move(result);
  });
  CHECK(calls == 1);
  return out;
}

has::core::ExitCode error_code(json fields) {
  try {
    has::probe::make_prometheus(Spec{"prometheus", std::move(fields), 5s});
  } catch (const has::core::Error& e) {
    return e.code();
  }
  FAIL("make_prometheus accepted the fields");
  return has::core::ExitCode::ok;
}

} // namespace

TEST_CASE("probe prometheus: a vector's first sample is the value - every series is listed") {
  FakePrometheus server;
  auto result = run_query(server.url(), "up");
  CHECK(result.status == Status::ok);
  CHECK(server.query() == "up");
  CHECK(server.timeout() == "5000ms");
  const auto& values = result.values;
  CHECK(values["value"] == 1.0);
  CHECK(values["value_text"] == "1");
  CHECK(values["result_type"] == "vector");
  CHECK(values["samples"] == 2);
  CHECK(values["metric"]["instance"] == "localhost:9100");
  REQUIRE(values["series"].size() == 2);
  CHECK(values["series"][1]["metric"]["instance"] == "db:9100");
  CHECK(values["series"][1]["value"] == 0.0);
  CHECK(values["elapsed_ms"].is_number());
  CHECK(values["http_status"] == 200);
  CHECK(result.message.starts_with("value = 1 (vector, 2 samples) in "));
}

TEST_CASE("probe prometheus: the query is URL-encoded and headers are sent") {
  FakePrometheus server;
  std::string query = R"(sum by (job) (rate(http_requests_total{code=~"5..", path!="/a&b=c"}[5m])) / 2 + 1)";
  auto result =
    run_query(server.url() + "/", query, {{"headers", {{"Authorization", "Bearer t0ken"}}}, {"timeout", "2s"}});
  CHECK(server.query() == query); // arrived intact, '&', '+', '=' and all
  CHECK(server.timeout() == "2000ms");
  CHECK(server.authorization() == "Bearer t0ken");
  CHECK(result.status == Status::unknown); // the fake knows no such query
}

TEST_CASE("probe prometheus: a scalar result is the value") {
  FakePrometheus server;
  auto result = run_query(server.url(), "scalar(vector(0.25))");
  CHECK(result.status == Status::ok);
  CHECK(result.values["value"] == 0.25);
  CHECK(result.values["result_type"] == "scalar");
  CHECK(result.values["samples"] == 1);
  CHECK(result.message.starts_with("scalar = 0.25 "));
}

TEST_CASE("probe prometheus: an empty vector is ok with value null and no samples") {
  FakePrometheus server;
  auto result = run_query(server.url(), "absent_metric");
  CHECK(result.status == Status::ok);
  CHECK(result.values["value"].is_null());
  CHECK(result.values["samples"] == 0);
  CHECK(result.values["series"] == json::array());
  CHECK(result.message.starts_with("no samples"));
}

TEST_CASE("probe prometheus: NaN is null - infinities stay infinite") {
  FakePrometheus server;
  auto nan = run_query(server.url(), "nan");
  CHECK(nan.status == Status::ok);
  CHECK(nan.values["value"].is_null());
  CHECK(nan.values["value_text"] == "NaN");
  auto inf = run_query(server.url(), "inf");
  REQUIRE(inf.values["value"].is_number_float());
  CHECK(std::isinf(inf.values["value"].get<double>()));
  CHECK(inf.values["value"].get<double>() > 0);
  CHECK(inf.values["series"][1]["value"].get<double>() < 0);
  CHECK(inf.values["value_text"] == "+Inf");
}

TEST_CASE("probe prometheus: series are capped at 100 - samples count them all") {
  FakePrometheus server;
  auto result = run_query(server.url(), "many");
  CHECK(result.values["samples"] == 150);
  CHECK(result.values["series"].size() == 100);
  CHECK(result.values["value"] == 0.0);
}

TEST_CASE("probe prometheus: a range vector gives the latest point - warnings are kept") {
  FakePrometheus server;
  auto matrix = run_query(server.url(), "up[1m]");
  CHECK(matrix.status == Status::ok);
  CHECK(matrix.values["result_type"] == "matrix");
  CHECK(matrix.values["value"] == 1.0);
  auto warned = run_query(server.url(), "warned");
  CHECK(warned.values["warnings"][0] == "PromQL info: metric might not be a counter");
  CHECK(warned.values["value"] == 3.0);
}

TEST_CASE("probe prometheus: a query Prometheus rejects is unknown with its error") {
  FakePrometheus server;
  auto result = run_query(server.url(), "rate(");
  CHECK(result.status == Status::unknown);
  CHECK(result.values["error_type"] == "bad_data");
  CHECK(result.message ==
        "Prometheus: bad_data: invalid parameter \"query\": 1:5: parse error: unclosed left parenthesis");
  CHECK(result.values["http_status"] == 400);
}

TEST_CASE("probe prometheus: transport and HTTP failures are critical - other answers unknown") {
  auto refused = run_query("http://127.0.0.1:" + std::to_string(closed_port()), "up");
  CHECK(refused.status == Status::critical);
  CHECK_FALSE(refused.message.empty());

  FakePrometheus server;
  auto proxy = run_query(server.url("/proxy"), "up");
  CHECK(proxy.status == Status::critical);
  CHECK(proxy.message == "HTTP 502 from " + server.url("/proxy"));

  auto other = run_query(server.url("/other"), "up");
  CHECK(other.status == Status::unknown);
  CHECK(other.message.find("not a Prometheus API answer") != std::string::npos);
}

TEST_CASE("probe prometheus: credentials in the URL are not shown") {
  FakePrometheus server;
  auto url = server.url();
  url.insert(url.find("://") + 3, "admin:s3cretpw@");
  auto result = run_query(url, "up");
  CHECK(result.status == Status::ok);
  CHECK(result.values["url"] == server.url());
  CHECK(result.values.dump().find("s3cretpw") == std::string::npos);
}

TEST_CASE("probe prometheus: wrong fields are definition errors") {
  using has::core::ExitCode;
  CHECK(error_code({{"query", "up"}}) == ExitCode::bad_definitions);
  CHECK(error_code({{"url", "http://127.0.0.1:9090"}}) == ExitCode::bad_definitions);
  CHECK(error_code({{"url", "127.0.0.1:9090"}, {"query", "up"}}) == ExitCode::bad_definitions);
  CHECK(error_code({{"url", "http://127.0.0.1:9090/api/v1/query?query=up"}, {"query", "up"}}) ==
        ExitCode::bad_definitions);
  CHECK(error_code({{"url", "http://127.0.0.1:9090"}, {"query", " "}}) == ExitCode::bad_definitions);
  CHECK(error_code({{"url", "http://127.0.0.1:9090"}, {"query", "up"}, {"timeout", "0s"}}) ==
        ExitCode::bad_definitions);
  CHECK(error_code({{"url", "http://127.0.0.1:9090"}, {"query", "up"}, {"headers", {{"X-A", "b\r\nX-B: c"}}}}) ==
        ExitCode::bad_definitions);
}
