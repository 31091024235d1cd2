#include <has/notify/kind.hpp>
#include <has/notify/kinds.hpp>

#include <array>

namespace has::notify {

namespace {

using namespace std::chrono_literals;

// The services' own limits, per robot or webhook URL.
constexpr RateLimit k_robot[] = {{20, 60s}};               // DingTalk, WeCom: 20 a minute
constexpr RateLimit k_feishu[] = {{5, 1s}, {100, 60s}};    // Feishu: 5 a second, 100 a minute
constexpr RateLimit k_slack[] = {{1, 1s}};                 // Slack: about 1 a second

// The one table of notifier kinds; lib/has/defs/notifiers.cpp holds their fields.
const std::array<Kind, 6> k_kinds{{
  {"dingtalk", k_robot, send_dingtalk},
  {"feishu", k_feishu, send_feishu},
  {"wecom", k_robot, send_wecom},
  {"slack", k_slack, send_slack},
  {"webhook", {}, send_webhook},
  {"email", {}, send_email},
}};

} // namespace

const Kind* find_kind(std::string_view name) {
  for (const auto& kind : k_kinds) {
    if (kind.name == name) {
      return &kind;
    }
  }
  return nullptr;
}

std::vector<std::string_view> kind_names() {
  std::vector<std::string_view> out;
  for (const auto& kind : k_kinds) {
    out.push_back(kind.name);
  }
  return out;
}

} // namespace has::notify
