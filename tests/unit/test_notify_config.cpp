#include <has/core/workspace.hpp>
#include <has/defs/loader.hpp>
#include <has/defs/notifiers.hpp>
#include <has/notify/kind.hpp>

#include "test_support.hpp"

#include <doctest/doctest.h>

#include <algorithm>

using has::defs::Diagnostic;
using has::defs::Severity;

namespace {

struct Loaded {
  has::defs::Definitions definitions;
  std::vector<Diagnostic> diagnostics;
};

Loaded load(const std::string& has_yaml) {
  has::test::TempDir dir;
  dir.write("has.yaml", has_yaml);
  has::core::Workspace workspace{dir.path(), dir.path() / "has.yaml"};
  has::defs::Diagnostics diagnostics;
  has::defs::LoadOptions options;
  auto definitions = has::defs::load(workspace, options, diagnostics);
  return {std::move(definitions), diagnostics.sorted()};
}

// Returns whether a diagnostic of severity at line:col holds text.
bool reported(const Loaded& loaded, Severity severity, int line, int column, std::string_view text) {
  return std::any_of(loaded.diagnostics.begin(), loaded.diagnostics.end(), [&](const Diagnostic& d) {
    return d.severity == severity && d.where.line == line && d.where.column == column &&
           d.where.file.ends_with("has.yaml") && d.message.find(text) != std::string::npos;
  });
}

// Returns every diagnostic, one a line, for failure messages.
std::string listing(const Loaded& loaded) {
  std::string out;
  for (const auto& d : loaded.diagnostics) {
    out += d.where.str() + ": " + d.message + "\n";
  }
  return out;
}

std::size_t errors(const Loaded& loaded) {
  return static_cast<std::size_t>(std::count_if(loaded.diagnostics.begin(), loaded.diagnostics.end(),
                                                [](const Diagnostic& d) { return d.severity == Severity::error; }));
}

} // namespace

TEST_CASE("notify: has.yaml notifiers of every kind load with their fields as written") {
  auto loaded = load(R"(notifiers:
  ops:
    kind: dingtalk
    url: "${env:DINGTALK_URL}"
    secret: "${env:DINGTALK_SECRET}"
    keyword: has
    at_mobiles: ["13800000000"]
    at_user_ids: [manager01]
    at_all: true
    mode: always
    timeout: 5s
  lark: {kind: feishu, url: "${env:FEISHU_URL}", secret: "${env:FEISHU_SECRET}"}
  wx: {kind: wecom, url: "${env:WECOM_URL}", mentioned_mobiles: ["13900000000"], mentioned_users: [zhangsan]}
  chat: {kind: slack, url: "${env:SLACK_URL}"}
  hook:
    kind: webhook
    url: https://example.com/hook
    method: PUT
    headers: {Authorization: "Bearer ${env:HOOK_TOKEN}"}
    body: '{"title": ${{ json.title }}}'
  mail:
    kind: email
    url: smtps://smtp.example.com:465
    from: has@example.com
    to: [ops@example.com, dev@example.com]
    username: has
    password: "${env:SMTP_PASSWORD}"
)");
  INFO(listing(loaded));
  CHECK(errors(loaded) == 0);
  CHECK(loaded.diagnostics.empty());
  const auto& notifiers = loaded.definitions.config.notifiers;
  REQUIRE(notifiers.size() == 6);
  auto find = [&](std::string_view name) {
    return *std::find_if(notifiers.begin(), notifiers.end(), [&](const auto& n) { return n.name == name; });
  };
  const auto ops = find("ops");
  CHECK(ops.kind == "dingtalk");
  // Secrets stay templates in the model.
  CHECK(ops.url == "${env:DINGTALK_URL}");
  CHECK(ops.secret == "${env:DINGTALK_SECRET}");
  CHECK(ops.keyword == "has");
  CHECK(ops.at_mobiles == std::vector<std::string>{"13800000000"});
  CHECK(ops.at_user_ids == std::vector<std::string>{"manager01"});
  CHECK(ops.at_all);
  CHECK(ops.mode == has::defs::NotifyMode::always);
  CHECK(ops.timeout == std::chrono::seconds(5));
  CHECK(ops.where.line == 3);
  CHECK(find("lark").mode == has::defs::NotifyMode::changes);
  CHECK(find("wx").at_mobiles == std::vector<std::string>{"13900000000"});
  CHECK(find("wx").at_user_ids == std::vector<std::string>{"zhangsan"});
  CHECK(find("hook").method == "PUT");
  CHECK(find("hook").headers.at("Authorization") == "Bearer ${env:HOOK_TOKEN}");
  CHECK(find("hook").body == R"({"title": ${{ json.title }}})");
  CHECK(find("mail").to.size() == 2);
  CHECK(find("mail").password == "${env:SMTP_PASSWORD}");
}

TEST_CASE("notify: an unknown notifier kind is an error listing the kinds") {
  auto loaded = load("notifiers:\n  ops:\n    kind: dingtlak\n    url: x\n");
  INFO(listing(loaded));
  CHECK(reported(loaded, Severity::error, 3, 11,
                 "unknown notifier kind 'dingtlak' in notifier 'ops' (did you mean 'dingtalk'?) (kinds: dingtalk, "
                 "feishu, wecom, slack, webhook, email)"));
  CHECK(loaded.definitions.config.notifiers.empty());
  auto missing = load("notifiers:\n  ops: {url: x}\n");
  INFO(listing(missing));
  CHECK(reported(missing, Severity::error, 2, 8, "notifier 'ops' is missing the required field 'kind'"));
}

TEST_CASE("notify: a field of another kind or a typo is an unknown field") {
  auto loaded = load(R"(notifiers:
  chat:
    kind: slack
    url: "${env:SLACK_URL}"
    keyword: has
  ops:
    kind: dingtalk
    url: "${env:DINGTALK_URL}"
    at_mobile: ["1"]
)");
  INFO(listing(loaded));
  CHECK(reported(loaded, Severity::error, 5, 5, "unknown field 'keyword' in notifier 'chat' (slack)"));
  CHECK(reported(loaded, Severity::error, 9, 5,
                 "unknown field 'at_mobile' in notifier 'ops' (dingtalk) (did you mean 'at_mobiles'?)"));
}

TEST_CASE("notify: secrets written into has.yaml are errors - robot URLs warnings") {
  auto loaded = load(R"(notifiers:
  ops:
    kind: dingtalk
    url: https://oapi.dingtalk.com/robot/send?access_token=abc
    secret: SEC0123456789
  mail:
    kind: email
    url: smtp://localhost:25
    from: a@b
    to: c@d
    password: hunter2
)");
  INFO(listing(loaded));
  CHECK(reported(loaded, Severity::error, 5, 13, "field 'secret' of notifier 'ops' holds a secret"));
  CHECK(reported(loaded, Severity::error, 11, 15, "field 'password' of notifier 'mail' holds a secret"));
  CHECK(reported(loaded, Severity::warning, 4, 10, "the url of notifier 'ops' carries the robot's token"));
}

TEST_CASE("notify: bad URLs / references / types and missing fields are reported where written") {
  auto loaded = load(R"(notifiers:
  a: {kind: slack}
  b: {kind: webhook, url: ftp://x}
  c: {kind: email, url: http://x, from: f}
  d: {kind: feishu, url: "${env:FEISHU URL}"}
  e: {kind: dingtalk, url: "${env:U}", at_all: maybe}
  f: {kind: webhook, url: "${env:U}", body: "${{ title ", method: DELETE}
  g: just a string
  "bad name": {kind: slack, url: "${env:U}"}
  h: {kind: slack, url: "${env:U}", mode: sometimes, timeout: soon}
)");
  INFO(listing(loaded));
  CHECK(reported(loaded, Severity::error, 2, 6, "notifier 'a' (slack) is missing the required field 'url'"));
  CHECK(reported(loaded, Severity::error, 3, 27, "field 'url' of notifier 'b' must start with http:// or https://"));
  CHECK(reported(loaded, Severity::error, 4, 25, "must start with smtp:// or smtps://"));
  CHECK(reported(loaded, Severity::error, 4, 6, "missing the required field 'to'"));
  CHECK(reported(loaded, Severity::error, 5, 26, "invalid environment variable name 'FEISHU URL'"));
  // The location is given once, by the diagnostic.
  CHECK(listing(loaded).find("has.yaml:5:26: invalid environment variable name") != std::string::npos);
  CHECK(reported(loaded, Severity::error, 6, 48, "field 'at_all' must be true or false"));
  CHECK(reported(loaded, Severity::error, 7, 45, "unterminated"));
  CHECK(reported(loaded, Severity::error, 7, 67, "field 'method' must be one of POST, PUT, PATCH"));
  CHECK(reported(loaded, Severity::error, 8, 6, "notifier 'g' must be a mapping of fields"));
  CHECK(reported(loaded, Severity::error, 9, 3, "notifier name 'bad name' must be"));
  CHECK(reported(loaded, Severity::error, 10, 43, "field 'mode' must be one of changes, always"));
  CHECK(reported(loaded, Severity::error, 10, 63, "field 'timeout'"));
}

TEST_CASE("notify: the kinds has.yaml accepts are the kinds that can send") {
  auto accepted = has::defs::notifier_kinds();
  auto senders = has::notify::kind_names();
  CHECK(accepted == senders);
  for (auto kind : accepted) {
    CHECK_FALSE(has::defs::notifier_fields(kind).empty());
  }
  CHECK(has::defs::notifier_fields("pager").empty());
}
