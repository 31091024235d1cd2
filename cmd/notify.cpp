#include "cli.hpp"

#include <has/core/error.hpp>
#include <has/notify/deliver.hpp>
#include <has/state/clock.hpp>
#include <has/state/outbox.hpp>
#include <has/state/store.hpp>

#include <fmt/format.h>

namespace has::cmd {

namespace {

struct NotifyFlags {
  std::string name;
  std::string status;
  int limit = 50;
};

const defs::NotifierConfig& find_notifier(const defs::Definitions& definitions, const std::string& name) {
  for (const auto& notifier : definitions.config.notifiers) {
    if (notifier.name == name) {
      return notifier;
    }
  }
  std::string names;
  for (const auto& notifier : definitions.config.notifiers) {
    names += names.empty() ? "" : ", ";
    names += notifier.name;
  }
  throw core::Error(core::ExitCode::usage, fmt::format("no notifier named '{}'", name),
                    names.empty() ? "has.yaml declares no notifiers" : "has.yaml declares: " + names,
                    "declare it under 'notifiers:' in has.yaml (see has-definitions(5))");
}

std::string_view state_name(notify::DeliveryState state) {
  switch (state) {
  case notify::DeliveryState::sent: return "sent";
  case notify::DeliveryState::retrying: return "retrying";
  case notify::DeliveryState::failed: return "failed";
  case notify::DeliveryState::deferred: return "deferred";
  }
  return "deferred";
}

void test(Globals& globals, const NotifyFlags& flags) {
  auto format = output_format(globals, {report::Format::table, report::Format::json});
  auto workspace = find_workspace(globals);
  auto definitions = load_definitions(globals, workspace);
  const auto& config = find_notifier(definitions, flags.name);
  notify::SystemClock clock;
  auto result = notify::send_now(config, notify::test_message(config, clock), clock);
  if (format == report::Format::json) {
    out(report::render_json({{"notifier", config.name}, {"ok", result.ok}, {"http_status", result.http_status},
                             {"body", result.body}, {"error", result.error}, {"help", result.help}}));
  } else {
    out(fmt::format("HTTP {}\n{}\n", result.http_status, result.body));
  }
  if (!result.ok) {
    throw core::Error(core::ExitCode::failure, fmt::format("notifier '{}' did not accept the test message", config.name),
                      result.error, result.help);
  }
  note(globals, fmt::format("notifier '{}' accepted the test message", config.name));
}

nlohmann::json deliveries_json(const notify::DeliveryReport& report) {
  auto list = nlohmann::json::array();
  for (const auto& d : report.deliveries) {
    list.push_back({{"id", d.id}, {"notifier", d.notifier}, {"state", state_name(d.state)}, {"attempt", d.attempt},
                    {"http_status", d.http_status}, {"error", d.error}, {"help", d.help},
                    {"next_attempt_at", d.next_attempt_at ? nlohmann::json(*d.next_attempt_at) : nullptr}});
  }
  return list;
}

void deliver(Globals& globals) {
  auto format = output_format(globals, {report::Format::table, report::Format::json, report::Format::ndjson});
  auto workspace = find_workspace(globals);
  auto definitions = load_definitions(globals, workspace);
  auto store = state::Store::open(state_path(globals, workspace, definitions.config.state));
  notify::SystemClock clock;
  auto report = notify::deliver_due(store, definitions.config.notifiers, clock);
  auto list = deliveries_json(report);
  if (format == report::Format::json) {
    out(report::render_json({{"deliveries", list}}));
  } else if (format == report::Format::ndjson) {
    out(report::render_ndjson(list));
  } else {
    report::Table table{{{"ID", report::Align::right}, {"NOTIFIER"}, {"STATE"}, {"ATTEMPT", report::Align::right}, {"DETAIL"}}, {}};
    for (const auto& d : report.deliveries) {
      table.rows.push_back({std::to_string(d.id), d.notifier, std::string(state_name(d.state)), std::to_string(d.attempt),
                            d.error.empty() ? "" : d.error + (d.help.empty() ? "" : " (" + d.help + ")")});
    }
    out(report::render_text(table));
  }
  globals.exit_code = report.count(notify::DeliveryState::failed) > 0 ? 1 : 0;
}

void outbox(const Globals& globals, const NotifyFlags& flags) {
  auto format = output_format(globals, {report::Format::table, report::Format::json, report::Format::ndjson,
                                        report::Format::yaml});
  auto workspace = find_workspace(globals);
  auto definitions = load_definitions(globals, workspace);
  auto store = state::Store::open(state_path(globals, workspace, definitions.config.state));
  state::OutboxRepository repository(store);
  auto entries = repository.list(flags.status.empty() ? std::nullopt : std::optional(flags.status),
                                 flags.name.empty() ? std::nullopt : std::optional(flags.name), flags.limit);
  auto list = nlohmann::json::array();
  for (const auto& e : entries) {
    auto payload = nlohmann::json::parse(e.payload, nullptr, false);
    list.push_back({{"id", e.id}, {"notifier", e.notifier}, {"status", e.status}, {"attempts", e.attempts},
                    {"title", payload.is_object() ? payload.value("title", "") : ""},
                    {"created_at", e.created_at}, {"next_attempt_at", e.next_attempt_at},
                    {"sent_at", e.sent_at ? nlohmann::json(*e.sent_at) : nullptr},
                    {"last_error", e.last_error ? nlohmann::json(*e.last_error) : nullptr}});
  }
  if (format == report::Format::json || format == report::Format::yaml) {
    nlohmann::json doc = {{"outbox", list}};
    out(format == report::Format::json ? report::render_json(doc) : report::render_yaml(doc));
    return;
  }
  if (format == report::Format::ndjson) {
    out(report::render_ndjson(list));
    return;
  }
  report::Table table{{{"ID", report::Align::right}, {"NOTIFIER"}, {"STATUS"}, {"ATTEMPTS", report::Align::right},
                       {"CREATED"}, {"TITLE"}, {"LAST ERROR"}}, {}};
  for (const auto& item : list) {
    table.rows.push_back({std::to_string(item["id"].get<std::int64_t>()), item["notifier"].get<std::string>(),
                          item["status"].get<std::string>(), std::to_string(item["attempts"].get<int>()),
                          item["created_at"].get<std::string>(), item["title"].get<std::string>(),
                          item["last_error"].is_string() ? item["last_error"].get<std::string>() : ""});
  }
  out(report::render_text(table));
}

void retry(Globals& globals, const NotifyFlags& flags) {
  auto workspace = find_workspace(globals);
  auto definitions = load_definitions(globals, workspace);
  auto store = state::Store::open(state_path(globals, workspace, definitions.config.state));
  state::OutboxRepository repository(store);
  auto count = store.transaction([&] {
    return repository.requeue_failed(flags.name.empty() ? std::nullopt : std::optional(flags.name), state::now_iso8601());
  });
  note(globals, fmt::format("{} failed message{} queued again; 'has notify deliver' sends them", count,
                            count == 1 ? "" : "s"));
}

} // namespace

void register_notify(CLI::App& command, Globals& globals) {
  static NotifyFlags flags;
  command.description("Chat robots and webhooks declared under 'notifiers:' in has.yaml (DingTalk, Feishu, "
                      "WeCom, Slack, webhook). Every message goes to a durable outbox in the state file first, "
                      "so nothing is lost while a robot or the network is down.");
  command.require_subcommand(1);
  auto* test_cmd = command.add_subcommand("test", "send a test message now and print exactly what the service answered");
  test_cmd->add_option("NAME", flags.name, "the notifier")->required();
  test_cmd->callback([&globals] { test(globals, flags); });
  command.add_subcommand("deliver", "send every message that is due (retries with backoff, honours rate limits)")
    ->callback([&globals] { deliver(globals); });
  auto* outbox_cmd = command.add_subcommand("outbox", "list the outbox: pending, sent and failed messages");
  outbox_cmd->add_option("--status", flags.status, "only pending, sending, sent or failed")
    ->check(CLI::IsMember({"pending", "sending", "sent", "failed"}));
  outbox_cmd->add_option("--notifier", flags.name, "only this notifier");
  outbox_cmd->add_option("--limit,-n", flags.limit, "at most this many (default 50)");
  outbox_cmd->callback([&globals] { outbox(globals, flags); });
  auto* retry_cmd = command.add_subcommand("retry", "queue failed messages again");
  retry_cmd->add_option("--notifier", flags.name, "only this notifier");
  retry_cmd->callback([&globals] { retry(globals, flags); });
}

} // namespace has::cmd
