// Slack incoming webhook: {"text", "blocks"} POSTed to the hooks.slack.com
// URL. Slack writes mrkdwn, not Markdown, so the text is converted (headings
// and **bold** to *bold*, [text](url) to <url|text>, & < > escaped). A
// section block holds at most 3000 characters and a message 50 blocks; the
// text is cut at 40,000 characters. Success is HTTP 200 with the body "ok";
// HTTP 429 comes with Retry-After seconds.

#include <has/notify/kinds.hpp>
#include <has/notify/support.hpp>

#include <fmt/format.h>

namespace has::notify {

namespace {

constexpr std::size_t k_max_text = 40'000;  // characters, all sections together
constexpr std::size_t k_max_section = 3000; // characters of one section block
constexpr std::size_t k_max_header = 150;   // characters of a header block

void escape(std::string& out, char c) {
  switch (c) {
  case '&': out += "&amp;"; break;
  case '<': out += "&lt;"; break;
  case '>': out += "&gt;"; break;
  default: out += c;
  }
}

std::string inline_mrkdwn(std::string_view line) {
  std::string out;
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (line.compare(i, 2, "**") == 0) {
      out += '*';
      ++i;
      continue;
    }
    if (line[i] == '[') {
      auto close = line.find("](", i);
      auto end = close == std::string_view::npos ? close : line.find(')', close + 2);
      if (end != std::string_view::npos && line.find('\n', i) > end) {
        std::string label;
        for (char c : line.substr(i + 1, close - i - 1)) {
          escape(label, c);
        }
        out += fmt::format("<{}|{}>", line.substr(close + 2, end - close - 2), label);
        i = end;
        continue;
      }
    }
    escape(out, line[i]);
  }
  return out;
}

// Returns chunks of at most limit characters, split between lines.
std::vector<std::string> chunks(const std::string& text, std::size_t limit) {
  std::vector<std::string> out;
  std::string current;
  for (std::size_t start = 0; start < text.size();) {
    auto end = text.find('\n', start);
    end = end == std::string::npos ? text.size() : end + 1;
    std::string line = text.substr(start, end - start);
    start = end;
    while (measure(line, Measure::characters) > limit) {
      // A line longer than a block: cut it where a character ends.
      std::string head = trim_lines(line, limit, Measure::characters, [](std::size_t) { return std::string(); });
      if (!current.empty()) {
        out.push_back(std::move(current));
        current.clear();
      }
      out.push_back(head);
      line = line.substr(head.size());
    }
    if (measure(current + line, Measure::characters) > limit) {
      out.push_back(std::move(current));
      current.clear();
    }
    current += line;
  }
  if (!current.empty()) {
    out.push_back(std::move(current));
  }
  return out;
}

} // namespace

std::string to_mrkdwn(std::string_view markdown) {
  std::string out;
  for (std::size_t start = 0; start < markdown.size();) {
    auto end = markdown.find('\n', start);
    const bool last = end == std::string_view::npos;
    std::string_view line = markdown.substr(start, (last ? markdown.size() : end) - start);
    start = last ? markdown.size() : end + 1;
    std::size_t hashes = 0;
    while (hashes < line.size() && hashes < 6 && line[hashes] == '#') {
      ++hashes;
    }
    if (hashes > 0 && hashes < line.size() && line[hashes] == ' ') {
      out += "*" + inline_mrkdwn(line.substr(hashes + 1)) + "*";
    } else if (line.starts_with("> ")) {
      out += "> " + inline_mrkdwn(line.substr(2)); // a quote stays a quote
    } else {
      out += inline_mrkdwn(line);
    }
    if (!last) {
      out += '\n';
    }
  }
  return out;
}

SendResult send_slack(const defs::NotifierConfig& config, const Message& message, const SendContext& context) {
  const std::string url = resolve_http_url(config, Credential::yes);
  const std::string text = to_mrkdwn(with_link(message.text, message));
  auto tail = [&](std::size_t omitted) {
    if (message.link) {
      return fmt::format("\n\n… {} more lines not shown: <{}|full report>", omitted, *message.link);
    }
    return fmt::format("\n\n… {} more lines not shown (no link to a full report was given)", omitted);
  };
  const std::string shown = trim_lines(text, k_max_text, Measure::characters, tail);
  std::string title = trim_lines(message.title, k_max_header, Measure::characters, [](std::size_t) { return std::string(); });
  auto blocks = nlohmann::json::array();
  blocks.push_back({{"type", "header"}, {"text", {{"type", "plain_text"}, {"text", title}}}});
  for (auto& chunk : chunks(shown, k_max_section)) {
    if (!chunk.empty()) {
      blocks.push_back({{"type", "section"}, {"text", {{"type", "mrkdwn"}, {"text", chunk}}}});
    }
  }
  nlohmann::json body = {{"text", message.title}, {"blocks", blocks}};
  auto response = context.transport.http(json_post(config, url, body.dump()));
  if (auto failure = transport_failure(config, response)) {
    return *failure;
  }
  SendResult result;
  if (response.status == 200 && response.body == "ok") {
    result.ok = true;
    result.http_status = response.status;
    result.body = response.body;
  } else if (response.status == 200) {
    result.http_status = response.status;
    result.body = response.body;
    result.error = fmt::format("{} answered HTTP 200 but not \"ok\": {}", subject(config), response.body.substr(0, 200));
    result.help = "check that url is a Slack incoming webhook (https://hooks.slack.com/services/...)";
    result.retry = Retry::no;
  } else {
    result = http_failure(config, response);
  }
  result.trimmed = shown.size() != text.size();
  return result;
}

} // namespace has::notify
