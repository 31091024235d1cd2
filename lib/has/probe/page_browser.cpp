// The page probe's browser engine: headless Chromium through WebDriver, for
// pages that scripts build and logins that need them. The order is: the
// cookies, the login steps, the page itself, the steps, then the page's
// expectations as the browser shows it. `timeout` bounds each page load and
// each wait. A failed check can leave a screenshot of what the browser saw.

#include <has/probe/http_text.hpp>
#include <has/probe/page.hpp>
#include <has/probe/webdriver.hpp>

#include <has/defs/units.hpp>

#include <fmt/format.h>

#include <unistd.h>

#include <atomic>
#include <ctime>
#include <fstream>
#include <thread>

namespace has::probe::page {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// What the page looks like now. innerText is the text as laid out, without
// hidden elements; an error page's location is chrome-error://, with the
// URL that failed in the navigation entry.
constexpr std::string_view k_state_script = R"js(
var nav = performance.getEntriesByType('navigation')[0];
var root = document.body || document.documentElement;
return {href: location.href, title: document.title, text: root ? root.innerText : '',
        status: nav && nav.responseStatus ? nav.responseStatus : 0, requested: nav ? nav.name : ''};
)js";

// Returns what k_state_script reports; an empty object if the page gave
// nothing usable (it was replaced while the script ran).
nlohmann::json read_state(webdriver::Session& session) {
  auto state = session.execute(std::string(k_state_script));
  return state.is_object() ? state : nlohmann::json::object();
}

// A definition found unusable while running (a bad CSS selector).
struct Broken {
  std::string message;
};

std::string duration_text(std::chrono::milliseconds duration) {
  return defs::format_duration(duration);
}

// Returns the net::ERR_... code Chromium's error page shows, if any.
std::string error_code(std::string_view text) {
  auto at = text.find("ERR_");
  if (at == std::string_view::npos) {
    return {};
  }
  auto end = at + 4;
  while (end < text.size() && (std::isupper(static_cast<unsigned char>(text[end])) || text[end] == '_')) {
    ++end;
  }
  return "net::" + std::string(text.substr(at, end - at));
}

// Returns a navigation error as Chromium says it, without WebDriver's
// "unknown error: " in front.
std::string navigation_error(const webdriver::CommandError& e) {
  std::string text = e.what();
  constexpr std::string_view k_prefix = "unknown error: ";
  if (text.starts_with(k_prefix)) {
    text.erase(0, k_prefix.size());
  }
  return text;
}

class Browser {
public:
  Browser(webdriver::Session& session, const Definition& definition, Page& page)
    : m_session(session), m_definition(definition), m_page(page) {}

  void set_cookies() {
    for (const auto& [name, value] : m_definition.cookies) {
      m_session.devtools("Network.setCookie", {{"name", name}, {"value", value}, {"url", m_definition.url}});
    }
  }

  // Runs steps in order; returns false at the first that fails (recorded).
  bool run(const std::vector<Step>& steps, std::string_view label) {
    for (std::size_t i = 0; i < steps.size(); ++i) {
      auto where = fmt::format("{} {}", label, i + 1);
      if (!run_step(steps[i], where)) {
        return false;
      }
    }
    return true;
  }

  // Loads the page itself; returns false when it cannot be loaded.
  bool open() {
    if (auto error = go_to(m_definition.url)) {
      fail(*error);
      return false;
    }
    m_opened = true;
    return true;
  }

  // Reads the page as the browser shows it now and counts the elements of
  // each expect_element.
  void observe() {
    auto state = read_state(m_session);
    auto href = state.value("href", "");
    m_page.title = state.value("title", "");
    m_page.text = collapse_space(state.value("text", ""));
    if (auto status = state.value("status", 0L); status > 0) {
      m_page.status = status;
    }
    if (href.starts_with("chrome-error://")) {
      auto requested = state.value("requested", "");
      m_page.url = requested;
      m_page.loaded = false;
      m_page.error = fmt::format("cannot load {}: {}", requested.empty() ? m_definition.url : requested,
                                 error_code(m_page.text).empty() ? "the browser shows an error page"
                                                                 : error_code(m_page.text));
      return;
    }
    m_page.url = href;
    m_page.loaded = m_opened;
    for (const auto& selector : m_definition.expect_element) {
      m_page.element_counts.push_back(find(selector).size());
    }
  }

private:
  // Records a failure: before the page is open it means the page could not
  // be reached; after, that a step failed on it.
  void fail(std::string message) {
    if (m_opened) {
      m_page.step_failure = std::move(message);
    } else {
      m_page.loaded = false;
      m_page.error = std::move(message);
    }
  }

  // Returns why url did not load, or nullopt once it has.
  std::optional<std::string> go_to(const std::string& url) {
    try {
      m_session.navigate(url);
    } catch (const webdriver::CommandError& e) {
      if (e.code() == "timeout") {
        return fmt::format("{} did not load within {}", url, duration_text(m_definition.timeout));
      }
      if (e.code() == "no answer" || e.code() == "invalid session id") {
        throw;
      }
      return fmt::format("cannot load {}: {}", url, navigation_error(e));
    }
    auto state = read_state(m_session);
    if (state.value("href", "").starts_with("chrome-error://")) {
      auto code = error_code(state.value("text", ""));
      return fmt::format("cannot load {}: {}", url, code.empty() ? "the browser shows an error page" : code);
    }
    return std::nullopt;
  }

  std::vector<std::string> find(const std::string& css) {
    try {
      return m_session.find(css);
    } catch (const webdriver::CommandError& e) {
      if (e.code() == "invalid selector") {
        throw Broken{fmt::format("page probe: '{}' is not a valid CSS selector", css)};
      }
      throw;
    }
  }

  // Returns the elements css matches, polling until one appears or the
  // timeout passes.
  std::vector<std::string> wait_for(const std::string& css, std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (true) {
      auto found = find(css);
      if (!found.empty() || Clock::now() >= deadline) {
        return found;
      }
      std::this_thread::sleep_for(100ms);
    }
  }

  std::string current_text() {
    auto state = read_state(m_session);
    return collapse_space(state.value("text", ""));
  }

  bool run_step(const Step& step, const std::string& where) {
    switch (step.kind) {
    case Step::Kind::go_to:
      if (auto error = go_to(step.target)) {
        fail(fmt::format("{}: {}", where, *error));
        return false;
      }
      return true;
    case Step::Kind::fill:
    case Step::Kind::click: {
      bool fill = step.kind == Step::Kind::fill;
      auto found = wait_for(step.target, step.timeout);
      if (found.empty()) {
        fail(fmt::format("{}: no element matches '{}' to {} (waited {}) on {}", where, step.target,
                         fill ? "fill" : "click", duration_text(step.timeout), m_session.url()));
        return false;
      }
      try {
        if (fill) {
          m_session.fill(found.front(), step.value);
        } else {
          m_session.click(found.front());
        }
      } catch (const webdriver::CommandError& e) {
        if (e.code() == "no answer" || e.code() == "invalid session id") {
          throw;
        }
        // ChromeDriver's message names the element's state, never the text.
        fail(fmt::format("{}: cannot {} '{}': {}", where, fill ? "fill" : "click", step.target, e.what()));
        return false;
      }
      return true;
    }
    case Step::Kind::wait_for:
      if (wait_for(step.target, step.timeout).empty()) {
        fail(fmt::format("{}: '{}' did not appear within {} on {}", where, step.target, duration_text(step.timeout),
                         m_session.url()));
        return false;
      }
      return true;
    case Step::Kind::expect_text: {
      bool found = text_contains(current_text(), step.target);
      m_page.step_matched["text"][step.target] = found;
      if (!found) {
        fail(fmt::format("{}: text '{}' not found on {}", where, step.target, m_session.url()));
      }
      return found;
    }
    case Step::Kind::expect_element: {
      auto count = find(step.target).size();
      m_page.step_matched["element"][step.target] = count;
      if (count == 0) {
        fail(fmt::format("{}: no element matches '{}' on {}", where, step.target, m_session.url()));
      }
      return count > 0;
    }
    }
    return false;
  }

  webdriver::Session& m_session;
  const Definition& m_definition;
  Page& m_page;
  bool m_opened = false;
};

// Returns the file a screenshot goes to: the one named, or a new one in the
// directory named.
std::filesystem::path screenshot_file(const ScreenshotTarget& target, const std::string& url) {
  if (!target.directory) {
    return target.path;
  }
  static std::atomic<unsigned> counter{0};
  auto start = url.find("://") + 3;
  std::string host;
  for (char c : url.substr(start, url.find_first_of("/?#", start) - start)) {
    host += std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ? c : '_';
  }
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  std::array<char, 32> stamp{};
  std::strftime(stamp.data(), stamp.size(), "%Y%m%dT%H%M%SZ", &utc);
  return target.path / fmt::format("page-{}-{}-{}-{}.png", host, stamp.data(), ::getpid(), counter++);
}

// Takes the screenshot of a failed check; records its path, or why there
// is none.
void take_screenshot(webdriver::Session& session, const Definition& definition, Result& result) {
  auto file = screenshot_file(*definition.screenshot, definition.url);
  try {
    auto png = session.screenshot_png();
    std::error_code ec;
    if (file.has_parent_path()) {
      std::filesystem::create_directories(file.parent_path(), ec);
    }
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(png.data(), static_cast<std::streamsize>(png.size()));
    if (!out.flush()) {
      throw std::runtime_error(fmt::format("cannot write {}", file.string()));
    }
    result.values["screenshot"] = std::filesystem::absolute(file, ec).string();
  } catch (const std::exception& e) {
    result.values["screenshot_error"] = utf8_text(e.what());
  }
}

Result unavailable(const Definition& definition, std::string_view reason) {
  Result result;
  result.status = Status::unknown;
  result.message = fmt::format("the browser engine cannot run here: {}", reason);
  result.values = {{"engine", "browser"}, {"url", definition.url}, {"error", result.message}};
  return result;
}

} // namespace

Result run_browser(const Definition& definition) {
  std::optional<webdriver::Session> session;
  try {
    session.emplace(webdriver::SessionOptions{definition.timeout, !definition.verify_tls});
  } catch (const webdriver::Unavailable& e) {
    return unavailable(definition, e.what());
  }
  Page page;
  auto start = Clock::now();
  Browser browser(*session, definition, page);
  try {
    browser.set_cookies();
    if (browser.run(definition.login_steps, "login step") && browser.open()) {
      browser.run(definition.steps, "step");
      browser.observe();
    }
  } catch (const Broken& broken) {
    page.broken = broken.message;
  } catch (const webdriver::CommandError& e) {
    // The browser itself gave out (crashed, or ChromeDriver went away).
    page.broken = fmt::format("the browser failed while checking {}: {}", definition.url, e.what());
  }
  page.elapsed_ms = elapsed_ms_since(start);
  auto result = judge(definition, page);
  if (result.status == Status::critical && definition.screenshot) {
    take_screenshot(*session, definition, result);
  }
  return result;
}

} // namespace has::probe::page
