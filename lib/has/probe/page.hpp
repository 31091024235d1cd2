#pragma once

// Private to the page probe (page.cpp and its two engines, page_http.cpp and
// page_browser.cpp): the checked definition, what an engine saw, and the one
// judgement both engines share.

#include <has/probe/probe.hpp>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace has::probe::page {

// How a page is rendered: its HTML as served, or by Chromium (scripts run).
enum class Engine { http, browser };

// The form posted before the page (http engine). Form values are secrets:
// they go into the request body and nowhere else.
struct FormLogin {
  std::string url;
  std::string method = "POST";
  std::vector<std::pair<std::string, std::string>> form;
  std::optional<long> expect_status;
};

// One browser step. Fill values are secrets, like form values.
struct Step {
  enum class Kind { go_to, fill, click, wait_for, expect_text, expect_element };
  Kind kind = Kind::go_to;
  std::string target; // the URL, selector or text the step is about
  std::string value;  // fill: what is typed
  std::chrono::milliseconds timeout{0};
};

// Where a failure screenshot goes: a file, or a new file in a directory.
struct ScreenshotTarget {
  std::filesystem::path path;
  bool directory = false;
};

// A page probe's fields, checked.
struct Definition {
  std::string url;
  Engine engine = Engine::http;
  std::vector<std::string> expect_text;
  std::vector<std::string> expect_element; // XPath (http) or CSS selectors (browser)
  std::optional<FormLogin> login;          // http engine
  std::vector<Step> login_steps;           // browser engine
  std::vector<Step> steps;                 // browser engine
  std::vector<std::pair<std::string, std::string>> cookies;
  std::chrono::milliseconds timeout{10'000};
  std::optional<ScreenshotTarget> screenshot; // browser engine
  bool verify_tls = true;
};

// What an engine saw of the page.
struct Page {
  // False when the page (or the login before it) could not be loaded; error
  // says why.
  bool loaded = false;
  std::string error;
  // A definition the engine found unusable only when it ran (a bad XPath or
  // CSS selector): the result is unknown.
  std::string broken;
  // The first step that failed (browser): the result is critical.
  std::string step_failure;
  std::optional<long> status;
  std::string url; // final, after redirects
  std::string title;
  std::string text; // rendered text, white space collapsed
  // Matches per expect_element entry, in order.
  std::vector<std::size_t> element_counts;
  // Results of expectations met inside steps, merged into values.matched.
  nlohmann::json step_matched = nlohmann::json::object();
  double elapsed_ms = 0;
};

// Returns text with each run of white space (including non-breaking spaces)
// turned into one space and none at either end.
std::string collapse_space(std::string_view text);

// Returns whether collapsed page text contains needle, white space in needle
// counting as in collapse_space.
bool text_contains(const std::string& text, std::string_view needle);

// Returns the verdict on what the engine saw: unknown when broken; critical
// when the page did not load, answered an HTTP error, a step failed or an
// expectation does not hold (the message names the first); ok otherwise.
Result judge(const Definition& definition, const Page& page);

// Renders the page from its HTML as served (libcurl + libxml2). Never
// throws for what the page does; returns what was seen.
Page render_http(const Definition& definition);

// Renders the page in headless Chromium through ChromeDriver, judges it and
// takes the failure screenshot. Returns unknown when ChromeDriver or
// Chromium is missing or cannot start.
Result run_browser(const Definition& definition);

} // namespace has::probe::page
