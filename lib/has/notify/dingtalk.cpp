// DingTalk custom robot (自定义机器人): a Markdown message POSTed to the
// robot's webhook URL (it carries access_token). With a signing secret, the
// URL gets &timestamp=<ms>&sign=<url-encoded base64 HMAC-SHA256 of
// "<timestamp>\n<secret>" keyed by the secret>; DingTalk accepts it for an
// hour. The reply is JSON, and only errcode 0 means the message was posted:
// a refused message still comes with HTTP 200.

#include <has/notify/kinds.hpp>
#include <has/notify/support.hpp>

#include <fmt/format.h>

namespace has::notify {

namespace {

using namespace std::chrono_literals;

constexpr std::size_t k_max_text = 20'000; // bytes of markdown.text

struct KnownError {
  long errcode;
  std::string_view meaning;
  std::string_view help;
  Retry retry;
};

constexpr KnownError k_errors[] = {
  {310000, "the robot's security check failed (signature, keyword or IP allow-list)",
   "check `secret:` against the robot's signing secret (加签), `keyword:` against its custom "
   "keywords and the robot's IP allow-list; a clock more than an hour off also fails the signature",
   Retry::no},
  {300001, "the robot's access token is invalid",
   "copy the webhook URL again from the group's robot settings", Retry::no},
  {130101, "messages are sent too fast (20 a minute per robot; DingTalk then holds the robot for 10 minutes)",
   "another program may share this robot; the message stays in the outbox and is sent later",
   Retry::rate_limited},
  {460101, "the message is too long",
   "has trims messages to 20,000 bytes, so this is a bug: report it", Retry::no},
};

// DingTalk shows an @mention only when the text names the person as well.
std::string mentions(const defs::NotifierConfig& config, const std::string& text) {
  std::string out;
  auto add = [&](const std::string& who) {
    const std::string at = "@" + who;
    if (text.find(at) == std::string::npos) {
      out += out.empty() ? "" : " ";
      out += at;
    }
  };
  for (const auto& mobile : config.at_mobiles) {
    add(mobile);
  }
  for (const auto& user : config.at_user_ids) {
    add(user);
  }
  return out;
}

SendResult read_reply(const defs::NotifierConfig& config, const util::HttpResponse& response) {
  auto reply = json_reply(response.body);
  if (!reply || !reply->contains("errcode") || !(*reply)["errcode"].is_number_integer()) {
    return reply_without_code(config, response, "DingTalk's errcode", "https://oapi.dingtalk.com/robot/send?access_token=...");
  }
  SendResult result;
  result.http_status = response.status;
  result.body = response.body;
  const long errcode = (*reply)["errcode"].get<long>();
  if (errcode == 0) {
    result.ok = true;
    return result;
  }
  const std::string errmsg = reply->value("errmsg", "");
  for (const auto& known : k_errors) {
    if (known.errcode == errcode) {
      result.error = fmt::format("{}: {} (errcode {}: {})", subject(config), known.meaning, errcode, errmsg);
      result.help = std::string(known.help);
      result.retry = known.retry;
      if (known.retry == Retry::rate_limited) {
        result.retry_after = 10min;
      }
      return result;
    }
  }
  result.error = fmt::format("{}: DingTalk refused the message (errcode {}: {})", subject(config), errcode, errmsg);
  result.help = "look the errcode up in DingTalk's robot documentation";
  result.retry = Retry::no;
  return result;
}

} // namespace

SendResult send_dingtalk(const defs::NotifierConfig& config, const Message& message, const SendContext& context) {
  std::string url = resolve_http_url(config, Credential::yes);
  if (config.secret) {
    const std::string secret = resolve(config, *config.secret, Credential::yes);
    const std::string timestamp = std::to_string(unix_ms(context.clock.now()));
    const std::string sign = util::url_encode(base64(hmac_sha256(secret, timestamp + "\n" + secret)));
    url += fmt::format("{}timestamp={}&sign={}", url.find('?') == std::string::npos ? "?" : "&", timestamp, sign);
  }
  const std::string keyword = config.keyword ? resolve(config, *config.keyword, Credential::no) : "";

  std::string text = with_link(fmt::format("#### {}\n\n{}", message.title, message.text), message);
  const std::string people = mentions(config, text);
  // Room for what is appended after trimming: the keyword and the mentions.
  const std::size_t reserve = keyword.size() + people.size() + 4;
  SendResult result;
  std::string shown = trim_lines(text, k_max_text - reserve, Measure::bytes,
                                 [&](std::size_t omitted) { return markdown_tail(omitted, message.link); });
  result.trimmed = shown.size() != text.size();
  // DingTalk looks for the keyword in the text; a title holding it is not enough.
  if (!keyword.empty() && shown.find(keyword) == std::string::npos) {
    shown += "\n\n" + keyword;
  }
  if (!people.empty()) {
    shown += "\n\n" + people;
  }

  nlohmann::json body = {
    {"msgtype", "markdown"},
    {"markdown", {{"title", message.title}, {"text", shown}}},
    {"at", {{"atMobiles", config.at_mobiles}, {"atUserIds", config.at_user_ids}, {"isAtAll", config.at_all}}},
    {"msgUuid", message.key.empty() ? content_key(message) : message.key},
  };
  auto response = context.transport.http(json_post(config, url, body.dump()));
  if (auto failure = transport_failure(config, response)) {
    return *failure;
  }
  auto reply = read_reply(config, response);
  reply.trimmed = result.trimmed;
  return reply;
}

} // namespace has::notify
