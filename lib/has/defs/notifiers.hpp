#pragma once

#include <has/defs/diagnostics.hpp>
#include <has/defs/yaml.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace YAML {
class Node;
}

namespace has::defs {

class FileContext;

// When a notifier sends an inspection digest: only when some result changed
// (newly failing, recovered, changed severity), or after every run.
enum class NotifyMode { changes, always };

// One entry of `notifiers:` in has.yaml. Every text field is kept as written:
// ${env:NAME} references (URLs with tokens, signing secrets, passwords) are
// resolved only when a message is sent, so they never reach the model, the
// state file or an error. Which fields a kind reads is listed in
// notifier_fields().
struct NotifierConfig {
  std::string name;
  std::string kind; // dingtalk, feishu, wecom, slack, webhook, email
  NotifyMode mode = NotifyMode::changes;
  std::chrono::milliseconds timeout{10'000};
  std::string url; // the robot's webhook, the endpoint, or smtp(s)://host:port
  std::optional<std::string> secret;  // dingtalk, feishu: the signing secret
  std::optional<std::string> keyword; // dingtalk, feishu: the security keyword
  std::vector<std::string> at_mobiles;  // dingtalk at_mobiles, wecom mentioned_mobiles
  std::vector<std::string> at_user_ids; // dingtalk at_user_ids, wecom mentioned_users
  bool at_all = false;                  // dingtalk
  std::string method = "POST";          // webhook
  std::map<std::string, std::string> headers; // webhook
  std::optional<std::string> body;      // webhook: a ${{ }} template; none: the message as JSON
  std::string from;                     // email
  std::vector<std::string> to;          // email
  std::optional<std::string> username;  // email
  std::optional<std::string> password;  // email
  Location where;
};

// Returns the notifier kinds has knows, in the order has(1) lists them.
std::vector<std::string_view> notifier_kinds();

// Returns the fields a notifier of kind may have (besides kind, mode and
// timeout), or an empty list for an unknown kind.
std::vector<std::string_view> notifier_fields(std::string_view kind);

// Returns the notifiers of the `notifiers:` mapping of has.yaml (none when
// node is undefined or null). Reports to the context's diagnostics, with
// file:line:col: a value that is not a mapping, an unknown kind (listing the
// kinds), unknown or misspelt fields, fields of the wrong type, a literal
// signing secret or password (they must come from ${env:NAME}), a malformed
// ${env:} or ${{ }} reference, and a URL of the wrong scheme. A webhook URL
// written out in full (robots carry their token in it) is a warning.
std::vector<NotifierConfig> parse_notifiers(const FileContext& context, const yaml::Node& node);

} // namespace has::defs
