#pragma once

// A small W3C WebDriver client for headless Chromium, for the page probe's
// browser engine. One ChromeDriver per process serves every session: it is
// started on first use (loopback only, a port the kernel picks) and stopped
// when the process exits; each session gets its own Chromium with a fresh
// profile, and sessions beyond the number of cores wait for a free one.
// Commands go over HTTP through util::http_request.

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace has::probe::webdriver {

// The browser cannot run here: ChromeDriver or Chromium is missing, or one
// of them fails to start. what() says which and why.
class Unavailable : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// A command failed. code() is the W3C error code ("no such element",
// "invalid selector", "timeout", ...), or "no answer" when ChromeDriver did
// not reply; what() is the first line of ChromeDriver's message.
class CommandError : public std::runtime_error {
public:
  CommandError(std::string code, const std::string& message);
  const std::string& code() const noexcept { return m_code; }

private:
  std::string m_code;
};

struct SessionOptions {
  // How long a navigation may take before it fails with code "timeout".
  std::chrono::milliseconds page_load_timeout{30'000};
  // Whether TLS certificate errors are ignored (verify_tls: false).
  bool accept_insecure_certs = false;
};

// Returns the ChromeDriver to use: $HAS_CHROMEDRIVER if set, else
// chromedriver from PATH, else /usr/bin/chromedriver. Throws Unavailable
// saying where it looked when there is none.
std::filesystem::path find_chromedriver();

// Returns the Chromium to use: $HAS_CHROMIUM if set, else chromium from
// PATH, else /usr/bin/chromium. Throws Unavailable when there is none.
std::filesystem::path find_chromium();

// One browser session: a headless Chromium with a fresh profile.
class Session {
public:
  // Starts the shared ChromeDriver if needed, then a session. Throws
  // Unavailable when either program is missing or cannot start.
  explicit Session(const SessionOptions& options);
  // Ends the session (Chromium exits) and removes the profile; never throws.
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Each of these throws CommandError when ChromeDriver reports a failure.

  // Loads url and waits for it as the page load strategy says.
  void navigate(const std::string& url);
  // Returns the ids of the elements a CSS selector matches (none is fine).
  std::vector<std::string> find(const std::string& css);
  // Empties a form field, then types text into it.
  void fill(const std::string& element, const std::string& text);
  void click(const std::string& element);
  // Runs script as a function body with args; returns what it returns.
  nlohmann::json execute(const std::string& script, const nlohmann::json& args = nlohmann::json::array());
  // Calls a Chrome DevTools Protocol command (ChromeDriver's extension).
  nlohmann::json devtools(const std::string& command, const nlohmann::json& params);
  // Returns the current URL.
  std::string url();
  // Returns a PNG of the viewport, as bytes.
  std::string screenshot_png();

private:
  nlohmann::json command(const std::string& method, const std::string& path, const nlohmann::json& body,
                         std::chrono::milliseconds timeout);

  // A place among the browsers this process runs at once (as many as
  // cores, at least 2), held for the session's life.
  struct Slot {
    Slot();
    ~Slot();
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
  };

  std::optional<Slot> m_slot;
  std::string m_base; // http://127.0.0.1:PORT/session/ID
  std::filesystem::path m_profile;
  std::chrono::milliseconds m_page_load_timeout;
};

// Returns the bytes of standard base64 text (padding optional, white space
// ignored). Throws std::invalid_argument on any other character.
std::string base64_decode(std::string_view text);

} // namespace has::probe::webdriver
