#include <has/core/error.hpp>
#include <has/notify/kinds.hpp>
#include <has/notify/message.hpp>
#include <has/notify/support.hpp>

#include <doctest/doctest.h>

#include <algorithm>

using namespace has::notify;

namespace {

std::string hex(const std::string& bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    out += "0123456789abcdef"[c >> 4];
    out += "0123456789abcdef"[c & 15];
  }
  return out;
}

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) {
      return false;
    }
    for (std::size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) {
        return false;
      }
    }
    i += n;
  }
  return true;
}

std::string numbered_lines(int count) {
  std::string text;
  for (int i = 1; i <= count; ++i) {
    text += "line " + std::to_string(i) + "\n";
  }
  return text;
}

} // namespace

TEST_CASE("notify: HMAC-SHA256 / SHA-256 and base64 match published test vectors") {
  // RFC 4231, test case 2.
  CHECK(hex(hmac_sha256("Jefe", "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // FIPS 180-2, "abc".
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4648, section 10.
  CHECK(base64("") == "");
  CHECK(base64("f") == "Zg==");
  CHECK(base64("fo") == "Zm8=");
  CHECK(base64("foo") == "Zm9v");
  CHECK(base64("foobar") == "Zm9vYmFy");
}

TEST_CASE("notify: trim_lines cuts whole lines and ends with the tail") {
  auto tail = [](std::size_t omitted) { return "\n[" + std::to_string(omitted) + " more]"; };
  const std::string text = numbered_lines(100);
  CHECK(trim_lines("short", 100, Measure::bytes, tail) == "short");

  const std::string cut = trim_lines(text, 60, Measure::bytes, tail);
  CHECK(cut.size() <= 60);
  CHECK(cut.starts_with("line 1\nline 2\n"));
  const auto kept = static_cast<std::size_t>(std::count(cut.begin(), cut.end(), '\n'));
  CHECK(cut.ends_with("\n[" + std::to_string(100 - kept) + " more]"));

  SUBCASE("characters are never split") {
    const std::string wide = "告警" + std::string(50, 'x') + "\n第二行\n";
    for (std::size_t limit = 10; limit < 30; ++limit) {
      const std::string bytes = trim_lines(wide, limit, Measure::bytes, [](std::size_t) { return std::string(); });
      CHECK(bytes.size() <= limit);
      CHECK(valid_utf8(bytes));
      const std::string chars = trim_lines(wide, limit, Measure::characters, [](std::size_t) { return std::string(); });
      CHECK(measure(chars, Measure::characters) <= limit);
      CHECK(valid_utf8(chars));
    }
    CHECK(measure("告警", Measure::characters) == 2);
    CHECK(measure("告警", Measure::bytes) == 6);
  }
}

TEST_CASE("notify: a trimmed Markdown text ends with the link to the full report") {
  CHECK(markdown_tail(3, std::string("https://r.example/1")) ==
        "\n\n… 3 more lines not shown: [full report](https://r.example/1)");
  CHECK(markdown_tail(3, std::nullopt).find("no link") != std::string::npos);
  Message message;
  message.link = "https://r.example/1";
  CHECK(with_link("text", message) == "text\n\n[Full report](https://r.example/1)");
  CHECK(with_link("see https://r.example/1", message) == "see https://r.example/1");
}

TEST_CASE("notify: Markdown becomes Slack mrkdwn") {
  CHECK(to_mrkdwn("### Title\n**bold** & [report](https://x.example/a?b=1) <tag>\n> quoted") ==
        "*Title*\n*bold* &amp; <https://x.example/a?b=1|report> &lt;tag&gt;\n> quoted");
  CHECK(to_mrkdwn("a [not a link\n- item") == "a [not a link\n- item");
}

TEST_CASE("notify: a message survives the outbox's JSON") {
  Message message;
  message.title = "t";
  message.text = "**x**";
  message.status = has::probe::Status::warning;
  message.link = "https://r.example";
  message.key = "k1";
  message.counts = {{"critical", 2}};
  auto back = message_from_json(to_json(message));
  CHECK(back.title == "t");
  CHECK(back.text == "**x**");
  CHECK(back.status == has::probe::Status::warning);
  CHECK(back.link == "https://r.example");
  CHECK(back.key == "k1");
  CHECK(back.counts == message.counts);
  CHECK_THROWS_AS(message_from_json(nlohmann::json{{"title", "t"}}), has::core::Error);
  CHECK_THROWS_AS(message_from_json(nlohmann::json{{"title", "t"}, {"text", ""}, {"status", "fine"}}),
                  has::core::Error);

  // Equal content, equal key; any change, another key.
  Message copy = message;
  copy.key.clear();
  Message other = copy;
  other.text += ".";
  CHECK(content_key(copy) == content_key(message));
  CHECK(content_key(other) != content_key(copy));
  CHECK(content_key(copy).size() == 32);
}
