#pragma once

#include <has/notify/kind.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <string_view>

// One function per notifier kind, each in its own file; registry.cpp maps
// names to them. Each sends one message as Kind::send describes.
namespace has::notify {

SendResult send_dingtalk(const defs::NotifierConfig& config, const Message& message, const SendContext& context);
SendResult send_feishu(const defs::NotifierConfig& config, const Message& message, const SendContext& context);
SendResult send_wecom(const defs::NotifierConfig& config, const Message& message, const SendContext& context);
SendResult send_slack(const defs::NotifierConfig& config, const Message& message, const SendContext& context);
SendResult send_webhook(const defs::NotifierConfig& config, const Message& message, const SendContext& context);
SendResult send_email(const defs::NotifierConfig& config, const Message& message, const SendContext& context);

// Returns Markdown rewritten as Slack's mrkdwn (slack.cpp).
std::string to_mrkdwn(std::string_view markdown);

// Returns the values a webhook's body and headers see in ${{ }}: title,
// text, markdown, status, link, key, counts, and json.{title, text, status,
// link, message}, each already a JSON literal (webhook.cpp).
nlohmann::json template_values(const Message& message);

// Returns the RFC 5322 mail (headers and base64 text body, CRLF line ends)
// the email kind sends for message at time now (email.cpp).
std::string mail_payload(const defs::NotifierConfig& config, const Message& message,
                         std::chrono::system_clock::time_point now);

} // namespace has::notify
