#include <has/probe/kinds.hpp>
#include <has/probe/page.hpp>
#include <has/probe/runner.hpp>

#include <has/core/error.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>
#include <httplib.h>

#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

using has::probe::Result;
using has::probe::Spec;
using has::probe::Status;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* k_password = "s3cret-Pa55";

const char* const k_shop = R"(<!DOCTYPE html>
<html><head><title>The  Shop</title><style>.x { content: "style text" }</style></head>
<body>
  <div id="app"><ul><li>One</li><li class="sale">Two</li></ul></div>
  <p>Welcome,
     guest&nbsp;visitor</p>
  <script>var hidden = "script text";</script>
</body></html>)";

// A cpp-httplib server on 127.0.0.1 (a free port) with a small site: a
// static page, and a dashboard behind a form login with a session cookie.
class Site {
public:
  Site() {
    auto& s = m_server;
    s.Get("/", [](const httplib::Request&, httplib::Response& res) { res.set_content(k_shop, "text/html"); });
    s.Get("/login", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("<html><body><form method=post><h1>Please log in</h1></form></body></html>", "text/html");
    });
    s.Post("/login", [](const httplib::Request& req, httplib::Response& res) {
      if (req.get_param_value("user") == "alice" && req.get_param_value("password") == k_password) {
        res.set_header("Set-Cookie", "session=abc123; Path=/; HttpOnly");
        res.set_redirect("/dashboard", 302);
        return;
      }
      res.status = 401;
      res.set_content("<html><body>Wrong user or password</body></html>", "text/html");
    });
    s.Get("/dashboard", [](const httplib::Request& req, httplib::Response& res) {
      if (req.get_header_value("Cookie").find("session=abc123") == std::string::npos) {
        res.set_redirect("/login", 302);
        return;
      }
      res.set_content("<html><head><title>Dashboard</title></head><body><h1>Welcome, alice</h1></body></html>",
                      "text/html");
    });
    s.Get("/needs-cookie", [](const httplib::Request& req, httplib::Response& res) {
      bool ok = req.get_header_value("Cookie").find("token=t0k3n") != std::string::npos;
      res.set_content(ok ? "<p>token accepted</p>" : "<p>no token</p>", "text/html");
    });
    s.Get("/500", [](const httplib::Request&, httplib::Response& res) {
      res.status = 500;
      res.set_content("<html><body>Internal error</body></html>", "text/html");
    });
    s.Get("/empty", [](const httplib::Request&, httplib::Response& res) { res.set_content("", "text/html"); });
    m_port = s.bind_to_any_port("127.0.0.1");
    REQUIRE(m_port > 0);
    m_thread = std::thread([this] { m_server.listen_after_bind(); });
  }
  ~Site() {
    m_server.stop();
    m_thread.join();
  }
  Site(const Site&) = delete;
  Site& operator=(const Site&) = delete;

  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(m_port) + path; }

private:
  httplib::Server m_server;
  int m_port = 0;
  std::thread m_thread;
};

// Sets an environment variable for the life of the object.
class ScopedEnv {
public:
  ScopedEnv(const char* name, const std::string& value) : m_name(name) {
    if (const char* old = std::getenv(name)) {
      m_old = old;
    }
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (m_old) {
      ::setenv(m_name, m_old->c_str(), 1);
    } else {
      ::unsetenv(m_name);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
  const char* m_name;
  std::optional<std::string> m_old;
};

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

// Runs one page check through the runner, as inspect does.
Result run_page(json fields) {
  std::vector<has::probe::Task> tasks;
  tasks.push_back(has::probe::make_task(Spec{"page", std::move(fields), 5s}));
  Result out;
  int calls = 0;
  has::probe::run_tasks(std::move(tasks), {}, [&](std::size_t, Result result) {
    ++calls;
    out = std::move(result);
  });
  CHECK(calls == 1);
  return out;
}

// Returns the message of the error make_page throws for fields.
std::string definition_error(json fields) {
  try {
    has::probe::make_page(Spec{"page", std::move(fields), 5s});
  } catch (const has::core::Error& e) {
    CHECK(e.code() == has::core::ExitCode::bad_definitions);
    return e.what();
  }
  FAIL("make_page accepted the fields");
  return {};
}

} // namespace

TEST_CASE("probe page: the http engine finds text and XPath elements") {
  Site site;
  auto result = run_page({{"url", site.url("/")},
                          {"expect_text", json::array({"Two", "Welcome, guest visitor"})},
                          {"expect_element", json::array({"//div[@id='app']//li", "//li[@class='sale']"})}});
  CHECK(result.status == Status::ok);
  CHECK(result.values["status"] == 200);
  CHECK(result.values["title"] == "The Shop");
  CHECK(result.values["engine"] == "http");
  CHECK(result.values["url"] == site.url("/"));
  CHECK(result.values["matched"]["text"]["Two"] == true);
  CHECK(result.values["matched"]["text"]["Welcome, guest visitor"] == true);
  CHECK(result.values["matched"]["element"]["//div[@id='app']//li"] == 2);
  CHECK(result.values["matched"]["element"]["//li[@class='sale']"] == 1);
  CHECK(result.values["text_length"].get<int>() > 10);
  CHECK(result.values["elapsed_ms"].is_number());
  CHECK(result.message.find("rendered 'The Shop'") != std::string::npos);
  CHECK(result.message.find("4 expectations met") != std::string::npos);
}

TEST_CASE("probe page: list items do not run together and scripts and styles are not text") {
  Site site;
  auto result = run_page({{"url", site.url("/")}, {"expect_text", json::array({"One Two"})}});
  CHECK(result.status == Status::ok);
  for (const char* hidden : {"script text", "style text", "OneTwo"}) {
    CAPTURE(hidden);
    auto missing = run_page({{"url", site.url("/")}, {"expect_text", hidden}});
    CHECK(missing.status == Status::critical);
    CHECK(missing.values["matched"]["text"][hidden] == false);
  }
}

TEST_CASE("probe page: a missing text is critical and the message names it") {
  Site site;
  auto result = run_page({{"url", site.url("/")}, {"expect_text", json::array({"One", "Sold out"})}});
  CHECK(result.status == Status::critical);
  CHECK(result.message == "text 'Sold out' not found on " + site.url("/"));
  CHECK(result.values["matched"]["text"]["One"] == true);
  CHECK(result.values["matched"]["text"]["Sold out"] == false);
  CHECK(result.evidence.find("Welcome, guest") != std::string::npos);
}

TEST_CASE("probe page: an XPath that matches nothing is critical") {
  Site site;
  auto result = run_page({{"url", site.url("/")}, {"expect_element", "//table//tr"}});
  CHECK(result.status == Status::critical);
  CHECK(result.message == "no element matches '//table//tr' on " + site.url("/"));
  CHECK(result.values["matched"]["element"]["//table//tr"] == 0);
}

TEST_CASE("probe page: a bad XPath is unknown and says why") {
  Site site;
  auto result = run_page({{"url", site.url("/")}, {"expect_element", "//div[@id='app'"}});
  CHECK(result.status == Status::unknown);
  CHECK(result.message.starts_with("page probe: expect_element '//div[@id='app'' is not a valid XPath expression ("));
  auto computed = run_page({{"url", site.url("/")}, {"expect_element", "count(//li)"}});
  CHECK(computed.status == Status::unknown);
  CHECK(computed.message.find("must select elements, not compute a number") != std::string::npos);
  auto boolean = run_page({{"url", site.url("/")}, {"expect_element", "count(//li) = 2"}});
  CHECK(boolean.status == Status::ok);
}

TEST_CASE("probe page: a form login keeps its session cookie for the page") {
  Site site;
  has::test::TempDir tmp;
  ScopedEnv tmpdir("TMPDIR", tmp.path().string());
  auto result = run_page({{"url", site.url("/dashboard")},
                          {"login", {{"url", site.url("/login")}, {"form", {{"user", "alice"}, {"password", k_password}}},
                                     {"expect_status", 302}}},
                          {"expect_text", "Welcome, alice"},
                          {"expect_element", "//h1"}});
  CHECK(result.status == Status::ok);
  CHECK(result.values["title"] == "Dashboard");
  CHECK(result.values["url"] == site.url("/dashboard"));
  // The cookie jar held the session: it is gone with the check.
  CHECK(std::filesystem::is_empty(tmp.path()));
}

TEST_CASE("probe page: without the login the page redirects to the form and fails") {
  Site site;
  auto result = run_page({{"url", site.url("/dashboard")}, {"expect_text", "Welcome, alice"}});
  CHECK(result.status == Status::critical);
  CHECK(result.message ==
        "text 'Welcome, alice' not found on " + site.url("/dashboard") + " (ended at " + site.url("/login") + ")");
  CHECK(result.values["url"] == site.url("/login"));
  CHECK(result.evidence.find("Please log in") != std::string::npos);
}

TEST_CASE("probe page: a rejected login is critical and never shows the form values") {
  Site site;
  const std::string wrong = "not-the-Pa55word";
  auto fields = json{{"url", site.url("/dashboard")},
                     {"login", {{"url", site.url("/login")}, {"form", {{"user", "alice"}, {"password", wrong}}}}},
                     {"expect_text", "Welcome, alice"}};
  auto result = run_page(fields);
  CHECK(result.status == Status::critical);
  CHECK(result.message == "login at " + site.url("/login") + " answered HTTP 401");
  for (const auto& text : {result.message, result.evidence, result.values.dump()}) {
    CHECK(text.find(wrong) == std::string::npos);
  }
  fields["login"]["form"]["password"] = k_password;
  fields["login"]["expect_status"] = 200;
  auto unexpected = run_page(fields);
  CHECK(unexpected.status == Status::critical);
  CHECK(unexpected.message == "login at " + site.url("/login") + " answered HTTP 302 (expected 200)");
}

TEST_CASE("probe page: cookies are sent with the request") {
  Site site;
  auto with = run_page({{"url", site.url("/needs-cookie")}, {"cookies", {{"token", "t0k3n"}}},
                        {"expect_text", "token accepted"}});
  CHECK(with.status == Status::ok);
  auto without = run_page({{"url", site.url("/needs-cookie")}, {"expect_text", "token accepted"}});
  CHECK(without.status == Status::critical);
}

TEST_CASE("probe page: an HTTP error or an unreachable page is critical") {
  Site site;
  auto error = run_page({{"url", site.url("/500")}});
  CHECK(error.status == Status::critical);
  CHECK(error.message == site.url("/500") + " answered HTTP 500");
  CHECK(error.values["status"] == 500);

  auto url = "http://127.0.0.1:" + std::to_string(closed_port()) + "/";
  auto refused = run_page({{"url", url}, {"expect_text", "x"}});
  CHECK(refused.status == Status::critical);
  CHECK(refused.message.starts_with("cannot load " + url + ": "));
  CHECK_FALSE(refused.values.contains("status"));

  auto empty = run_page({{"url", site.url("/empty")}, {"expect_element", "//p"}});
  CHECK(empty.status == Status::critical);
  CHECK(empty.values["text_length"] == 0);
}

TEST_CASE("probe page: a page with no expectations is ok when it loads") {
  Site site;
  auto result = run_page({{"url", site.url("/")}});
  CHECK(result.status == Status::ok);
  CHECK(result.values["matched"] == json::object());
}

TEST_CASE("probe page: bad fields are definition errors naming the field") {
  CHECK(definition_error({{"expect_text", "x"}}) == "page probe: field 'url' must be given");
  CHECK(definition_error({{"url", "ftp://example.com/"}}).find("field 'url' must start with http://") !=
        std::string::npos);
  CHECK(definition_error({{"url", "http://x/"}, {"engine", "lynx"}}) ==
        "page probe: field 'engine' must be http or browser, not 'lynx'");
  CHECK(definition_error({{"url", "http://x/"}, {"steps", json::array({{{"click", "#go"}}})}})
          .find("field 'steps' needs engine: browser") != std::string::npos);
  CHECK(definition_error({{"url", "http://x/"}, {"screenshot", "/tmp/x.png"}})
          .find("field 'screenshot' needs engine: browser") != std::string::npos);
  CHECK(definition_error({{"url", "http://x/"}, {"login", json::array()}})
          .find("field 'login' must be a mapping") != std::string::npos);
  CHECK(definition_error({{"url", "http://x/"}, {"engine", "browser"}, {"login", {{"url", "http://x/login"}}}})
          .find("field 'login' must be a list of steps for engine browser") != std::string::npos);
  CHECK(definition_error({{"url", "http://x/"}, {"engine", "browser"},
                          {"steps", json::array({{{"click", "#a"}, {"goto", "http://x/"}}})}}) ==
        "page probe: field 'steps', step 1: has two actions ('click' and 'goto'); write one step each");
  CHECK(definition_error({{"url", "http://x/"}, {"engine", "browser"}, {"steps", json::array({{{"hover", "#a"}}})}}) ==
        "page probe: field 'steps', step 1: has unknown action 'hover'");
  CHECK(definition_error({{"url", "http://x/"}, {"engine", "browser"},
                          {"steps", json::array({{{"fill", {{"selector", "#a"}}}}})}})
          .find("fill needs {selector: CSS, value: TEXT}") != std::string::npos);
  CHECK(definition_error({{"url", "http://x/"}, {"engine", "browser"},
                          {"steps", json::array({{{"expect_text", "a"}, {"timeout", "2s"}}})}})
          .find("only wait_for, fill and click take a timeout") != std::string::npos);
  // A cookie value may be a secret: the error names the cookie only.
  auto cookie = definition_error({{"url", "http://x/"}, {"cookies", {{"sid", "se cret"}}}});
  CHECK(cookie.find("'sid'") != std::string::npos);
  CHECK(cookie.find("se cret") == std::string::npos);
  CHECK(definition_error({{"url", "http://x/"}, {"timeout", "0s"}}) ==
        "page probe: field 'timeout' must be longer than zero");
}

TEST_CASE("probe page: the browser engine is unknown where ChromeDriver is missing") {
  has::test::TempDir tmp;
  ScopedEnv driver("HAS_CHROMEDRIVER", (tmp.path() / "no-chromedriver").string());
  auto result = run_page({{"url", "http://127.0.0.1:9/"}, {"engine", "browser"}, {"expect_text", "x"}});
  CHECK(result.status == Status::unknown);
  CHECK(result.message == "the browser engine cannot run here: HAS_CHROMEDRIVER names " +
                            (tmp.path() / "no-chromedriver").string() + ", which is not an executable file");
}

TEST_CASE("probe page: white space counts as one space when matching text") {
  using has::probe::page::collapse_space;
  using has::probe::page::text_contains;
  CHECK(collapse_space("  a \n\t b\xC2\xA0" "c  ") == "a b c");
  CHECK(collapse_space("") == "");
  CHECK(text_contains("Welcome, alice", "Welcome,\n  alice"));
  CHECK_FALSE(text_contains("Welcome, alice", "Welcome,alice"));
}
