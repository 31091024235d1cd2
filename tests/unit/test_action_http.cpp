#include <has/action/action.hpp>

#include <has/core/error.hpp>

#include "test_sshd.hpp"

#include <doctest/doctest.h>
#include <httplib.h>

#include <thread>

using has::action::Spec;
using has::core::Error;
using has::core::ExitCode;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// A cpp-httplib server on 127.0.0.1 (a free port), serving in its own thread
// for the life of the object; every request is echoed back as JSON.
class EchoServer {
public:
  EchoServer() {
    auto echo = [](const httplib::Request& req, httplib::Response& res) {
      json headers = json::object();
      for (const auto& [name, value] : req.headers) {
        headers[name] = value;
      }
      res.set_header("X-Served-By", "echo");
      res.set_content(json{{"method", req.method}, {"path", req.path}, {"headers", headers}, {"body", req.body}}.dump(),
                      "application/json");
    };
    m_server.Get("/echo", echo);
    m_server.Post("/echo", echo);
    m_server.Put("/echo", echo);
    m_server.Delete("/echo", echo);
    m_server.Get("/text", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("plain words", "text/plain");
    });
    m_server.Get("/503", [](const httplib::Request&, httplib::Response& res) {
      res.status = 503;
      res.set_content(R"({"status":"DOWN"})", "application/json");
    });
    m_server.Get("/redirect", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/text", 302); });
    m_server.Get("/big", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string(10000, 'b'), "text/plain");
    });
    m_port = m_server.bind_to_any_port("127.0.0.1");
    REQUIRE(m_port > 0);
    m_thread = std::thread([this] { m_server.listen_after_bind(); });
  }
  ~EchoServer() {
    m_server.stop();
    m_thread.join();
  }
  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;

  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(m_port) + path; }

private:
  httplib::Server m_server;
  int m_port = 0;
  std::thread m_thread;
};

const has::action::Kind& http_kind() {
  const auto* kind = has::action::find_kind("http");
  REQUIRE(kind != nullptr);
  return *kind;
}

Spec http_spec(json fields) { return Spec{"http", std::move(fields), 5s}; }

} // namespace

TEST_CASE("action::http GETs by default and returns status / headers / body / json and elapsed_ms") {
  EchoServer server;
  auto spec = http_spec({{"url", server.url("/echo")}, {"headers", {{"X-Token", "t1"}}}});
  CHECK(http_kind().describe(spec, {}) == "GET " + server.url("/echo") + " -H 'X-Token: t1'");
  auto outcome = http_kind().run(spec, {});
  CHECK(outcome.ok);
  CHECK(outcome.message.rfind("HTTP 200 in ", 0) == 0);
  CHECK(outcome.outputs["status"] == 200);
  CHECK(outcome.outputs["headers"]["x-served-by"] == "echo");
  CHECK(outcome.outputs["json"]["method"] == "GET");
  CHECK(outcome.outputs["json"]["headers"]["X-Token"] == "t1");
  CHECK(outcome.outputs["elapsed_ms"].get<double>() >= 0);
  CHECK(outcome.outputs["body"].get<std::string>().find("\"method\":\"GET\"") != std::string::npos);

  auto text = http_kind().run(http_spec({{"url", server.url("/text")}}), {});
  CHECK(text.outputs["body"] == "plain words");
  CHECK_FALSE(text.outputs.contains("json"));
}

TEST_CASE("action::http sends json with its content type and a body as POST") {
  EchoServer server;
  auto sent = http_kind().run(http_spec({{"url", server.url("/echo")}, {"json", {{"replicas", 3}, {"name", "a\"b"}}}}),
                              {});
  REQUIRE(sent.ok);
  CHECK(sent.outputs["json"]["method"] == "POST");
  CHECK(sent.outputs["json"]["headers"]["Content-Type"] == "application/json");
  CHECK(json::parse(sent.outputs["json"]["body"].get<std::string>()) == json{{"replicas", 3}, {"name", "a\"b"}});

  auto body = http_kind().run(http_spec({{"url", server.url("/echo")},
                                         {"body", "x=1"},
                                         {"headers", {{"Content-Type", "application/x-www-form-urlencoded"}}}}),
                              {});
  CHECK(body.outputs["json"]["method"] == "POST");
  CHECK(body.outputs["json"]["body"] == "x=1");
  CHECK(body.outputs["json"]["headers"]["Content-Type"] == "application/x-www-form-urlencoded");

  auto put = http_kind().run(http_spec({{"url", server.url("/echo")}, {"method", "put"}, {"json", json::array()}}), {});
  CHECK(put.outputs["json"]["method"] == "PUT");
  CHECK(put.outputs["json"]["body"] == "[]");
}

TEST_CASE("action::http is not ok on a non-2xx status and says why on a transport failure") {
  EchoServer server;
  auto down = http_kind().run(http_spec({{"url", server.url("/503")}}), {});
  CHECK_FALSE(down.ok);
  CHECK(down.outputs["status"] == 503);
  CHECK(down.outputs["json"]["status"] == "DOWN");
  CHECK(down.message.rfind("HTTP 503", 0) == 0);

  auto redirect = http_kind().run(http_spec({{"url", server.url("/redirect")}}), {});
  CHECK_FALSE(redirect.ok);
  CHECK(redirect.outputs["status"] == 302);
  auto followed = http_kind().run(http_spec({{"url", server.url("/redirect")}, {"follow_redirects", true}}), {});
  CHECK(followed.ok);
  CHECK(followed.outputs["body"] == "plain words");

  auto cut = http_kind().run(http_spec({{"url", server.url("/big")}, {"max_body", "1KiB"}}), {});
  CHECK(cut.outputs["body"].get<std::string>().size() == 1024);
  CHECK(cut.outputs["body_truncated"] == true);

  auto url = "http://127.0.0.1:" + std::to_string(has::test::free_port()) + "/";
  auto refused = http_kind().run(http_spec({{"url", url}}), {});
  CHECK_FALSE(refused.ok);
  CHECK(refused.outputs["status"] == 0);
  CHECK(refused.message.rfind("GET " + url + ": ", 0) == 0);
  CHECK(refused.outputs["error"].get<std::string>().size() > 0);
}

TEST_CASE("action::http rejects bad fields - naming them") {
  auto error_of = [](json fields) {
    try {
      http_kind().describe(http_spec(std::move(fields)), {});
    } catch (const Error& e) {
      CHECK(e.code() == ExitCode::bad_definitions);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(error_of({{"url", "ftp://x/"}}) ==
        "http action: field 'url' must start with http:// or https://, not 'ftp://x/'");
  CHECK(error_of({{"url", "http://x/"}, {"body", "a"}, {"json", {1}}}).find("field 'json'") != std::string::npos);
  CHECK(error_of({{"url", "http://x/"}, {"method", "GET /"}}).find("field 'method'") != std::string::npos);
  CHECK(error_of({{"url", "http://x/"}, {"headers", {{"X-A", "1\r\nX-B: 2"}}}}).find("field 'headers'") !=
        std::string::npos);
  CHECK(error_of({{"url", "http://x/"}, {"verify_tls", "maybe"}}).find("field 'verify_tls'") != std::string::npos);
  CHECK(error_of({{"url", "http://x/"}, {"max_body", "lots"}}).find("field 'max_body'") != std::string::npos);
  CHECK(error_of({{"url", "http://x/"}, {"client_key", "k.pem"}}).find("field 'client_key'") != std::string::npos);
}
