// WeCom (企业微信) group robot: a Markdown message POSTed to the robot's
// webhook URL (it carries key=...). Markdown content holds at most 4096
// bytes and mentions members only as <@userid>; mentioning by mobile number
// needs a text message (at most 2048 bytes, Markdown shown as written), so
// a notifier with mentioned_mobiles sends text. Only errcode 0 means the
// message was posted.

#include <has/notify/kinds.hpp>
#include <has/notify/support.hpp>

#include <fmt/format.h>

namespace has::notify {

namespace {

using namespace std::chrono_literals;

constexpr std::size_t k_max_markdown = 4096;
constexpr std::size_t k_max_text = 2048;

SendResult read_reply(const defs::NotifierConfig& config, const util::HttpResponse& response) {
  auto reply = json_reply(response.body);
  if (!reply || !reply->contains("errcode") || !(*reply)["errcode"].is_number_integer()) {
    return reply_without_code(config, response, "WeCom's errcode", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...");
  }
  SendResult result;
  result.http_status = response.status;
  result.body = response.body;
  const long errcode = (*reply)["errcode"].get<long>();
  const std::string errmsg = reply->value("errmsg", "");
  if (errcode == 0) {
    result.ok = true;
  } else if (errcode == 45009) {
    result.error = fmt::format("{}: messages are sent too fast (20 a minute per robot) (errcode {}: {})",
                               subject(config), errcode, errmsg);
    result.help = "another program may share this robot; the message stays in the outbox and is sent later";
    result.retry = Retry::rate_limited;
    result.retry_after = 60s;
  } else if (errcode == 93000) {
    result.error = fmt::format("{}: the robot's webhook key is invalid (errcode {}: {})", subject(config), errcode, errmsg);
    result.help = "copy the webhook URL again from the group's robot settings";
    result.retry = Retry::no;
  } else {
    result.error = fmt::format("{}: WeCom refused the message (errcode {}: {})", subject(config), errcode, errmsg);
    result.help = "look the errcode up in WeCom's group robot documentation";
    result.retry = Retry::no;
  }
  return result;
}

} // namespace

SendResult send_wecom(const defs::NotifierConfig& config, const Message& message, const SendContext& context) {
  const std::string url = resolve_http_url(config, Credential::yes);
  const std::string text = with_link(fmt::format("**{}**\n{}", message.title, message.text), message);
  const bool by_mobile = !config.at_mobiles.empty();
  std::string people;
  if (!by_mobile) {
    for (const auto& user : config.at_user_ids) {
      const std::string at = fmt::format("<@{}>", user);
      if (text.find(at) == std::string::npos) {
        people += people.empty() ? at : " " + at;
      }
    }
  }
  const std::size_t limit = (by_mobile ? k_max_text : k_max_markdown) - (people.empty() ? 0 : people.size() + 2);
  std::string shown = trim_lines(text, limit, Measure::bytes,
                                 [&](std::size_t omitted) { return markdown_tail(omitted, message.link); });
  const bool trimmed = shown.size() != text.size();
  nlohmann::json body;
  if (by_mobile) {
    body = {{"msgtype", "text"},
            {"text", {{"content", shown}, {"mentioned_list", config.at_user_ids}, {"mentioned_mobile_list", config.at_mobiles}}}};
  } else {
    if (!people.empty()) {
      shown += "\n" + people;
    }
    body = {{"msgtype", "markdown"}, {"markdown", {{"content", shown}}}};
  }
  auto response = context.transport.http(json_post(config, url, body.dump()));
  if (auto failure = transport_failure(config, response)) {
    return *failure;
  }
  auto result = read_reply(config, response);
  result.trimmed = trimmed;
  return result;
}

} // namespace has::notify
