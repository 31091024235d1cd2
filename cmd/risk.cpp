#include "cli.hpp"

#include <has/core/error.hpp>
#include <has/defs/loader.hpp>
#include <has/state/inspect.hpp>
#include <has/state/store.hpp>

#include <fmt/format.h>

namespace has::cmd {

namespace {

// Returns the state file, reading only has.yaml's `state` when no --state
// or HAS_STATE names one.
std::filesystem::path risk_state(const Globals& globals) {
  auto workspace = find_workspace(globals);
  std::optional<std::string> configured;
  if (globals.state.empty()) {
    defs::Diagnostics diagnostics;
    configured = defs::load(workspace, {}, diagnostics).config.state;
  }
  return state_path(globals, workspace, configured);
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
          {"last_run_id", event.run_id ? nlohmann::json(*event.run_id) : nlohmann::json()}};
}

void list(Globals& globals, const std::string& status, int limit) {
  auto format = output_format(globals, {report::Format::table, report::Format::json, report::Format::yaml,
                                        report::Format::ndjson, report::Format::markdown});
  if (status != "open" && status != "resolved" && status != "all") {
    throw core::Error(core::ExitCode::usage, fmt::format("--status {}: expected open, resolved or all", status));
  }
  auto store = state::Store::open(risk_state(globals));
  auto items = nlohmann::json::array();
  for (const auto& event : state::EventRepository(store).list(
         status == "all" ? std::nullopt : std::optional<std::string>(status), limit)) {
    items.push_back(event_json(event));
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
  report::Table table{{{"ID", report::Align::right}, {"SEVERITY"}, {"STATUS"}, {"COUNT", report::Align::right},
                       {"SOURCE"}, {"TITLE"}, {"LAST SEEN"}},
                      {}};
  for (const auto& row : items) {
    auto severity = row["severity"].get<std::string>();
    table.rows.push_back({std::to_string(row["id"].get<std::int64_t>()),
                          paint(globals, severity_colour(severity), severity), row["status"].get<std::string>(),
                          std::to_string(row["count"].get<std::int64_t>()), row["source"].get<std::string>(),
                          row["title"].get<std::string>(), row["last_seen"].get<std::string>()});
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
  auto store = state::Store::open(risk_state(globals));
  state::EventRepository events(store);
  auto event = events.get(id);
  if (!event) {
    throw core::Error(core::ExitCode::usage, fmt::format("no risk event {}", id), {},
                      "list them with `has risk list --status all`");
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
  if (format == report::Format::json || format == report::Format::yaml) {
    out(format == report::Format::json ? report::render_json(doc) : report::render_yaml(doc));
    return;
  }
  std::string text = fmt::format("event {}: {}\n", id, event->title);
  text += fmt::format("  severity {}, {}, seen {} time{} from {} to {} ({})\n",
                      paint(globals, severity_colour(event->severity), event->severity), event->status, event->count,
                      event->count == 1 ? "" : "s", event->first_seen, event->last_seen, event->source);
  if (event->message && !event->message->empty()) {
    text += "  " + *event->message + "\n";
  }
  out(text + "\n");
  report::Table table{{{"AT"}, {"WHAT"}, {"RUN", report::Align::right}, {"BY"}, {"TEXT"}}, {}};
  for (const auto& row : timeline) {
    table.rows.push_back({row["at"].get<std::string>(), row["kind"].get<std::string>(),
                          row["run_id"].is_null() ? "-" : std::to_string(row["run_id"].get<std::int64_t>()),
                          row["user"].is_null() ? row["source"].get<std::string>() : row["user"].get<std::string>(),
                          row["text"].get<std::string>()});
  }
  out(format == report::Format::markdown ? report::render_markdown(table) : report::render_text(table));
}

} // namespace

void register_risk(CLI::App& command, Globals& globals) {
  command.description("Risk events: the problems inspections found (one event per rule and target, however often "
                      "it is seen), and the timeline of each: opened, severity changed, diagnosed by a tree "
                      "(`has diagnose run --event`), a plan run for it (`has plan run --event`), resolved.");
  command.require_subcommand(1);

  static std::string list_status = "open";
  static int list_limit = 50;
  auto* list_cmd = command.add_subcommand("list", "risk events, latest sighting first");
  list_cmd->add_option("--status", list_status, "open (default), resolved or all")->type_name("STATUS");
  list_cmd->add_option("--limit,-n", list_limit, "at most this many events (default 50, 0 for all)");
  list_cmd->callback([&globals] { list(globals, list_status, list_limit); });

  static std::int64_t show_id = 0;
  auto* show_cmd = command.add_subcommand("show", "one risk event and its timeline");
  show_cmd->add_option("ID", show_id, "the event")->required();
  show_cmd->callback([&globals] { show(globals, show_id); });
}

} // namespace has::cmd
