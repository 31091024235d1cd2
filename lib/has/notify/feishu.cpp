// Feishu (Lark) custom bot (自定义机器人): an interactive card POSTed to the
// bot's webhook URL. With a signing secret the body carries "timestamp"
// (seconds, as text) and "sign": base64 of HMAC-SHA256 keyed by
// "<timestamp>\n<secret>" over an empty message; Feishu accepts it for an
// hour. Only code 0 (StatusCode 0 in older replies) means the card was
// posted. Feishu refuses request bodies over 20 KB.

#include <has/notify/kinds.hpp>
#include <has/notify/support.hpp>

#include <fmt/format.h>

#include <chrono>

namespace has::notify {

namespace {

using namespace std::chrono_literals;

constexpr std::size_t k_max_body = 20 * 1024;

struct KnownError {
  long code;
  std::string_view meaning;
  std::string_view help;
  Retry retry;
};

constexpr KnownError k_errors[] = {
  {19021, "the signature check failed (wrong secret, or a clock more than an hour off)",
   "check `secret:` against the bot's signing secret (签名校验) and this machine's clock", Retry::no},
  {19022, "this machine's IP address is not on the bot's allow-list",
   "add the address to the bot's IP allow-list, or send from an allowed machine", Retry::no},
  {19024, "the message holds none of the bot's keywords",
   "set `keyword:` to one of the bot's custom keywords; has then adds it to every message", Retry::no},
  {11232, "messages are sent too fast (5 a second, 100 a minute per bot)",
   "another program may share this bot; the message stays in the outbox and is sent later",
   Retry::rate_limited},
  {9499, "the request was malformed", "this is a bug in has: report it with the reply", Retry::no},
};

std::string_view header_color(probe::Status status) {
  switch (status) {
  case probe::Status::ok: return "green";
  case probe::Status::warning: return "orange";
  case probe::Status::critical: return "red";
  case probe::Status::unknown: break;
  }
  return "grey";
}

SendResult read_reply(const defs::NotifierConfig& config, const util::HttpResponse& response) {
  auto reply = json_reply(response.body);
  std::optional<long> code;
  std::string text;
  if (reply) {
    if (auto it = reply->find("code"); it != reply->end() && it->is_number_integer()) {
      code = it->get<long>();
      text = reply->value("msg", "");
    } else if (auto old = reply->find("StatusCode"); old != reply->end() && old->is_number_integer()) {
      code = old->get<long>();
      text = reply->value("StatusMessage", "");
    }
  }
  if (!code) {
    return reply_without_code(config, response, "Feishu's code", "https://open.feishu.cn/open-apis/bot/v2/hook/...");
  }
  SendResult result;
  result.http_status = response.status;
  result.body = response.body;
  if (*code == 0) {
    result.ok = true;
    return result;
  }
  for (const auto& known : k_errors) {
    if (known.code == *code) {
      result.error = fmt::format("{}: {} (code {}: {})", subject(config), known.meaning, *code, text);
      result.help = std::string(known.help);
      result.retry = known.retry;
      if (known.retry == Retry::rate_limited) {
        result.retry_after = 60s;
      }
      return result;
    }
  }
  result.error = fmt::format("{}: Feishu refused the message (code {}: {})", subject(config), *code, text);
  result.help = "look the code up in Feishu's custom bot documentation";
  result.retry = response.status >= 500 ? Retry::later : Retry::no;
  return result;
}

} // namespace

SendResult send_feishu(const defs::NotifierConfig& config, const Message& message, const SendContext& context) {
  const std::string url = resolve_http_url(config, Credential::yes);
  nlohmann::json envelope = nlohmann::json::object();
  if (config.secret) {
    const std::string secret = resolve(config, *config.secret, Credential::yes);
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(context.clock.now().time_since_epoch());
    const std::string timestamp = std::to_string(seconds.count());
    envelope["timestamp"] = timestamp;
    envelope["sign"] = base64(hmac_sha256(timestamp + "\n" + secret, ""));
  }
  const std::string keyword = config.keyword ? resolve(config, *config.keyword, Credential::no) : "";
  const std::string text = with_link(message.text, message);

  auto build = [&](const std::string& shown) {
    std::string content = shown;
    if (!keyword.empty() && content.find(keyword) == std::string::npos) {
      content += "\n\n" + keyword;
    }
    nlohmann::json body = envelope;
    body["msg_type"] = "interactive";
    body["card"] = {
      {"config", {{"wide_screen_mode", true}}},
      {"header", {{"title", {{"tag", "plain_text"}, {"content", message.title}}}, {"template", header_color(message.status)}}},
      {"elements", nlohmann::json::array({{{"tag", "markdown"}, {"content", content}}})},
    };
    return body.dump();
  };
  bool trimmed = false;
  std::string body = fit_body(text, k_max_body, message, build, trimmed);
  auto response = context.transport.http(json_post(config, url, std::move(body)));
  if (auto failure = transport_failure(config, response)) {
    return *failure;
  }
  auto result = read_reply(config, response);
  result.trimmed = trimmed;
  return result;
}

} // namespace has::notify
