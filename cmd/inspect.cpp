#include "cli.hpp"

#include <has/core/error.hpp>
#include <has/core/log.hpp>
#include <has/defs/units.hpp>
#include <has/inspect/document.hpp>
#include <has/inspect/engine.hpp>
#include <has/notify/deliver.hpp>
#include <has/notify/digest.hpp>
#include <has/report/html.hpp>
#include <has/state/clock.hpp>
#include <has/state/inspect.hpp>
#include <has/state/runs.hpp>
#include <has/state/store.hpp>

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <thread>
#include <unistd.h>

namespace has::cmd {

namespace {

struct RunFlags {
  std::vector<std::string> rules;
  std::vector<std::string> labels;
  std::vector<std::string> targets;
  int concurrency = 0;
  int per_target = 0;
  std::string timeout;
  bool explain = false;
  bool values = false;
  std::string report;
  std::string notify; // empty: no notifications; "changes" or "always"
};

struct ReportFlags {
  std::int64_t run = 0;
  std::string out;
  int trend = 10;
};

struct HistoryFlags {
  std::string rule;
  std::string since;
  int limit = 50;
};

std::int64_t g_show_run = 0;

std::string status_colour(std::string_view status) {
  return status == "ok" ? "green" : status == "warning" ? "yellow" : status == "critical" ? "red" : "bold";
}

std::string elapsed_text(double ms) {
  return ms >= 1000 ? fmt::format("{:.2f}s", ms / 1000) : fmt::format("{:.0f}ms", ms);
}

// Returns the status cell of a result: the effective status, with the raw
// one when hysteresis holds it back.
std::string status_cell(const nlohmann::json& r) {
  auto status = r["status"].get<std::string>();
  auto raw = r["raw_status"].get<std::string>();
  std::string cell = status;
  if (r.value("pending", false)) {
    cell += r.contains("fail_after")
              ? fmt::format(" ({} {}/{})", raw, r["fail_streak"].get<int>(), r["fail_after"].get<int>())
              : fmt::format(" ({})", raw);
  } else if (status != "ok" && raw == "ok") {
    cell += " (recovering)";
  }
  if (r.value("flapping", false)) {
    cell += " flapping";
  }
  if (r.contains("muted_by")) {
    cell += fmt::format(" muted ({})", r["muted_by"].get<std::string>());
  } else if (r.value("muted", false)) {
    cell += " muted";
  }
  return cell;
}

std::string detail_cell(const nlohmann::json& r) {
  auto status = r["raw_status"].get<std::string>();
  std::string detail = r["message"].get<std::string>();
  if (auto newline = detail.find('\n'); newline != std::string::npos) {
    detail.resize(newline);
  }
  if (detail.size() > 120) {
    detail = detail.substr(0, 117) + "...";
  }
  return detail;
}

// Says on stderr how the run went: its id and the checks per status.
void note_counts(const Globals& globals, std::int64_t run_id, const nlohmann::json& counts) {
  note(globals, fmt::format("run #{}: {} checks, {} ok, {} warning, {} critical, {} unknown{}", run_id,
                            counts["checks"].get<int>(), counts["ok"].get<int>(), counts["warning"].get<int>(),
                            counts["critical"].get<int>(), counts["unknown"].get<int>(),
                            counts["muted"].get<int>() > 0 ? fmt::format(", {} muted", counts["muted"].get<int>()) : ""));
}

void render_results(const Globals& globals, report::Format format, const nlohmann::json& doc, bool explain) {
  switch (format) {
  case report::Format::json:
    out(report::render_json(doc));
    return;
  case report::Format::yaml:
    out(report::render_yaml(doc));
    return;
  case report::Format::ndjson:
    out(report::render_ndjson(doc["results"]));
    return;
  case report::Format::junit:
    out(inspect::render_junit(doc));
    return;
  default:
    break;
  }
  report::Table table{{{"RULE"}, {"TARGET"}, {"STATUS"}, {"ELAPSED", report::Align::right}, {"DETAIL"}}, {}};
  for (const auto& r : doc["results"]) {
    table.rows.push_back({r["rule"].get<std::string>(), r["target"].get<std::string>(), status_cell(r),
                          elapsed_text(r["elapsed_ms"].get<double>()), detail_cell(r)});
  }
  if (format == report::Format::markdown) {
    out(report::render_markdown(table));
    return;
  }
  // Colour the status cells after laying out the table, so widths stay right.
  auto text = report::render_text(table);
  if (use_color(globals)) {
    std::string coloured;
    std::size_t line_start = 0;
    std::size_t row = 0;
    while (line_start < text.size()) {
      auto end = text.find('\n', line_start);
      auto line = text.substr(line_start, end - line_start);
      if (row > 0 && row <= doc["results"].size()) {
        const auto& r = doc["results"][row - 1];
        auto status = r["status"].get<std::string>();
        auto pos = line.find(status, r["rule"].get<std::string>().size());
        if (pos != std::string::npos) {
          line = line.substr(0, pos) + paint(globals, status_colour(status), status) + line.substr(pos + status.size());
        }
      }
      coloured += line + "\n";
      line_start = end + 1;
      ++row;
    }
    text = coloured;
  }
  out(text);
  if (explain) {
    for (const auto& r : doc["results"]) {
      out(fmt::format("\n{} on {}: {}\n", r["rule"].get<std::string>(), r["target"].get<std::string>(),
                      r["status"].get<std::string>()));
      for (const auto& f : r["findings"]) {
        std::string values;
        for (const auto& item : f["values"].items()) {
          values += fmt::format("{}{}={}", values.empty() ? "" : ", ", item.key(),
                                item.value().is_string() ? item.value().get<std::string>() : item.value().dump());
        }
        auto verdict = f.contains("error") ? "error" : f["passed"].get<bool>() ? "passed" : "FAILED";
        out(fmt::format("  {:<8} {:<7} {}{}{}\n", f["kind"].get<std::string>(), verdict, f["text"].get<std::string>(),
                        values.empty() ? "" : "  with " + values,
                        f.contains("error") ? "  (" + f["error"].get<std::string>() + ")" : ""));
      }
    }
  }
  note_counts(globals, doc["run"]["id"].get<std::int64_t>(), doc["run"]["counts"]);
}

// Returns the report format: -o when given, else from the file's extension,
// else HTML.
report::Format report_format(const Globals& globals, const std::string& file) {
  if (!globals.format.empty()) {
    return output_format(globals, {report::Format::html, report::Format::markdown, report::Format::json,
                                   report::Format::yaml, report::Format::junit});
  }
  auto ext = std::filesystem::path(file).extension().string();
  if (ext == ".md" || ext == ".markdown") return report::Format::markdown;
  if (ext == ".json") return report::Format::json;
  if (ext == ".yaml" || ext == ".yml") return report::Format::yaml;
  if (ext == ".xml") return report::Format::junit;
  return report::Format::html;
}

std::string render_report(report::Format format, const nlohmann::json& doc, const nlohmann::json& extras) {
  switch (format) {
  case report::Format::markdown:
    return report::render_markdown_report(doc, extras);
  case report::Format::junit:
    return inspect::render_junit(doc);
  case report::Format::json: {
    auto full = doc;
    full["extras"] = extras;
    return report::render_json(full);
  }
  case report::Format::yaml: {
    auto full = doc;
    full["extras"] = extras;
    return report::render_yaml(full);
  }
  default:
    return report::render_html(doc, extras);
  }
}

// Writes text to file atomically (a temporary file renamed over it), so a
// report being served is never half written.
void write_report(const std::string& file, const std::string& text) {
  auto temp = file + ".tmp";
  {
    std::ofstream out_file(temp, std::ios::binary | std::ios::trunc);
    out_file << text;
    out_file.close();
    if (!out_file) {
      throw core::Error(core::ExitCode::io, fmt::format("cannot write the report {}", file), std::strerror(errno));
    }
  }
  std::error_code ec;
  std::filesystem::rename(temp, file, ec);
  if (ec) {
    throw core::Error(core::ExitCode::io, fmt::format("cannot write the report {}", file), ec.message());
  }
}

state::Store open_store(const Globals& globals, const core::Workspace& workspace, const defs::Definitions& definitions) {
  return state::Store::open(state_path(globals, workspace, definitions.config.state));
}

std::map<std::string, std::string> parse_labels(const std::vector<std::string>& items) {
  std::map<std::string, std::string> out;
  for (const auto& item : items) {
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw core::Error(core::ExitCode::usage, fmt::format("invalid --label '{}'", item), {}, "write --label key=value");
    }
    out[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return out;
}

// Puts one digest of the run in the outbox of every notifier that wants it,
// then sends what is due. A robot that is down leaves the digest in the
// outbox for the next run; the inspection's own exit status is unchanged.
void send_digest(const Globals& globals, const defs::Definitions& definitions, state::Store& store,
                 const inspect::RunReport& report, const RunFlags& flags) {
  if (definitions.config.notifiers.empty()) {
    note(globals, "has: --notify: has.yaml declares no notifiers");
    return;
  }
  std::vector<notify::DigestItem> items;
  for (const auto& outcome : report.outcomes) {
    notify::DigestItem item;
    item.rule = outcome.rule;
    item.target = outcome.target;
    item.status = outcome.effective;
    item.transition = outcome.transition == inspect::Transition::failing          ? notify::Change::failing
                      : outcome.transition == inspect::Transition::recovered      ? notify::Change::recovered
                      : outcome.transition == inspect::Transition::changed_severity ? notify::Change::changed_severity
                                                                                  : notify::Change::none;
    item.message = outcome.verdict.message;
    item.muted = outcome.muted_by.has_value();
    items.push_back(std::move(item));
  }
  notify::DigestOptions options;
  options.run_id = report.run_id;
  if (!flags.report.empty()) {
    options.link = flags.report;
  }
  auto message = notify::digest(items, options);
  notify::SystemClock clock;
  std::size_t queued = 0;
  for (const auto& notifier : definitions.config.notifiers) {
    auto mode = flags.notify == "always" ? defs::NotifyMode::always : notifier.mode;
    if (notify::should_send(items, mode) && notify::enqueue(store, notifier.name, message, clock)) {
      ++queued;
    }
  }
  auto delivered = notify::deliver_due(store, definitions.config.notifiers, clock);
  for (const auto& d : delivered.deliveries) {
    if (d.state == notify::DeliveryState::sent) {
      HAS_LOG("notifier {}: message {} sent", d.notifier, d.id);
    } else if (d.state != notify::DeliveryState::deferred) {
      note(globals, fmt::format("has: notifier {}: {}{}", d.notifier, d.error,
                                d.state == notify::DeliveryState::retrying ? " (kept in the outbox, retried later)" : ""));
    }
  }
  note(globals, fmt::format("has: {} digest{} queued, {} sent", queued, queued == 1 ? "" : "s",
                            delivered.count(notify::DeliveryState::sent)));
}

void run(Globals& globals, const RunFlags& flags) {
  auto format = output_format(globals, {report::Format::table, report::Format::json, report::Format::ndjson,
                                        report::Format::yaml, report::Format::markdown, report::Format::junit});
  auto workspace = find_workspace(globals);
  // With --state (or HAS_STATE) the state file is known before the
  // definitions are: it opens (mostly waiting for the disk) while they load.
  std::future<state::Store> opening;
  if (!globals.state.empty()) {
    opening = std::async(std::launch::async, [&globals] { return state::Store::open(globals.state); });
  }
  auto definitions = load_definitions(globals, workspace);
  auto store = opening.valid() ? opening.get() : open_store(globals, workspace, definitions);

  inspect::RunOptions options;
  options.selection.rules = flags.rules;
  options.selection.labels = parse_labels(flags.labels);
  options.selection.targets = flags.targets;
  if (!flags.timeout.empty()) {
    try {
      options.selection.timeout = defs::parse_duration(flags.timeout);
    } catch (const core::Error& e) {
      throw core::Error(core::ExitCode::usage, fmt::format("--timeout: {}", e.what()));
    }
  }
  options.limits.concurrency = static_cast<std::size_t>(flags.concurrency > 0 ? flags.concurrency : definitions.config.concurrency);
  options.limits.per_target = static_cast<std::size_t>(flags.per_target > 0 ? flags.per_target : definitions.config.per_target);
  options.limits.workers = std::min<std::size_t>(options.limits.concurrency, 16);
  options.explain = flags.explain;
  bool progress = isatty(STDERR_FILENO) && !globals.quiet;
  if (progress) {
    options.progress = [](std::size_t done, std::size_t total) {
      constexpr int width = 30;
      int filled = total == 0 || done >= total ? width : static_cast<int>(width * done / total);
      std::cerr << fmt::format("\r[{}{}] {}/{}", std::string(filled, '#'), std::string(width - filled, ' '), done, total)
                << std::flush;
    };
  }
  // The JSON of the run is written while its results are being stored.
  std::string json_text;
  if (format == report::Format::json) {
    options.on_outcomes = [&json_text](const inspect::RunReport& final) { json_text = inspect::render_json(final, true); };
  }
  auto report = inspect::run(definitions, store, options);
  if (progress) {
    std::cerr << "\r\033[K" << std::flush;
  }
  // Closing the state file checkpoints its log to disk; unless a report or a
  // digest still needs it, that happens while the results are written out.
  std::jthread closing;
  if (flags.report.empty() && flags.notify.empty()) {
    closing = std::jthread([closed = std::move(store)]() mutable { auto last = std::move(closed); });
  }
  if (format == report::Format::json) {
    // The common machine format is written straight from the report: a run
    // of thousands of checks need not be copied into a document first.
    out(json_text);
    note_counts(globals, report.run_id, inspect::counts(report));
  } else {
    render_results(globals, format, inspect::to_document(report, flags.values || format != report::Format::table),
                   flags.explain);
  }
  if (!flags.report.empty()) {
    auto with_values = inspect::to_document(report, true);
    write_report(flags.report, render_report(report_format(Globals{}, flags.report), with_values,
                                             inspect::report_extras(store, with_values, 10)));
    note(globals, fmt::format("report written to {}", flags.report));
  }
  if (!flags.notify.empty()) {
    send_digest(globals, definitions, store, report, flags);
  }
  globals.exit_code = static_cast<int>(report.worst);
  // The definitions and the report of thousands of checks take a while to
  // free: that happens while the state file closes.
  std::jthread freeing([done = std::make_pair(std::move(definitions), std::move(report))]() mutable {
    auto last = std::move(done);
  });
}

void list(const Globals& globals) {
  auto format = output_format(globals, {report::Format::table, report::Format::json, report::Format::yaml,
                                        report::Format::markdown, report::Format::ndjson});
  auto workspace = find_workspace(globals);
  auto definitions = load_definitions(globals, workspace);
  auto store = open_store(globals, workspace, definitions);
  state::InspectRepository repository(store);
  auto states = repository.states();
  auto rows = nlohmann::json::array();
  for (const auto& rule : definitions.rules) {
    if (rule.is_template()) {
      continue;
    }
    if (rule.header.origin == defs::Origin::builtin) {
      continue;
    }
    nlohmann::json targets = nlohmann::json::object();
    for (const auto& [key, st] : states) {
      if (key.first == rule.header.name) {
        targets[key.second] = {{"status", st.effective}, {"flapping", st.flapping}, {"since", st.changed_at},
                               {"message", st.last_message.value_or("")}};
      }
    }
    const auto* probe = rule.probe ? &*rule.probe : nullptr;
    const defs::Rule* base = rule.use ? definitions.find_rule(*rule.use) : nullptr;
    if (!probe && base && base->probe) {
      probe = &*base->probe;
    }
    // A rule that uses a template shows what it runs with: the template's
    // severity and description unless it has its own.
    auto severity = rule.severity_given || !base ? rule.severity : base->severity;
    auto description = !rule.header.description.empty() || !base ? rule.header.description : base->header.description;
    rows.push_back({{"rule", rule.header.name},
                    {"description", description},
                    {"probe", probe ? probe->kind : ""},
                    {"use", rule.use.value_or("")},
                    {"severity", severity == defs::RuleSeverity::warning ? "warning" : "critical"},
                    {"file", rule.header.where.str()},
                    {"targets", targets}});
  }
  if (format == report::Format::json || format == report::Format::yaml) {
    nlohmann::json doc = {{"rules", rows}};
    out(format == report::Format::json ? report::render_json(doc) : report::render_yaml(doc));
    return;
  }
  if (format == report::Format::ndjson) {
    out(report::render_ndjson(rows));
    return;
  }
  report::Table table{{{"RULE"}, {"PROBE"}, {"SEVERITY"}, {"LAST"}, {"DESCRIPTION"}}, {}};
  for (const auto& row : rows) {
    std::string last;
    for (const auto& item : row["targets"].items()) {
      last += fmt::format("{}{}:{}", last.empty() ? "" : " ", item.key(), item.value()["status"].get<std::string>());
    }
    table.rows.push_back({row["rule"].get<std::string>(), row["probe"].get<std::string>(),
                          row["severity"].get<std::string>(), last.empty() ? "never run" : last,
                          row["description"].get<std::string>()});
  }
  out(format == report::Format::markdown ? report::render_markdown(table) : report::render_text(table));
}

void history(const Globals& globals, const HistoryFlags& flags) {
  auto format = output_format(globals, {report::Format::table, report::Format::json, report::Format::yaml,
                                        report::Format::markdown, report::Format::ndjson});
  auto workspace = find_workspace(globals);
  auto definitions = load_definitions(globals, workspace);
  auto store = open_store(globals, workspace, definitions);
  std::optional<std::string> since;
  if (!flags.since.empty()) {
    try {
      auto ago = defs::parse_duration(flags.since);
      since = state::format_iso8601(std::chrono::system_clock::now() - ago);
    } catch (const core::Error&) {
      since = flags.since; // an ISO-8601 time
    }
  }
  state::InspectRepository repository(store);
  auto rows = repository.history(flags.rule.empty() ? std::nullopt : std::optional(flags.rule), since, flags.limit);
  auto list_json = nlohmann::json::array();
  for (const auto& r : rows) {
    list_json.push_back({{"run_id", r.run_id}, {"at", r.at}, {"rule", r.rule}, {"target", r.target},
                         {"status", r.status}, {"raw_status", r.raw_status}, {"flapping", r.flapping},
                         {"message", r.message}, {"elapsed_ms", r.elapsed_ms}, {"attempts", r.attempts}});
  }
  if (format == report::Format::json || format == report::Format::yaml) {
    nlohmann::json doc = {{"results", list_json}};
    out(format == report::Format::json ? report::render_json(doc) : report::render_yaml(doc));
    return;
  }
  if (format == report::Format::ndjson) {
    out(report::render_ndjson(list_json));
    return;
  }
  report::Table table{{{"AT"}, {"RUN", report::Align::right}, {"RULE"}, {"TARGET"}, {"STATUS"}, {"ELAPSED", report::Align::right}, {"DETAIL"}}, {}};
  for (const auto& r : list_json) {
    table.rows.push_back({r["at"].get<std::string>(), std::to_string(r["run_id"].get<std::int64_t>()),
                          r["rule"].get<std::string>(), r["target"].get<std::string>(), status_cell(r),
                          elapsed_text(r["elapsed_ms"].get<double>()), detail_cell(r)});
  }
  out(format == report::Format::markdown ? report::render_markdown(table) : report::render_text(table));
}

// Returns the run with this id, or the latest inspection run for 0; throws
// when there is none.
state::Run find_run(state::Store& store, std::int64_t run_id) {
  state::RunRepository runs(store);
  std::optional<state::Run> run;
  if (run_id > 0) {
    run = runs.get(run_id);
  } else {
    auto latest = runs.list(std::string("inspect"), 1);
    if (!latest.empty()) {
      run = latest.front();
    }
  }
  if (!run || run->command != "inspect") {
    throw core::Error(core::ExitCode::failure,
                      run_id > 0 ? fmt::format("no inspection run #{}", run_id) : "no inspection has run yet",
                      {}, "run 'has inspect history' to see recent runs");
  }
  return *run;
}

void report_cmd(const Globals& globals, const ReportFlags& flags) {
  auto format = report_format(globals, flags.out);
  auto workspace = find_workspace(globals);
  auto definitions = load_definitions(globals, workspace);
  auto store = open_store(globals, workspace, definitions);
  auto run = find_run(store, flags.run);
  state::InspectRepository repository(store);
  auto doc = inspect::to_document(run, repository.results_of_run(run.id), true);
  auto text = render_report(format, doc, inspect::report_extras(store, doc, flags.trend));
  if (flags.out.empty() || flags.out == "-") {
    out(text);
    return;
  }
  write_report(flags.out, text);
  note(globals, fmt::format("report of run #{} written to {}", run.id, flags.out));
}

void show(Globals& globals, std::int64_t run_id) {
  auto format = output_format(globals, {report::Format::table, report::Format::json, report::Format::ndjson,
                                        report::Format::yaml, report::Format::markdown, report::Format::junit});
  auto workspace = find_workspace(globals);
  auto definitions = load_definitions(globals, workspace);
  auto store = open_store(globals, workspace, definitions);
  auto run = std::optional(find_run(store, run_id));
  state::InspectRepository repository(store);
  auto doc = inspect::to_document(*run, repository.results_of_run(run->id), true);
  if (format == report::Format::table) {
    out(fmt::format("run #{} at {} on {} by {} ({}{})\n\n", run->id, run->started_at, run->host.value_or("?"),
                    run->user.value_or("?"), run->git_commit ? run->git_commit->substr(0, 12) : "no git",
                    run->git_dirty.value_or(false) ? ", dirty" : ""));
  }
  render_results(globals, format, doc, format == report::Format::table);
  if (auto status = probe::parse_status(run->status)) {
    globals.exit_code = static_cast<int>(*status);
  }
}

} // namespace

void register_inspect(CLI::App& command, Globals& globals) {
  static RunFlags run_flags;
  static HistoryFlags history_flags;
  command.description("Routine inspections: run rules (a probe, expectations and thresholds) over their "
                      "targets, record every result, and raise or resolve risk events. Exit status of "
                      "'run' is the worst status: 0 ok, 1 warning, 2 critical, 3 unknown.");
  command.require_subcommand(1);

  auto* run_cmd = command.add_subcommand("run", "run rules now (all, or those named)");
  run_cmd->add_option("RULE", run_flags.rules, "rules to run (default: every rule of the workspace)");
  run_cmd->add_option("--label,-l", run_flags.labels, "only rules with this label (key=value; repeatable)")
    ->type_name("K=V");
  run_cmd->add_option("--target,-t", run_flags.targets, "only this target (repeatable)")->type_name("NAME");
  run_cmd->add_option("--concurrency,-j", run_flags.concurrency, "checks at once (default: has.yaml, 64)")
    ->check(CLI::Range(1, 100000));
  run_cmd->add_option("--per-target", run_flags.per_target, "HTTP checks at once per host (default: 8)")
    ->check(CLI::Range(1, 100000));
  run_cmd->add_option("--timeout", run_flags.timeout, "timeout of every check, e.g. 5s")->type_name("DURATION");
  run_cmd->add_flag("--explain", run_flags.explain, "show each expectation and threshold with its values");
  run_cmd->add_flag("--values", run_flags.values, "include the probes' values in table output (machine formats always have them)");
  run_cmd->add_flag("--notify{changes}", run_flags.notify,
                    "send one digest of the run to the notifiers of has.yaml: only when something changed "
                    "(default), or --notify=always")
    ->check(CLI::IsMember({"changes", "always"}));
  run_cmd->add_option("--report", run_flags.report,
                      "also write a report of the run to FILE (.html, .md, .json or .xml for JUnit)")
    ->type_name("FILE");
  run_cmd->callback([&globals] { run(globals, run_flags); });

  command.add_subcommand("list", "the rules, with their last status per target")->callback([&globals] { list(globals); });

  auto* history_cmd = command.add_subcommand("history", "recent results, newest first");
  history_cmd->add_option("RULE", history_flags.rule, "only this rule");
  history_cmd->add_option("--since", history_flags.since, "only results newer than this (1h, 2d, or an ISO time)")
    ->type_name("WHEN");
  history_cmd->add_option("--limit,-n", history_flags.limit, "at most this many results (default 50)");
  history_cmd->callback([&globals] { history(globals, history_flags); });

  static ReportFlags report_flags;
  auto* report_sub = command.add_subcommand(
    "report", "an archivable report of a run (default: the latest): HTML, Markdown, JSON or JUnit, with the "
              "changes since the previous run and the trend of each rule");
  report_sub->add_option("RUN", report_flags.run, "the run id");
  report_sub->add_option("--out", report_flags.out, "write to FILE (format from -o, else its extension, else HTML)")
    ->type_name("FILE");
  report_sub->add_option("--trend", report_flags.trend, "results per rule in the trend (default 10)");
  report_sub->callback([&globals] { report_cmd(globals, report_flags); });

  auto* show_cmd = command.add_subcommand("show", "one run in full (default: the latest)");
  show_cmd->add_option("RUN", g_show_run, "the run id");
  show_cmd->callback([&globals] { show(globals, g_show_run); });
}

} // namespace has::cmd
