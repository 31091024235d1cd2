// The page probe's http engine: the page's HTML as the server sends it,
// after an optional form login whose cookies are kept in a jar of the
// check's own, parsed by libxml2's forgiving HTML parser and searched with
// XPath. Scripts do not run: a page built by JavaScript needs the browser
// engine.

#include <has/probe/http_text.hpp>
#include <has/probe/page.hpp>

#include <has/util/http.hpp>

#include <fmt/format.h>
#include <libxml/HTMLparser.h>
#include <libxml/HTMLtree.h>
#include <libxml/xpath.h>

#include <stdlib.h>

#include <array>
#include <fstream>
#include <memory>
#include <mutex>

namespace has::probe::page {

namespace {

struct DocFree {
  void operator()(xmlDoc* doc) const { xmlFreeDoc(doc); }
};
struct ContextFree {
  void operator()(xmlXPathContext* context) const { xmlXPathFreeContext(context); }
};
struct ObjectFree {
  void operator()(xmlXPathObject* object) const { xmlXPathFreeObject(object); }
};
using DocPtr = std::unique_ptr<xmlDoc, DocFree>;
using ContextPtr = std::unique_ptr<xmlXPathContext, ContextFree>;
using ObjectPtr = std::unique_ptr<xmlXPathObject, ObjectFree>;

using Clock = std::chrono::steady_clock;

// A directory of the check's own (mode 0700, from mkdtemp) for its cookie
// jar, removed with everything in it when the check ends: the jar holds
// session cookies, which are credentials.
class JarDir {
public:
  JarDir() {
    auto pattern = (std::filesystem::temp_directory_path() / "has-page-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::system_error(errno, std::generic_category(), "cannot create a directory for the cookie jar");
    }
    m_path = pattern;
  }
  ~JarDir() {
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
  }
  JarDir(const JarDir&) = delete;
  JarDir& operator=(const JarDir&) = delete;

  std::string jar() const { return (m_path / "cookies.txt").string(); }

private:
  std::filesystem::path m_path;
};

// Returns the host of an http(s) URL (checked when the definition loaded).
std::string host_of(std::string_view url) {
  auto start = url.find("://") + 3;
  auto authority = url.substr(start, url.find_first_of("/?#", start) - start);
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  if (authority.starts_with('[')) {
    return std::string(authority.substr(1, authority.find(']') - 1));
  }
  return std::string(authority.substr(0, authority.find(':')));
}

// Puts the definition's cookies into the jar, in the Netscape format curl
// reads, as session cookies of the page's host.
void write_cookies(const Definition& definition, const std::string& jar) {
  std::ofstream out(jar, std::ios::trunc);
  auto host = host_of(definition.url);
  for (const auto& [name, value] : definition.cookies) {
    out << host << "\tFALSE\t/\tFALSE\t0\t" << name << '\t' << value << '\n';
  }
  if (!out.flush()) {
    throw std::runtime_error("cannot write the cookie jar");
  }
}

std::chrono::milliseconds remaining(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  // A request still gets a moment, so a late one fails as a timeout.
  return std::max(left, std::chrono::milliseconds(1));
}

std::string form_body(const FormLogin& login) {
  std::string body;
  for (const auto& [name, value] : login.form) {
    body += fmt::format("{}{}={}", body.empty() ? "" : "&", util::url_encode(name), util::url_encode(value));
  }
  return body;
}

// Returns the error of the login, or nullopt when it was accepted.
std::optional<std::string> log_in(const Definition& definition, const std::string& jar, Clock::time_point deadline) {
  const auto& login = *definition.login;
  util::HttpRequest request;
  request.method = login.method;
  request.url = login.url;
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  request.body = form_body(login);
  request.cookie_file = jar;
  request.timeout = remaining(deadline);
  request.verify = definition.verify_tls ? util::TlsVerify::on : util::TlsVerify::off;
  // The status is the login's own answer, often a redirect to the app.
  request.redirects = util::Redirects::none;
  auto response = util::http_request(request);
  if (!response.ok()) {
    return fmt::format("cannot log in at {}: {}", login.url, utf8_text(response.error));
  }
  if (login.expect_status ? response.status != *login.expect_status : response.status >= 400) {
    return fmt::format("login at {} answered HTTP {}{}", login.url, response.status,
                       login.expect_status ? fmt::format(" (expected {})", *login.expect_status) : "");
  }
  return std::nullopt;
}

// Returns the charset a Content-Type header names, or an empty string.
std::string charset_of(const util::HttpResponse& response) {
  auto type = response.header("content-type").value_or("");
  auto lowered = type;
  std::ranges::transform(lowered, lowered.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto at = lowered.find("charset=");
  if (at == std::string::npos) {
    return {};
  }
  auto value = type.substr(at + 8, type.find(';', at) - at - 8);
  std::erase(value, '"');
  std::erase(value, ' ');
  return value;
}

bool is_inline(const xmlChar* name) {
  static constexpr std::array<std::string_view, 26> k_inline{
    "a",    "abbr", "b",   "bdi",  "bdo",    "cite", "code",  "data", "dfn",   "em",  "font", "i",   "kbd",
    "mark", "q",    "s",   "samp", "small",  "span", "strong", "sub", "sup",  "time", "u",   "var", "label"};
  std::string_view text(reinterpret_cast<const char*>(name));
  return std::ranges::find(k_inline, text) != k_inline.end();
}

bool is_hidden(const xmlChar* name) {
  std::string_view text(reinterpret_cast<const char*>(name));
  return text == "script" || text == "style" || text == "template" || text == "head";
}

// Appends the text a reader sees: text nodes, with a break between blocks
// so list items and cells do not run together, without scripts and styles.
void append_text(const xmlNode* node, std::string& out) {
  for (; node != nullptr; node = node->next) {
    if (node->type == XML_TEXT_NODE || node->type == XML_CDATA_SECTION_NODE) {
      if (node->content != nullptr) {
        out += reinterpret_cast<const char*>(node->content);
      }
    } else if (node->type == XML_ELEMENT_NODE && node->name != nullptr && !is_hidden(node->name)) {
      bool block = !is_inline(node->name);
      if (block) {
        out += '\n';
      }
      append_text(node->children, out);
      if (block) {
        out += '\n';
      }
    }
  }
}

const xmlNode* find_element(const xmlNode* node, std::string_view name) {
  for (; node != nullptr; node = node->next) {
    if (node->type == XML_ELEMENT_NODE && node->name != nullptr &&
        name == reinterpret_cast<const char*>(node->name)) {
      return node;
    }
    if (const auto* found = find_element(node->children, name)) {
      return found;
    }
  }
  return nullptr;
}

std::string node_text(const xmlNode* node) {
  std::string out;
  if (node != nullptr) {
    append_text(node->children, out);
  }
  return collapse_space(out);
}

// Counts the elements each expression selects into page.element_counts; a
// broken expression sets page.broken instead.
void match_elements(const Definition& definition, xmlDoc* doc, Page& page) {
  ContextPtr context(xmlXPathNewContext(doc));
  if (!context) {
    page.broken = "page probe: libxml2 cannot create an XPath context (out of memory?)";
    return;
  }
  std::string error;
  context->userData = &error;
  // Generic, so it fits libxml2's callback both with and without const.
  context->error = [](void* data, auto issue) {
    auto& first = *static_cast<std::string*>(data);
    if (first.empty() && issue != nullptr && issue->message != nullptr) {
      first = collapse_space(issue->message);
    }
  };
  for (const auto& expression : definition.expect_element) {
    error.clear();
    ObjectPtr object(xmlXPathEvalExpression(reinterpret_cast<const xmlChar*>(expression.c_str()), context.get()));
    if (!object) {
      page.broken = fmt::format("page probe: expect_element '{}' is not a valid XPath expression ({})", expression,
                                error.empty() ? "libxml2 gave no reason" : error);
      return;
    }
    std::size_t count = 0;
    if (object->type == XPATH_NODESET) {
      count = object->nodesetval == nullptr ? 0 : static_cast<std::size_t>(object->nodesetval->nodeNr);
    } else if (object->type == XPATH_BOOLEAN) {
      count = object->boolval != 0 ? 1 : 0;
    } else {
      page.broken = fmt::format("page probe: expect_element '{}' must select elements, not compute a {}",
                                expression, object->type == XPATH_NUMBER ? "number" : "string");
      return;
    }
    page.element_counts.push_back(count);
  }
}

void parse_html(const Definition& definition, const util::HttpResponse& response, Page& page) {
  static std::once_flag once;
  std::call_once(once, [] { xmlInitParser(); });
  auto charset = charset_of(response);
  DocPtr doc;
  if (!response.body.empty()) {
    doc.reset(htmlReadMemory(response.body.data(), static_cast<int>(response.body.size()), page.url.c_str(),
                             charset.empty() ? nullptr : charset.c_str(),
                             HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_RECOVER | HTML_PARSE_NONET));
  }
  if (!doc) {
    // An empty or unreadable body still gets its expressions checked.
    doc.reset(htmlNewDocNoDtD(nullptr, nullptr));
    if (!doc) {
      page.broken = "page probe: libxml2 cannot create a document (out of memory?)";
      return;
    }
  }
  const xmlNode* root = xmlDocGetRootElement(doc.get());
  if (root != nullptr) {
    page.title = node_text(find_element(root, "title"));
    const xmlNode* body = find_element(root, "body");
    page.text = node_text(body != nullptr ? body : root);
  }
  match_elements(definition, doc.get(), page);
}

} // namespace

Page render_http(const Definition& definition) {
  Page page;
  auto start = Clock::now();
  auto deadline = start + definition.timeout;
  JarDir dir;
  auto jar = dir.jar();
  write_cookies(definition, jar);
  auto finish = [&] {
    page.elapsed_ms = elapsed_ms_since(start);
    return page;
  };
  if (definition.login) {
    if (auto error = log_in(definition, jar, deadline)) {
      page.error = *error;
      return finish();
    }
  }
  util::HttpRequest request;
  request.url = definition.url;
  request.headers = {{"Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"}};
  request.cookie_file = jar;
  request.timeout = remaining(deadline);
  request.verify = definition.verify_tls ? util::TlsVerify::on : util::TlsVerify::off;
  request.redirects = util::Redirects::follow;
  request.max_redirects = 10;
  auto response = util::http_request(request);
  page.url = response.effective_url.empty() ? definition.url : response.effective_url;
  if (!response.ok()) {
    page.error = fmt::format("cannot load {}: {}", definition.url, utf8_text(response.error));
    return finish();
  }
  page.loaded = true;
  page.status = response.status;
  parse_html(definition, response, page);
  return finish();
}

} // namespace has::probe::page
