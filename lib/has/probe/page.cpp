// The page probe: is a page up for its users? It opens the page (after a
// login where one is needed) and decides the page rendered by finding text
// and elements in it. The http engine reads the HTML as served; the browser
// engine runs it in headless Chromium, for pages their scripts build. Both
// end in one judgement, so a rule reads the same whichever engine it uses.

#include <has/probe/fields.hpp>
#include <has/probe/http_text.hpp>
#include <has/probe/kinds.hpp>
#include <has/probe/page.hpp>

#include <has/core/error.hpp>
#include <has/core/redact.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>

namespace has::probe {

namespace page {

namespace {

constexpr std::size_t k_evidence_bytes = 1024;

[[noreturn]] void bad_field(std::string_view field, std::string_view what, std::string_view help = {}) {
  throw core::Error(core::ExitCode::bad_definitions, fmt::format("page probe: field '{}' {}", field, what), {},
                    std::string(help));
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::ranges::transform(out, out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

void check_url(std::string_view field, const std::string& url) {
  auto scheme_end = url.find("://");
  auto scheme = scheme_end == std::string::npos ? std::string() : lower(std::string_view(url).substr(0, scheme_end));
  if (scheme != "http" && scheme != "https") {
    bad_field(field, fmt::format("must start with http:// or https://, not '{}'", url),
              "write the full URL, e.g. https://app.example.com/dashboard");
  }
  if (scheme_end + 3 == url.size() || url.find_first_of("/?#", scheme_end + 3) == scheme_end + 3) {
    bad_field(field, fmt::format("has no host: '{}'", url));
  }
  if (url.find_first_of(" \t\r\n") != std::string::npos) {
    bad_field(field, "must not contain white space (percent-encode it as %20)");
  }
}

// Returns a YAML scalar as text; numbers and booleans as written.
std::optional<std::string> scalar(const nlohmann::json& value) {
  if (value.is_string()) {
    return value.get<std::string>();
  }
  if (value.is_number() || value.is_boolean()) {
    return value.dump();
  }
  return std::nullopt;
}

std::vector<std::string> non_empty_strings(const Fields& fields, std::string_view key) {
  auto list = fields.strings(key);
  for (const auto& item : list) {
    if (item.empty()) {
      bad_field(key, "must not hold an empty entry");
    }
  }
  return list;
}

std::chrono::milliseconds positive(std::string_view field, std::chrono::milliseconds value) {
  if (value.count() <= 0) {
    bad_field(field, "must be longer than zero");
  }
  return value;
}

// Cookies become Netscape cookie-file lines (http) and CDP calls (browser):
// separators or line breaks in them would forge other cookies.
void check_cookie(const std::string& name, const std::string& value) {
  constexpr std::string_view k_separators = "()<>@,;:\\\"/[]?={} \t";
  bool name_ok = !name.empty() && std::ranges::all_of(name, [&](unsigned char c) {
    return c > 0x20 && c < 0x7f && k_separators.find(static_cast<char>(c)) == std::string_view::npos;
  });
  if (!name_ok) {
    bad_field("cookies", fmt::format("has an invalid cookie name '{}'", name));
  }
  bool value_ok = std::ranges::all_of(value, [](unsigned char c) {
    return c > 0x20 && c != 0x7f && c != ';' && c != ',' && c != '"' && c != '\\';
  });
  if (!value_ok) {
    // The value may be a secret: name only the cookie.
    bad_field("cookies", fmt::format("has a value for '{}' with a space, quote, comma, semicolon or "
                                     "control character", name),
              "percent-encode the value as the site expects it");
  }
}

FormLogin parse_form_login(const nlohmann::json& raw, const std::string& page_url) {
  if (!raw.is_object()) {
    bad_field("login", "must be a mapping {url, method, form, expect_status} for engine http",
              "for engine browser, write login as a list of steps");
  }
  Fields fields("page", raw);
  for (const auto& item : raw.items()) {
    constexpr std::array<std::string_view, 4> k_keys{"url", "method", "form", "expect_status"};
    if (std::ranges::find(k_keys, item.key()) == k_keys.end()) {
      bad_field("login", fmt::format("has unknown key '{}' (known: url, method, form, expect_status)", item.key()));
    }
  }
  FormLogin login;
  login.url = fields.optional_string("url").value_or(page_url);
  check_url("login.url", login.url);
  auto method = fields.optional_string("method").value_or("POST");
  std::ranges::transform(method, method.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (method != "POST" && method != "PUT" && method != "PATCH") {
    bad_field("login.method", fmt::format("must be POST, PUT or PATCH (a method that sends the form), not '{}'",
                                          method));
  }
  login.method = method;
  for (auto& [name, value] : fields.string_map("form")) {
    if (name.empty()) {
      bad_field("login.form", "has a field without a name");
    }
    login.form.emplace_back(name, std::move(value));
  }
  if (auto status = fields.optional_integer("expect_status")) {
    if (*status < 100 || *status > 599) {
      bad_field("login.expect_status", fmt::format("must be an HTTP status (100-599), not {}", *status));
    }
    login.expect_status = static_cast<long>(*status);
  }
  return login;
}

Step parse_step(std::string_view field, std::size_t number, const nlohmann::json& item,
                std::chrono::milliseconds timeout) {
  auto where = fmt::format("{} step {}", field, number);
  auto fail = [&](std::string_view what) -> Step {
    throw core::Error(core::ExitCode::bad_definitions, fmt::format("page probe: field '{}', step {}: {}", field,
                                                                   number, what),
                      {},
                      "a step is one of {goto: URL}, {fill: {selector: CSS, value: TEXT}}, {click: CSS}, "
                      "{wait_for: CSS, timeout: 5s}, {expect_text: TEXT}, {expect_element: CSS}");
  };
  if (!item.is_object()) {
    return fail("must be a mapping with one action");
  }
  constexpr std::array<std::string_view, 6> k_actions{"goto",     "fill",        "click",
                                                      "wait_for", "expect_text", "expect_element"};
  Step step;
  step.timeout = timeout;
  std::optional<std::string> action;
  for (const auto& entry : item.items()) {
    if (entry.key() == "timeout") {
      continue;
    }
    if (std::ranges::find(k_actions, entry.key()) == k_actions.end()) {
      return fail(fmt::format("has unknown action '{}'", entry.key()));
    }
    if (action) {
      return fail(fmt::format("has two actions ('{}' and '{}'); write one step each", *action, entry.key()));
    }
    action = entry.key();
  }
  if (!action) {
    return fail("has no action");
  }
  const auto& value = item.at(*action);
  if (*action == "fill") {
    if (!value.is_object() || !value.contains("selector") || !value.contains("value")) {
      return fail("fill needs {selector: CSS, value: TEXT}");
    }
    step.kind = Step::Kind::fill;
    auto selector = scalar(value.at("selector"));
    auto text = scalar(value.at("value"));
    if (!selector || selector->empty() || !text) {
      return fail("fill needs a selector and a single value");
    }
    step.target = *selector;
    step.value = *text;
  } else {
    auto text = scalar(value);
    if (!text || text->empty()) {
      return fail(fmt::format("{} needs a single non-empty value", *action));
    }
    step.target = *text;
    step.kind = *action == "goto"          ? Step::Kind::go_to
                : *action == "click"       ? Step::Kind::click
                : *action == "wait_for"    ? Step::Kind::wait_for
                : *action == "expect_text" ? Step::Kind::expect_text
                                           : Step::Kind::expect_element;
    if (step.kind == Step::Kind::go_to) {
      check_url(where, step.target);
    }
  }
  if (item.contains("timeout")) {
    if (step.kind != Step::Kind::wait_for && step.kind != Step::Kind::fill && step.kind != Step::Kind::click) {
      return fail("only wait_for, fill and click take a timeout");
    }
    Fields fields("page", item);
    step.timeout = positive(where, fields.duration("timeout").value_or(timeout));
  }
  return step;
}

std::vector<Step> parse_steps(std::string_view field, const nlohmann::json& raw, std::chrono::milliseconds timeout) {
  std::vector<Step> steps;
  if (raw.is_null()) {
    return steps;
  }
  if (!raw.is_array()) {
    bad_field(field, "must be a list of steps");
  }
  for (std::size_t i = 0; i < raw.size(); ++i) {
    steps.push_back(parse_step(field, i + 1, raw[i], timeout));
  }
  return steps;
}

std::optional<ScreenshotTarget> parse_screenshot(const Fields& fields) {
  const auto& raw = fields.raw("screenshot");
  if (raw.is_null()) {
    return std::nullopt;
  }
  if (raw.is_boolean() || (raw.is_string() && (raw == "true" || raw == "false"))) {
    if (!fields.boolean("screenshot").value_or(false)) {
      return std::nullopt;
    }
    return ScreenshotTarget{std::filesystem::temp_directory_path(), true};
  }
  auto text = fields.string("screenshot");
  if (text.empty()) {
    bad_field("screenshot", "must be a file, a directory or true");
  }
  std::error_code ec;
  bool directory = text.back() == '/' || std::filesystem::is_directory(text, ec);
  return ScreenshotTarget{text, directory};
}

Definition parse(const Spec& spec) {
  Fields fields("page", spec.fields);
  Definition definition;
  definition.url = fields.string("url");
  check_url("url", definition.url);
  auto engine = fields.optional_string("engine").value_or("http");
  if (engine != "http" && engine != "browser") {
    bad_field("engine", fmt::format("must be http or browser, not '{}'", engine),
              "use browser for pages that scripts build; it needs chromium and chromium-driver");
  }
  definition.engine = engine == "http" ? Engine::http : Engine::browser;
  bool browser = definition.engine == Engine::browser;
  definition.timeout = positive("timeout", fields.duration("timeout").value_or(spec.timeout));
  definition.expect_text = non_empty_strings(fields, "expect_text");
  definition.expect_element = non_empty_strings(fields, "expect_element");
  for (auto& [name, value] : fields.string_map("cookies")) {
    check_cookie(name, value);
    definition.cookies.emplace_back(name, std::move(value));
  }
  if (fields.has("login")) {
    if (browser) {
      if (!fields.raw("login").is_array()) {
        bad_field("login", "must be a list of steps for engine browser",
                  "e.g. login: [{goto: https://app/login}, {fill: {selector: '#user', value: alice}}, "
                  "{click: 'button[type=submit]'}]");
      }
      definition.login_steps = parse_steps("login", fields.raw("login"), definition.timeout);
    } else {
      definition.login = parse_form_login(fields.raw("login"), definition.url);
    }
  }
  if (fields.has("steps")) {
    if (!browser) {
      bad_field("steps", "needs engine: browser (the http engine runs no scripts and clicks nothing)");
    }
    definition.steps = parse_steps("steps", fields.raw("steps"), definition.timeout);
  }
  definition.screenshot = parse_screenshot(fields);
  if (definition.screenshot && !browser) {
    bad_field("screenshot", "needs engine: browser (the http engine draws nothing)");
  }
  definition.verify_tls = fields.boolean("verify_tls").value_or(true);
  return definition;
}

bool is_space_at(std::string_view text, std::size_t i, std::size_t& length) {
  auto c = static_cast<unsigned char>(text[i]);
  if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
    length = 1;
    return true;
  }
  // U+00A0 (&nbsp;) reads as a space on the page.
  if (c == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) == 0xA0) {
    length = 2;
    return true;
  }
  return false;
}

} // namespace

std::string collapse_space(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool pending = false;
  for (std::size_t i = 0; i < text.size();) {
    std::size_t length = 0;
    if (is_space_at(text, i, length)) {
      pending = !out.empty();
      i += length;
      continue;
    }
    if (pending) {
      out += ' ';
      pending = false;
    }
    out += text[i++];
  }
  return out;
}

bool text_contains(const std::string& text, std::string_view needle) {
  return text.find(collapse_space(needle)) != std::string::npos;
}

Result judge(const Definition& definition, const Page& page) {
  Result result;
  result.elapsed_ms = page.elapsed_ms;
  auto& values = result.values;
  values["engine"] = definition.engine == Engine::http ? "http" : "browser";
  values["url"] = page.url.empty() ? definition.url : page.url;
  if (page.status) {
    values["status"] = *page.status;
  }
  values["title"] = utf8_text(page.title);
  values["text_length"] = page.text.size();
  values["elapsed_ms"] = page.elapsed_ms;

  auto matched = page.step_matched;
  std::string first_failure;
  if (page.loaded && page.broken.empty()) {
    for (const auto& text : definition.expect_text) {
      bool found = text_contains(page.text, text);
      matched["text"][text] = found;
      if (!found && first_failure.empty()) {
        first_failure = fmt::format("text '{}' not found", text);
      }
    }
    for (std::size_t i = 0; i < definition.expect_element.size() && i < page.element_counts.size(); ++i) {
      const auto& selector = definition.expect_element[i];
      matched["element"][selector] = page.element_counts[i];
      if (page.element_counts[i] == 0 && first_failure.empty()) {
        first_failure = fmt::format("no element matches '{}'", selector);
      }
    }
  }
  values["matched"] = std::move(matched);

  // Where the page ended up, when a redirect (often to a login form) moved it.
  std::string on = definition.url;
  if (!page.url.empty() && page.url != definition.url) {
    on += fmt::format(" (ended at {})", page.url);
  }
  if (!page.broken.empty()) {
    result.status = Status::unknown;
    result.message = page.broken;
  } else if (!page.loaded) {
    result.status = Status::critical;
    result.message = page.error;
  } else if (page.status && *page.status >= 400) {
    result.status = Status::critical;
    result.message = fmt::format("{} answered HTTP {}", on, *page.status);
  } else if (!page.step_failure.empty()) {
    result.status = Status::critical;
    result.message = page.step_failure; // names its step and where it was
  } else if (!first_failure.empty()) {
    result.status = Status::critical;
    result.message = fmt::format("{} on {}", first_failure, on);
  } else {
    // Expectations met inside steps count too.
    std::size_t count = 0;
    for (const auto& group : values["matched"]) {
      count += group.size();
    }
    result.message = fmt::format("{} rendered{} in {:.0f} ms{}", definition.url,
                                 page.title.empty() ? "" : fmt::format(" '{}'", collapse_space(page.title)),
                                 page.elapsed_ms,
                                 count == 0 ? "" : fmt::format(", {} expectation{} met", count, count == 1 ? "" : "s"));
  }
  result.message = utf8_text(core::redact(result.message));
  if (result.status != Status::ok && !page.text.empty()) {
    result.evidence = core::redact(excerpt(page.text, k_evidence_bytes));
  }
  return result;
}

} // namespace page

Task make_page(const Spec& spec) {
  auto definition = page::parse(spec);
  Task task;
  task.blocking = [definition = std::move(definition)] {
    if (definition.engine == page::Engine::browser) {
      return page::run_browser(definition);
    }
    return page::judge(definition, page::render_http(definition));
  };
  return task;
}

} // namespace has::probe
