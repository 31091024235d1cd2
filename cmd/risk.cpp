#include "cli.hpp"

#include <has/core/error.hpp>
#include <has/core/interrupt.hpp>
#include <has/core/provenance.hpp>
#include <has/core/redact.hpp>
#include <has/defs/loader.hpp>
#include <has/defs/units.hpp>
#include <has/notify/clock.hpp>
#include <has/notify/deliver.hpp>
#include <has/risk/dispatcher.hpp>
#include <has/risk/handle.hpp>
#include <has/risk/ingest.hpp>
#include <has/risk/review.hpp>
#include <has/risk/server.hpp>
#include <has/state/clock.hpp>
#include <has/state/inspect.hpp>
#include <has/state/store.hpp>
#include <has/util/process.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>

namespace has::cmd {

namespace {

// Returns text from an event (a sender's title, a message, a label) fit for
// a terminal: line breaks and tabs become spaces, other control characters
// (an ANSI escape sequence a sender slipped in) become '?'.
std::string shown(std::string text) {
  for (auto& c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\n' || c == '\r' || c == '\t') {
      c = ' ';
    } else if (byte < 0x20 || byte == 0x7f) {
      c = '?';
    }
  }
  return text;
}

std::string severity_colour(std::string_view severity) {
  return severity == "ok" ? "green" : severity == "warning" ? "yellow" : severity == "critical" ? "red" : "dim";
}

nlohmann::json optional_json(const std::optional<std::string>& text) {
  if (!text) {
    return nullptr;
  }
  auto parsed = nlohmann::json::parse(*text, nullptr, false);
  return parsed.is_discarded() ? nlohmann::json(*text) : parsed;
}

nlohmann::json event_json(const state::Event& event) {
  return {{"id", event.id},
          {"fingerprint", event.fingerprint},
          {"source", event.source},
          {"title", event.title},
          {"severity", event.severity},
          {"status", event.status},
          {"count", event.count},
          {"labels", event.labels ? optional_json(event.labels) : nlohmann::json::object()},
          {"message", event.message ? nlohmann::json(*event.message) : nlohmann::json()},
          {"first_seen", event.first_seen},
          {"last_seen", event.last_seen},
          {"resolved_at", event.resolved_at ? nlohmann::json(*event.resolved_at) : nlohmann::json()},
          {"last_run_id", event.run_id ? nlohmann::json(*event.run_id) : nlohmann::json()},
          {"acknowledged_by", event.acknowledged_by ? nlohmann::json(*event.acknowledged_by) : nlohmann::json()},
          {"acknowledged_at", event.acknowledged_at ? nlohmann::json(*event.acknowledged_at) : nlohmann::json()},
          {"assignee", event.assignee ? nlohmann::json(*event.assignee) : nlohmann::json()},
          {"resolved_by", event.resolved_by ? nlohmann::json(*event.resolved_by) : nlohmann::json()},
          {"level", event.level ? nlohmann::json(*event.level) : nlohmann::json()}};
}

struct ListFlags {
  std::string status = "open";
  int limit = 50;
  std::vector<std::string> sources;
  std::vector<std::string> severities;
  std::vector<std::string> levels;
};

void list(Globals& globals, const ListFlags& flags) {
  auto format = output_format(globals, {report::Format::table, report::Format::json, report::Format::yaml,
                                        report::Format::ndjson, report::Format::markdown});
  const auto& status = flags.status;
  if (status != "open" && status != "resolved" && status != "all") {
    throw core::Error(core::ExitCode::usage, fmt::format("--status {}: expected open, resolved or all", status));
  }
  auto wanted = [](const std::vector<std::string>& allowed, const std::string& value) {
    return allowed.empty() || std::find(allowed.begin(), allowed.end(), value) != allowed.end();
  };
  auto store = state::Store::open(workspace_state_path(globals));
  auto items = nlohmann::json::array();
  for (const auto& event : state::EventRepository(store).list(
         status == "all" ? std::nullopt : std::optional<std::string>(status), 0)) {
    if (flags.limit > 0 && items.size() >= static_cast<std::size_t>(flags.limit)) {
      break;
    }
    if (wanted(flags.sources, event.source) && wanted(flags.severities, event.severity) &&
        wanted(flags.levels, event.level.value_or("-"))) {
      items.push_back(event_json(event));
    }
  }
  if (format == report::Format::json || format == report::Format::yaml) {
    nlohmann::json doc{{"events", items}};
    out(format == report::Format::json ? report::render_json(doc) : report::render_yaml(doc));
    return;
  }
  if (format == report::Format::ndjson) {
    out(report::render_ndjson(items));
    return;
  }
  report::Table table{{{"ID", report::Align::right}, {"LEVEL"}, {"SEVERITY"}, {"STATUS"},
                       {"COUNT", report::Align::right}, {"SOURCE"}, {"TITLE"}, {"LAST SEEN"}, {"ACK"}, {"ASSIGNEE"}},
                      {}};
  auto text_or_dash = [](const nlohmann::json& value) {
    return value.is_null() ? std::string("-") : value.get<std::string>();
  };
  for (const auto& row : items) {
    auto severity = row["severity"].get<std::string>();
    table.rows.push_back({std::to_string(row["id"].get<std::int64_t>()), text_or_dash(row["level"]),
                          paint(globals, severity_colour(severity), severity), row["status"].get<std::string>(),
                          std::to_string(row["count"].get<std::int64_t>()), row["source"].get<std::string>(),
                          shown(row["title"].get<std::string>()), row["last_seen"].get<std::string>(),
                          text_or_dash(row["acknowledged_by"]), text_or_dash(row["assignee"])});
  }
  if (items.empty()) {
    note(globals, status == "open" ? "no open risk events" : "no risk events");
    return;
  }
  out(format == report::Format::markdown ? report::render_markdown(table) : report::render_text(table));
}

void show(Globals& globals, std::int64_t id) {
  auto format = output_format(globals, {report::Format::table, report::Format::json, report::Format::yaml,
                                        report::Format::markdown});
  auto store = state::Store::open(workspace_state_path(globals));
  state::EventRepository events(store);
  auto event = events.get(id);
  if (!event) {
    throw state::unknown_event(id);
  }
  auto doc = event_json(*event);
  auto timeline = nlohmann::json::array();
  for (const auto& entry : events.timeline(id)) {
    timeline.push_back({{"at", entry.at},
                        {"kind", entry.kind},
                        {"source", entry.source},
                        {"text", entry.text},
                        {"run_id", entry.run_id ? nlohmann::json(*entry.run_id) : nlohmann::json()},
                        {"user", entry.user ? nlohmann::json(*entry.user) : nlohmann::json()},
                        {"data", optional_json(entry.data)}});
  }
  doc["timeline"] = timeline;
  // The plans the latest diagnosis recommends, ready to run for the event.
  auto recommended = nlohmann::json::array();
  for (auto it = timeline.rbegin(); it != timeline.rend(); ++it) {
    const auto& data = (*it)["data"];
    if ((*it)["kind"] == "diagnosis" && data.is_object() && data.contains("plans") && data["plans"].is_array()) {
      for (const auto& plan : data["plans"]) {
        if (!plan.is_object() || !plan.contains("name") || !plan["name"].is_string()) {
          continue;
        }
        std::vector<std::string> argv{"has", "plan", "run", plan["name"].get<std::string>(), "--event",
                                       std::to_string(id)};
        for (const auto& [key, value] : plan.value("params", nlohmann::json::object()).items()) {
          argv.push_back("-p");
          argv.push_back(key + "=" + (value.is_string() ? value.get<std::string>() : value.dump()));
        }
        recommended.push_back({{"plan", plan["name"]},
                               {"params", plan.value("params", nlohmann::json::object())},
                               {"diagnosis_run", (*it)["run_id"]},
                               {"command", util::shell_join(argv)}});
      }
      break;
    }
  }
  doc["recommended_plans"] = recommended;
  if (format == report::Format::json || format == report::Format::yaml) {
    out(format == report::Format::json ? report::render_json(doc) : report::render_yaml(doc));
    return;
  }
  std::string text = fmt::format("event {}: {}\n", id, shown(event->title));
  text += fmt::format("  severity {}, {}, seen {} time{} from {} to {} ({})\n",
                      paint(globals, severity_colour(event->severity), event->severity), event->status, event->count,
                      event->count == 1 ? "" : "s", event->first_seen, event->last_seen, event->source);
  if (event->message && !event->message->empty()) {
    text += "  " + shown(*event->message) + "\n";
  }
  if (event->acknowledged_by) {
    text += fmt::format("  acknowledged by {} at {}\n", *event->acknowledged_by, event->acknowledged_at.value_or("?"));
  }
  if (event->assignee) {
    text += fmt::format("  assigned to {}\n", *event->assignee);
  }
  for (const auto& plan : recommended) {
    text += fmt::format("  recommended by diagnosis run {}: {}\n", plan["diagnosis_run"].dump(),
                        shown(plan["command"].get<std::string>()));
  }
  out(text + "\n");
  report::Table table{{{"AT"}, {"WHAT"}, {"RUN", report::Align::right}, {"BY"}, {"TEXT"}}, {}};
  for (const auto& row : timeline) {
    table.rows.push_back({row["at"].get<std::string>(), row["kind"].get<std::string>(),
                          row["run_id"].is_null() ? "-" : std::to_string(row["run_id"].get<std::int64_t>()),
                          row["user"].is_null() ? row["source"].get<std::string>() : row["user"].get<std::string>(),
                          shown(row["text"].get<std::string>())});
  }
  out(format == report::Format::markdown ? report::render_markdown(table) : report::render_text(table));
}

// What an operator does to an event: acknowledge, assign, comment, resolve.
struct WorkFlags {
  std::int64_t id = 0;
  std::string assignee;
  std::string text;
  std::string comment;
  std::string by;
};

enum class Work { acknowledge, assign, comment, resolve };

void work(Globals& globals, Work what, const WorkFlags& flags) {
  auto format = output_format(globals, {report::Format::table, report::Format::json, report::Format::yaml});
  const std::string by = flags.by.empty() ? core::current_user() : flags.by;
  if (by.empty()) {
    throw core::Error(core::ExitCode::usage, "cannot tell who you are", "the user has no name and USER is unset",
                      "say who with --by NAME");
  }
  if (what == Work::comment && flags.text.empty()) {
    throw core::Error(core::ExitCode::usage, "the comment is empty", {}, "e.g. has risk comment 12 \"restarted by hand\"");
  }
  if (what == Work::assign && flags.assignee.empty()) {
    throw core::Error(core::ExitCode::usage, "the assignee is empty", {}, "e.g. has risk assign 12 ann");
  }
  auto store = state::Store::open(workspace_state_path(globals));
  state::EventRepository events(store);
  std::optional<state::Event> event;
  store.transaction([&] {
    event = events.get(flags.id);
    if (!event) {
      throw state::unknown_event(flags.id);
    }
    if (what != Work::comment && event->status != "open") {
      throw core::Error(core::ExitCode::usage, fmt::format("risk event {} is already resolved", flags.id),
                        fmt::format("resolved at {}", event->resolved_at.value_or("?")),
                        "comment on it with `has risk comment`; a new failure opens a new event");
    }
    const auto at = state::now_iso8601();
    switch (what) {
    case Work::acknowledge: events.acknowledge(flags.id, by, at); break;
    case Work::assign: events.assign(flags.id, flags.assignee, by, at); break;
    case Work::comment: events.comment(flags.id, flags.text, by, at); break;
    case Work::resolve: events.close(flags.id, by, at); break;
    }
    if (what != Work::comment && !flags.comment.empty()) {
      events.comment(flags.id, flags.comment, by, at);
    }
    event = events.get(flags.id);
  });
  if (format == report::Format::table) {
    static constexpr const char* k_done[] = {"acknowledged", "assigned", "commented on", "resolved"};
    note(globals, fmt::format("risk event {} {} by {}", flags.id, k_done[static_cast<int>(what)], by));
    return;
  }
  auto doc = event_json(*event);
  out(format == report::Format::json ? report::render_json(doc) : report::render_yaml(doc));
}

risk::Format format_flag(const std::string& name) {
  auto format = risk::parse_format(name);
  if (!format) {
    throw core::Error(core::ExitCode::usage, fmt::format("--format {}: unknown format", name), {},
                      "use auto, alertmanager, pagerduty or json");
  }
  return *format;
}

std::string outcome_text(const std::vector<risk::Applied>& applied) {
  std::map<std::string, int> counts;
  for (const auto& item : applied) {
    ++counts[item.outcome];
  }
  std::vector<std::string> parts;
  for (const auto& [outcome, count] : counts) {
    parts.push_back(fmt::format("{} {}", count, outcome == "not_open" ? "not open" : outcome));
  }
  return parts.empty() ? "nothing" : fmt::format("{}", fmt::join(parts, ", "));
}

void ingest(Globals& globals, const std::string& file, const std::string& format_name) {
  auto format = output_format(globals, {report::Format::table, report::Format::json, report::Format::yaml});
  auto payload_format = format_flag(format_name);
  std::string body;
  if (file.empty() || file == "-") {
    std::ostringstream text;
    text << std::cin.rdbuf();
    body = text.str();
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      throw core::Error(core::ExitCode::io, fmt::format("cannot read {}", file), std::strerror(errno));
    }
    std::ostringstream text;
    text << in.rdbuf();
    body = text.str();
  }
  auto alerts = risk::parse(body, payload_format);
  auto store = state::Store::open(workspace_state_path(globals));
  auto applied = risk::apply(store, alerts);
  auto list = risk::to_json(applied);
  if (format == report::Format::table) {
    report::Table table{{{"EVENT", report::Align::right}, {"OUTCOME"}, {"FINGERPRINT"}}, {}};
    for (const auto& row : list) {
      table.rows.push_back({row["event_id"].is_null() ? "-" : std::to_string(row["event_id"].get<std::int64_t>()),
                            row["outcome"].get<std::string>(), row["fingerprint"].get<std::string>()});
    }
    out(report::render_text(table));
  } else {
    nlohmann::json doc{{"applied", list}};
    out(format == report::Format::json ? report::render_json(doc) : report::render_yaml(doc));
  }
  note(globals, fmt::format("{} alert{}: {}", applied.size(), applied.size() == 1 ? "" : "s", outcome_text(applied)));
}

struct ServeFlags {
  std::string listen = "127.0.0.1:9095";
  std::string token_env;
  std::string max_body = "1MiB";
  bool handle = false;
  bool no_heal = false;
};

// Sends what handling put in the outbox; a failure stays there for
// `has notify deliver`.
void deliver(const Globals& globals, const defs::Definitions& definitions, const std::filesystem::path& path) {
  if (definitions.config.notifiers.empty()) {
    return;
  }
  auto store = state::Store::open(path);
  notify::SystemClock clock;
  auto delivered = notify::deliver_due(store, definitions.config.notifiers, clock);
  for (const auto& d : delivered.deliveries) {
    if (d.state != notify::DeliveryState::sent && d.state != notify::DeliveryState::deferred) {
      note(globals, fmt::format("has: notifier {}: {}{}", d.notifier, d.error,
                                d.state == notify::DeliveryState::retrying ? " (kept in the outbox, retried later)"
                                                                           : ""));
    }
  }
}


void serve(Globals& globals, const ServeFlags& flags) {
  risk::ServeOptions options;
  auto colon = flags.listen.rfind(':');
  if (colon == std::string::npos) {
    throw core::Error(core::ExitCode::usage, fmt::format("--listen {}: expected HOST:PORT", flags.listen), {},
                      "e.g. --listen 127.0.0.1:9095, or :0 for any free port on loopback");
  }
  options.host = colon == 0 ? "127.0.0.1" : flags.listen.substr(0, colon);
  if (options.host.size() > 2 && options.host.front() == '[' && options.host.back() == ']') {
    options.host = options.host.substr(1, options.host.size() - 2);
  }
  try {
    std::size_t used = 0;
    options.port = std::stoi(flags.listen.substr(colon + 1), &used);
    if (used != flags.listen.size() - colon - 1 || options.port < 0 || options.port > 65535) {
      throw std::invalid_argument("port");
    }
  } catch (const std::exception&) {
    throw core::Error(core::ExitCode::usage, fmt::format("--listen {}: the port must be 0-65535", flags.listen));
  }
  if (!flags.token_env.empty()) {
    const char* token = std::getenv(flags.token_env.c_str());
    if (token == nullptr || *token == '\0') {
      throw core::Error(core::ExitCode::usage, fmt::format("--token-env {}: the variable is not set", flags.token_env),
                        {}, "export the token in that variable; it is never given on the command line");
    }
    options.token = token;
  }
  try {
    options.max_body = static_cast<std::size_t>(defs::parse_size(flags.max_body));
  } catch (const core::Error& e) {
    throw core::Error(core::ExitCode::usage, fmt::format("--max-body {}: {}", flags.max_body, e.what()));
  }
  std::filesystem::path path;
  defs::Definitions definitions;
  std::unique_ptr<risk::Dispatcher> dispatcher;
  if (flags.handle) {
    auto workspace = find_workspace(globals);
    definitions = load_definitions(globals, workspace);
    path = state_path(globals, workspace, definitions.config.state);
    risk::HandleOptions handle_options;
    handle_options.heal = !flags.no_heal;
    handle_options.walk.default_timeout = definitions.config.default_timeout;
    dispatcher = std::make_unique<risk::Dispatcher>(
      definitions, path, handle_options,
      [&globals, &definitions, &path](std::int64_t id, const risk::Handled* handled, const std::string& error) {
        if (handled == nullptr) {
          note(globals, fmt::format("event {}: cannot handle it: {}", id, error));
          return;
        }
        note(globals, fmt::format("event {}: {}{}", id,
                                  handled->scenario.empty() ? "no scenario covers it" : "scenario " + handled->scenario,
                                  handled->heal_text.empty() ? "" : "; " + shown(handled->heal_text)));
        if (!handled->notified.empty()) {
          deliver(globals, definitions, path);
        }
      });
    options.on_applied = [&dispatcher](const std::vector<risk::Applied>& applied) { dispatcher->add(applied); };
  } else {
    path = workspace_state_path(globals);
  }
  core::set_cooperative_interrupt(true);
  options.stop = [] { return core::interrupt_requested(); };
  options.on_listening = [&globals, &options, &path](int port) {
    note(globals, fmt::format("listening on {}:{} (state {}){}", options.host, port, path.string(),
                              options.token ? ", bearer token required" : ""));
  };
  options.on_request = [&globals](const risk::Access& access) {
    auto detail = access.error.empty() ? (access.applied.empty() ? "" : outcome_text(access.applied)) : access.error;
    note(globals, fmt::format("{} {} {} from {}{}", access.method, access.path, access.status, access.remote,
                              detail.empty() ? "" : ": " + detail));
  };
  risk::serve(path, options);
  note(globals, "stopped");
  core::clear_interrupt();
}

nlohmann::json handled_json(const risk::Handled& handled) {
  auto plans = nlohmann::json::array();
  for (const auto& plan : handled.plans) {
    // ${env:} values filled into a parameter are secrets: never printed.
    auto params = nlohmann::json::parse(core::redact(plan.params.dump()), nullptr, false);
    plans.push_back({{"plan", plan.plan}, {"params", params.is_discarded() ? nlohmann::json() : params},
                     {"from", plan.from}});
  }
  return {{"event_id", handled.event_id},
          {"scenario", handled.scenario.empty() ? nlohmann::json() : nlohmann::json(handled.scenario)},
          {"level", handled.level ? nlohmann::json(*handled.level) : nlohmann::json()},
          {"impact", handled.impact},
          {"diagnosis_run", handled.diagnosis_run ? nlohmann::json(*handled.diagnosis_run) : nlohmann::json()},
          {"diagnosis", handled.diagnosis},
          {"recommended_plans", plans},
          {"heal", handled.heal},
          {"heal_text", handled.heal_text},
          {"heal_run", handled.heal_run ? nlohmann::json(*handled.heal_run) : nlohmann::json()},
          {"heal_state", handled.heal_report ? nlohmann::json(handled.heal_report->state) : nlohmann::json()},
          {"notified", handled.notified}};
}

struct HandleFlags {
  std::vector<std::int64_t> ids;
  bool fresh = false;
  bool no_heal = false;
};

void handle(Globals& globals, const HandleFlags& flags) {
  auto format = output_format(globals, {report::Format::table, report::Format::json, report::Format::yaml});
  if (flags.ids.empty() == !flags.fresh) {
    throw core::Error(core::ExitCode::usage, "give event ids or --new, not both and not neither", {},
                      "e.g. has risk handle 12, or has risk handle --new from cron");
  }
  auto workspace = find_workspace(globals);
  auto definitions = load_definitions(globals, workspace);
  auto path = state_path(globals, workspace, definitions.config.state);
  std::vector<std::int64_t> ids = flags.ids;
  if (flags.fresh) {
    auto store = state::Store::open(path);
    ids = state::EventRepository(store).unhandled();
  }
  risk::HandleOptions options;
  options.heal = !flags.no_heal;
  options.claim = flags.fresh;
  options.walk.default_timeout = definitions.config.default_timeout;
  core::set_cooperative_interrupt(true);
  options.walk.cancelled = [] { return core::interrupt_requested(); };
  options.walk.on_step = [&globals](const diagnose::Step& step) {
    note(globals, fmt::format("  [{}] {}: {}", step.node, probe::status_name(step.seen.status), step.seen.message));
  };
  options.plan.on_event = [&globals](const plan::Event& event) {
    if (event.type == plan::Event::Type::finished) {
      note(globals, fmt::format("  step {}: {}{}", event.step, event.state, event.message.empty() ? "" : " - " + event.message));
    }
  };
  auto list = nlohmann::json::array();
  int worst = 0;
  for (auto id : ids) {
    note(globals, fmt::format("event {}", id));
    risk::Handled handled;
    try {
      handled = risk::handle(definitions, path, id, options);
    } catch (const core::Error& e) {
      if (e.code() == core::ExitCode::usage && !flags.fresh) {
        throw; // an unknown event named on the command line
      }
      note(globals, fmt::format("has: event {}: cannot handle it: {}", id, e.what()));
      worst = 1;
      continue;
    } catch (const std::exception& e) {
      note(globals, fmt::format("has: event {}: cannot handle it: {}", id, e.what()));
      worst = 1;
      continue;
    }
    if (handled.claimed_elsewhere) {
      continue; // another `has risk handle --new` or `serve --handle` has it
    }
    if (handled.heal_report && handled.heal_report->state != "succeeded") {
      worst = 1;
    }
    list.push_back(handled_json(handled));
    if (core::interrupt_requested()) {
      globals.exit_code = core::to_int(core::ExitCode::interrupted);
      break;
    }
  }
  deliver(globals, definitions, path);
  if (format == report::Format::table) {
    std::string text;
    for (const auto& item : list) {
      text += fmt::format("event {}: ", item["event_id"].get<std::int64_t>());
      if (item["scenario"].is_null()) {
        text += "no scenario covers it\n";
        continue;
      }
      text += fmt::format("scenario {}{}\n", item["scenario"].get<std::string>(),
                          item["level"].is_null() ? "" : ", level " + item["level"].get<std::string>());
      if (!item["impact"].get<std::string>().empty()) {
        text += fmt::format("  impact: {}\n", shown(item["impact"].get<std::string>()));
      }
      if (!item["diagnosis_run"].is_null()) {
        text += fmt::format("  diagnosis (run {}): {}\n", item["diagnosis_run"].dump(), shown(item["diagnosis"].get<std::string>()));
      }
      for (const auto& plan : item["recommended_plans"]) {
        std::vector<std::string> argv{"has", "plan", "run", plan["plan"].get<std::string>(), "--event",
                                       std::to_string(item["event_id"].get<std::int64_t>())};
        for (const auto& [key, value] : plan["params"].items()) {
          argv.push_back("-p");
          argv.push_back(key + "=" + (value.is_string() ? value.get<std::string>() : value.dump()));
        }
        text += fmt::format("  recommended ({}): {}\n", plan["from"].get<std::string>(), shown(util::shell_join(argv)));
      }
      if (item["heal"] != "none") {
        text += "  " + shown(item["heal_text"].get<std::string>()) + "\n";
      }
    }
    if (list.empty()) {
      note(globals, "no events to handle");
    }
    out(text);
  } else {
    nlohmann::json doc{{"handled", list}};
    out(format == report::Format::json ? report::render_json(doc) : report::render_yaml(doc));
  }
  if (globals.exit_code == 0) {
    globals.exit_code = worst;
  }
}

std::string duration_text(const std::optional<std::chrono::milliseconds>& duration) {
  if (!duration) {
    return "-";
  }
  auto d = *duration;
  if (d >= std::chrono::seconds(10)) {
    d = std::chrono::duration_cast<std::chrono::seconds>(d);
  }
  return d.count() < 0 ? "-" : defs::format_duration(d);
}

nlohmann::json duration_json(const std::optional<std::chrono::milliseconds>& duration) {
  return duration ? nlohmann::json(duration->count()) : nlohmann::json();
}

void review(Globals& globals, std::int64_t id) {
  auto format = output_format(globals, {report::Format::table, report::Format::markdown, report::Format::json,
                                        report::Format::yaml});
  auto store = state::Store::open(workspace_state_path(globals));
  state::EventRepository events(store);
  auto event = events.get(id);
  if (!event) {
    throw state::unknown_event(id);
  }
  auto timeline = events.timeline(id);
  auto figures = risk::review(*event, timeline);
  auto actions = nlohmann::json::array();
  for (const auto& action : figures.actions) {
    actions.push_back({{"run_id", action.run_id},
                       {"plan", action.plan},
                       {"state", action.state},
                       {"by", action.by},
                       {"automatic", action.automatic},
                       {"started_at", action.started_at},
                       {"ended_at", action.ended_at.empty() ? nlohmann::json() : nlohmann::json(action.ended_at)}});
  }
  auto lines = nlohmann::json::array();
  for (const auto& line : timeline) {
    lines.push_back({{"at", line.at}, {"kind", line.kind}, {"text", line.text},
                     {"run_id", line.run_id ? nlohmann::json(*line.run_id) : nlohmann::json()},
                     {"by", line.user ? nlohmann::json(*line.user) : nlohmann::json(line.source)}});
  }
  nlohmann::json doc{{"event", event_json(*event)},
                     {"figures_ms", {{"to_acknowledge", duration_json(figures.to_acknowledge)},
                                     {"to_diagnose", duration_json(figures.to_diagnose)},
                                     {"to_mitigate", duration_json(figures.to_mitigate)},
                                     {"to_resolve", duration_json(figures.to_resolve)}}},
                     {"scenario", figures.scenario ? nlohmann::json(*figures.scenario) : nlohmann::json()},
                     {"diagnoses", figures.diagnoses},
                     {"actions", actions},
                     {"healed", figures.healed},
                     {"timeline", lines},
                     {"generated_at", state::now_iso8601()},
                     {"has_version", HAS_VERSION}};
  if (format == report::Format::json || format == report::Format::yaml) {
    out(format == report::Format::json ? report::render_json(doc) : report::render_yaml(doc));
    return;
  }
  std::string text = fmt::format("# Review of risk event {}: {}\n\n", id, shown(event->title));
  text += fmt::format("- Severity: {}; status: {}; source: {}; seen {} time{}\n", event->severity, event->status,
                      event->source, event->count, event->count == 1 ? "" : "s");
  text += fmt::format("- First seen: {}; last seen: {}{}\n", event->first_seen, event->last_seen,
                      event->resolved_at ? "; resolved: " + *event->resolved_at +
                                             (event->resolved_by ? " by " + *event->resolved_by : "")
                                         : "");
  if (figures.scenario) {
    text += fmt::format("- {}\n", *figures.scenario);
  }
  if (event->assignee) {
    text += fmt::format("- Assigned to {}\n", *event->assignee);
  }
  text += "\n## Figures\n\n";
  report::Table times{{{"FROM FIRST SIGHTING TO"}, {"TIME", report::Align::right}}, {}};
  times.rows = {{"acknowledged", duration_text(figures.to_acknowledge)},
                {"diagnosed", duration_text(figures.to_diagnose)},
                {"mitigated (a plan succeeded)", duration_text(figures.to_mitigate)},
                {"resolved", duration_text(figures.to_resolve)}};
  text += report::render_markdown(times);
  text += "\n## Diagnoses\n\n";
  for (const auto& line : figures.diagnoses) {
    text += "- " + line + "\n";
  }
  if (figures.diagnoses.empty()) {
    text += "None.\n";
  }
  text += "\n## Actions taken\n\n";
  if (figures.actions.empty()) {
    text += "No plan was run for this event.\n";
  } else {
    report::Table table{{{"RUN", report::Align::right}, {"PLAN"}, {"OUTCOME"}, {"BY"}, {"STARTED"}}, {}};
    for (const auto& action : figures.actions) {
      table.rows.push_back({std::to_string(action.run_id), action.plan, action.state,
                            action.automatic ? "self-healing" : action.by, action.started_at});
    }
    text += report::render_markdown(table);
  }
  text += "\n## Timeline\n\n";
  report::Table table{{{"AT"}, {"WHAT"}, {"BY"}, {"TEXT"}}, {}};
  for (const auto& line : lines) {
    table.rows.push_back({line["at"].get<std::string>(), line["kind"].get<std::string>(),
                          line["by"].get<std::string>(), shown(line["text"].get<std::string>())});
  }
  text += report::render_markdown(table);
  text += fmt::format("\nGenerated {} by has {}.\n", doc["generated_at"].get<std::string>(), HAS_VERSION);
  out(text);
}

void show_stats(Globals& globals, const std::string& since) {
  auto format = output_format(globals, {report::Format::table, report::Format::markdown, report::Format::json,
                                        report::Format::yaml});
  std::chrono::milliseconds window{};
  try {
    window = defs::parse_duration(since);
  } catch (const core::Error& e) {
    throw core::Error(core::ExitCode::usage, fmt::format("--since {}: {}", since, e.what()), {}, "e.g. --since 7d");
  }
  const auto from = state::format_iso8601(std::chrono::system_clock::now() - window);
  auto store = state::Store::open(workspace_state_path(globals));
  state::EventRepository events(store);
  std::vector<state::Event> chosen;
  std::vector<risk::Review> reviews;
  for (auto& event : events.list(std::nullopt, 0)) {
    if (event.first_seen >= from) {
      reviews.push_back(risk::review(event, events.timeline(event.id)));
      chosen.push_back(std::move(event));
    }
  }
  auto figures = risk::stats(chosen, reviews);
  auto figure_json = [](const risk::Figure& f) {
    return nlohmann::json{{"events", f.count}, {"mean_ms", duration_json(f.mean)},
                          {"median_ms", duration_json(f.median)}, {"worst_ms", duration_json(f.worst)}};
  };
  nlohmann::json doc{{"since", from},
                     {"events", figures.events},
                     {"open", figures.open},
                     {"healed", figures.healed},
                     {"by_source", figures.by_source},
                     {"by_severity", figures.by_severity},
                     {"by_level", figures.by_level},
                     {"to_acknowledge", figure_json(figures.to_acknowledge)},
                     {"to_diagnose", figure_json(figures.to_diagnose)},
                     {"to_mitigate", figure_json(figures.to_mitigate)},
                     {"to_resolve", figure_json(figures.to_resolve)}};
  if (format == report::Format::json || format == report::Format::yaml) {
    out(format == report::Format::json ? report::render_json(doc) : report::render_yaml(doc));
    return;
  }
  auto counts = [](const std::map<std::string, std::size_t>& map) {
    std::vector<std::string> parts;
    for (const auto& [key, count] : map) {
      parts.push_back(fmt::format("{} {}", shown(key), count));
    }
    return parts.empty() ? std::string("-") : fmt::format("{}", fmt::join(parts, ", "));
  };
  std::string text = fmt::format("{} risk event{} first seen since {}: {} open, {} healed on their own\n",
                                 figures.events, figures.events == 1 ? "" : "s", from, figures.open, figures.healed);
  text += fmt::format("  by source: {}\n  by severity: {}\n  by level: {}\n\n", counts(figures.by_source),
                      counts(figures.by_severity), counts(figures.by_level));
  report::Table table{{{"FROM FIRST SIGHTING TO"}, {"EVENTS", report::Align::right}, {"MEAN", report::Align::right},
                       {"MEDIAN", report::Align::right}, {"WORST", report::Align::right}},
                      {}};
  for (const auto& [name, f] : {std::pair<const char*, const risk::Figure&>{"acknowledged", figures.to_acknowledge},
                                {"diagnosed", figures.to_diagnose},
                                {"mitigated", figures.to_mitigate},
                                {"resolved", figures.to_resolve}}) {
    table.rows.push_back({name, std::to_string(f.count), duration_text(f.mean), duration_text(f.median),
                          duration_text(f.worst)});
  }
  out(text + (format == report::Format::markdown ? report::render_markdown(table) : report::render_text(table)));
}

void regrade(Globals& globals) {
  auto format = output_format(globals, {report::Format::table, report::Format::json, report::Format::yaml});
  auto workspace = find_workspace(globals);
  auto definitions = load_definitions(globals, workspace);
  auto path = state_path(globals, workspace, definitions.config.state);
  auto changed = risk::regrade(definitions, path);
  auto store = state::Store::open(path);
  state::EventRepository events(store);
  auto list = nlohmann::json::array();
  for (auto id : changed) {
    if (auto event = events.get(id)) {
      list.push_back({{"event_id", id}, {"level", event->level ? nlohmann::json(*event->level) : nlohmann::json()},
                      {"title", event->title}});
    }
  }
  if (format == report::Format::table) {
    for (const auto& item : list) {
      out(fmt::format("event {}: {} ({})\n", item["event_id"].get<std::int64_t>(), item["level"].get<std::string>(),
                      shown(item["title"].get<std::string>())));
    }
    note(globals, fmt::format("{} event{} regraded", list.size(), list.size() == 1 ? "" : "s"));
    return;
  }
  nlohmann::json doc{{"regraded", list}};
  out(format == report::Format::json ? report::render_json(doc) : report::render_yaml(doc));
}

void scenarios(Globals& globals) {
  auto format = output_format(globals, {report::Format::table, report::Format::json, report::Format::yaml});
  auto workspace = find_workspace(globals);
  auto definitions = load_definitions(globals, workspace);
  auto list = nlohmann::json::array();
  for (const auto& scenario : definitions.scenarios) {
    nlohmann::json match = nlohmann::json::object();
    if (scenario.match.source) {
      match["source"] = *scenario.match.source;
    }
    if (!scenario.match.severities.empty()) {
      match["severity"] = scenario.match.severities;
    }
    if (!scenario.match.labels.empty()) {
      match["labels"] = scenario.match.labels;
    }
    if (scenario.match.title) {
      match["title"] = *scenario.match.title;
    }
    auto plans = nlohmann::json::array();
    for (const auto& plan : scenario.plans) {
      plans.push_back(plan.name);
    }
    list.push_back({{"name", scenario.header.name},
                    {"description", scenario.header.description},
                    {"match", match},
                    {"tree", scenario.tree.empty() ? nlohmann::json() : nlohmann::json(scenario.tree)},
                    {"plans", plans},
                    {"impact", scenario.impact},
                    {"grade", [&] {
                       auto rules = nlohmann::json::array();
                       for (const auto& rule : scenario.grade) {
                         rules.push_back({{"level", rule.level}, {"when", rule.when}});
                       }
                       return rules;
                     }()},
                    {"heal", scenario.heal ? nlohmann::json{{"plan", scenario.heal->plan},
                                                            {"mode", scenario.heal->on ? "on" : "dry-run"}}
                                           : nlohmann::json()}});
  }
  if (format != report::Format::table) {
    nlohmann::json doc{{"scenarios", list}};
    out(format == report::Format::json ? report::render_json(doc) : report::render_yaml(doc));
    return;
  }
  report::Table table{{{"NAME"}, {"MATCH"}, {"TREE"}, {"PLANS"}, {"HEAL"}, {"IMPACT"}}, {}};
  for (const auto& row : list) {
    std::vector<std::string> plans;
    for (const auto& plan : row["plans"]) {
      plans.push_back(plan.get<std::string>());
    }
    table.rows.push_back({row["name"].get<std::string>(), row["match"].dump(),
                          row["tree"].is_null() ? "-" : row["tree"].get<std::string>(),
                          plans.empty() ? "-" : fmt::format("{}", fmt::join(plans, ",")),
                          row["heal"].is_null() ? "-"
                                                : fmt::format("{} ({})", row["heal"]["plan"].get<std::string>(),
                                                              row["heal"]["mode"].get<std::string>()),
                          row["impact"].get<std::string>()});
  }
  out(report::render_text(table));
}

} // namespace

void register_risk(CLI::App& command, Globals& globals) {
  command.description("Risk events: the problems inspections find (one event per rule and target, however often "
                      "it is seen) and alerts from outside (Alertmanager, PagerDuty, JSON: ingest, serve), and the "
                      "timeline of each: opened, severity changed, acknowledged, assigned, commented on, diagnosed "
                      "by a tree, a plan run for it, resolved. Scenarios (kind: Scenario) diagnose and heal known "
                      "faults on their own (handle), and review gives the retrospective.");
  command.require_subcommand(1);

  static ListFlags list_flags;
  auto* list_cmd = command.add_subcommand("list", "risk events, latest sighting first");
  list_cmd->add_option("--status", list_flags.status, "open (default), resolved or all")->type_name("STATUS");
  list_cmd->add_option("--source", list_flags.sources, "only from this source (repeatable): inspect, alertmanager, ...")
    ->type_name("SOURCE");
  list_cmd->add_option("--severity", list_flags.severities, "only of this severity (repeatable)")->type_name("SEVERITY");
  list_cmd->add_option("--level", list_flags.levels, "only of this level (repeatable; - for none)")->type_name("LEVEL");
  list_cmd->add_option("--limit,-n", list_flags.limit, "at most this many events (default 50, 0 for all)");
  list_cmd->callback([&globals] { list(globals, list_flags); });

  static std::int64_t show_id = 0;
  auto* show_cmd = command.add_subcommand("show", "one risk event and its timeline");
  show_cmd->add_option("ID", show_id, "the event")->required();
  show_cmd->callback([&globals] { show(globals, show_id); });

  static WorkFlags work_flags;
  auto add_by = [](CLI::App* sub) {
    sub->add_option("--by", work_flags.by, "who does it (default: the user running has)")->type_name("NAME");
  };
  auto* ack_cmd = command.add_subcommand("ack", "acknowledge an open event: someone is on it");
  ack_cmd->alias("acknowledge");
  ack_cmd->add_option("ID", work_flags.id, "the event")->required();
  ack_cmd->add_option("-m,--comment", work_flags.comment, "a comment on the timeline with it")->type_name("TEXT");
  add_by(ack_cmd);
  ack_cmd->callback([&globals] { work(globals, Work::acknowledge, work_flags); });

  auto* assign_cmd = command.add_subcommand("assign", "assign an open event to someone");
  assign_cmd->add_option("ID", work_flags.id, "the event")->required();
  assign_cmd->add_option("ASSIGNEE", work_flags.assignee, "who takes it")->required();
  assign_cmd->add_option("-m,--comment", work_flags.comment, "a comment on the timeline with it")->type_name("TEXT");
  add_by(assign_cmd);
  assign_cmd->callback([&globals] { work(globals, Work::assign, work_flags); });

  auto* comment_cmd = command.add_subcommand("comment", "add a comment to an event's timeline");
  comment_cmd->add_option("ID", work_flags.id, "the event")->required();
  comment_cmd->add_option("TEXT", work_flags.text, "the comment")->required();
  add_by(comment_cmd);
  comment_cmd->callback([&globals] { work(globals, Work::comment, work_flags); });

  auto* resolve_cmd = command.add_subcommand(
    "resolve", "resolve an open event by hand (a rule still failing opens a new event at its next run)");
  resolve_cmd->add_option("ID", work_flags.id, "the event")->required();
  resolve_cmd->add_option("-m,--comment", work_flags.comment, "a comment on the timeline with it")->type_name("TEXT");
  add_by(resolve_cmd);
  resolve_cmd->callback([&globals] { work(globals, Work::resolve, work_flags); });

  static std::string ingest_file;
  static std::string ingest_format = "auto";
  auto* ingest_cmd = command.add_subcommand(
    "ingest", "record alerts from outside: an Alertmanager webhook, a PagerDuty v2 event, or has's JSON events");
  ingest_cmd->add_option("FILE", ingest_file, "the payload (default: standard input)");
  ingest_cmd->add_option("--format", ingest_format, "auto (default), alertmanager, pagerduty or json")
    ->type_name("FORMAT");
  ingest_cmd->callback([&globals] { ingest(globals, ingest_file, ingest_format); });

  static ServeFlags serve_flags;
  auto* serve_cmd = command.add_subcommand(
    "serve", "receive alerts over HTTP: POST /alertmanager, /v2/enqueue (PagerDuty), /events; GET /healthz");
  serve_cmd->add_option("--listen", serve_flags.listen, "address and port (default 127.0.0.1:9095; port 0: any)")
    ->type_name("HOST:PORT");
  serve_cmd->add_option("--token-env", serve_flags.token_env,
                        "require 'Authorization: Bearer TOKEN' (PagerDuty: or routing_key), TOKEN from this variable")
    ->type_name("NAME");
  serve_cmd->add_option("--max-body", serve_flags.max_body, "largest request body (default 1MiB)")->type_name("SIZE");
  serve_cmd->add_flag("--handle", serve_flags.handle,
                      "handle each event an alert opens, as `has risk handle` does, one at a time");
  serve_cmd->add_flag("--no-heal", serve_flags.no_heal, "with --handle: diagnose and recommend, run no heal plan");
  serve_cmd->callback([&globals] { serve(globals, serve_flags); });

  static HandleFlags handle_flags;
  auto* handle_cmd = command.add_subcommand(
    "handle", "deal with events: the scenario that covers each, its tree's diagnosis, the plans that fit, "
              "self-healing");
  handle_cmd->add_option("ID", handle_flags.ids, "the events");
  handle_cmd->add_flag("--new", handle_flags.fresh, "every open event not handled yet (for cron)");
  handle_cmd->add_flag("--no-heal", handle_flags.no_heal, "diagnose and recommend, but run no heal plan");
  handle_cmd->callback([&globals] { handle(globals, handle_flags); });

  static std::int64_t review_id = 0;
  auto* review_cmd = command.add_subcommand(
    "review", "the retrospective of an event: time to acknowledge, diagnose, mitigate, resolve; actions; timeline");
  review_cmd->add_option("ID", review_id, "the event")->required();
  review_cmd->callback([&globals] { review(globals, review_id); });

  static std::string stats_since = "30d";
  auto* stats_cmd = command.add_subcommand(
    "stats", "the events of a period in figures: how many, by source, severity and level; times to acknowledge, "
             "diagnose, mitigate and resolve");
  stats_cmd->add_option("--since", stats_since, "events first seen within this time (default 30d)")
    ->type_name("DURATION");
  stats_cmd->callback([&globals] { show_stats(globals, stats_since); });

  command.add_subcommand("grade", "grade every open event again by its scenario's rules (levels change with time)")
    ->callback([&globals] { regrade(globals); });

  command.add_subcommand("scenarios", "the risk scenarios: what each covers, its tree, plans and self-healing")
    ->callback([&globals] { scenarios(globals); });
}

} // namespace has::cmd
