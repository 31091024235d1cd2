#include "cli.hpp"

#include <has/action/action.hpp>
#include <has/core/error.hpp>
#include <has/core/interrupt.hpp>
#include <has/defs/plan.hpp>
#include <has/plan/engine.hpp>
#include <has/plan/journal.hpp>
#include <has/plan/params.hpp>
#include <has/protect/protect.hpp>
#include <has/state/clock.hpp>
#include <has/state/inspect.hpp>
#include <has/state/plan.hpp>
#include <has/state/runs.hpp>
#include <has/state/store.hpp>

#include <fmt/format.h>

#include <iostream>
#include <unistd.h>

namespace has::cmd {

namespace {

struct RunFlags {
  std::string name;
  std::vector<std::string> params;
  bool dry_run = false;
  bool yes = false;
  bool explain = false;
  std::int64_t event = 0;
  std::vector<std::string> overrides;
  std::string reason;
};

struct ResumeFlags {
  std::int64_t run = 0;
  std::vector<std::string> params;
  std::vector<std::string> rerun;
  std::vector<std::string> skip;
  bool yes = false;
  bool all = false;
  std::string plan;
};

struct RunIdFlags {
  std::int64_t run = 0;
  std::string step;
  std::vector<std::string> params;
  bool yes = false;
};

std::filesystem::path state_file(const Globals& globals, const core::Workspace& workspace,
                                  const defs::Definitions& definitions) {
  return state_path(globals, workspace, definitions.config.state);
}

const defs::Plan& find_plan(const defs::Definitions& definitions, const std::string& name) {
  if (const auto* plan = definitions.find_plan(name)) {
    return *plan;
  }
  std::vector<std::string> names;
  for (const auto& plan : definitions.plans) {
    names.push_back(plan.header.name);
  }
  throw core::Error(core::ExitCode::usage,
                    fmt::format("no plan named '{}'{}", name, defs::did_you_mean(name, names)),
                    {}, names.empty() ? "the workspace has no plans" : "list them with `has plan list`");
}

std::vector<std::pair<std::string, std::string>> split_params(const std::vector<std::string>& items) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& item : items) {
    out.push_back(plan::split_assignment(item));
  }
  return out;
}

bool interactive() { return isatty(STDIN_FILENO) && isatty(STDERR_FILENO); }

// Reads a yes/no (or later) answer from the terminal.
plan::Answer prompt(const Globals& globals, const std::string& question, bool allow_later) {
  std::cerr << paint(globals, "bold", question) << (allow_later ? " [y/N/l=later] " : " [y/N] ") << std::flush;
  std::string line;
  if (!std::getline(std::cin, line)) {
    return allow_later ? plan::Answer::later : plan::Answer::reject;
  }
  if (line == "y" || line == "Y" || line == "yes") {
    return plan::Answer::approve;
  }
  if (allow_later && (line == "l" || line == "later")) {
    return plan::Answer::later;
  }
  return plan::Answer::reject;
}

std::string state_colour(std::string_view state) {
  if (state == "succeeded" || state == "rolled_back") {
    return "green";
  }
  if (state == "skipped" || state == "waiting" || state == "interrupted" || state == "aborted" ||
      state == "refused") {
    return "yellow";
  }
  return "red";
}

std::string elapsed_text(double ms) {
  return ms < 1000 ? fmt::format("{:.0f} ms", ms) : fmt::format("{:.1f} s", ms / 1000);
}

// Prints progress to stderr as the run goes.
std::function<void(const plan::Event&)> progress_printer(const Globals& globals) {
  if (globals.quiet) {
    return {};
  }
  return [&globals](const plan::Event& event) {
    std::string indent(static_cast<std::size_t>(event.depth) * 2, ' ');
    using Type = plan::Event::Type;
    std::string line;
    switch (event.type) {
    case Type::started:
      line = fmt::format("{}{} {} {}", indent, paint(globals, "dim", "▶"), paint(globals, "bold", event.step),
                         event.detail);
      break;
    case Type::retrying:
      line = fmt::format("{}  {} {} attempt {} ({})", indent, paint(globals, "yellow", "↻"), event.step,
                         event.attempt, event.message);
      break;
    case Type::finished:
      line = fmt::format("{}{} {} {}{}", indent,
                         paint(globals, state_colour(event.state), event.state == "succeeded" ? "✔" : "✘"),
                         event.step, paint(globals, state_colour(event.state), event.state),
                         fmt::format(" in {}{}", elapsed_text(event.elapsed_ms),
                                     event.message.empty() ? "" : ": " + event.message));
      break;
    case Type::skipped:
      line = fmt::format("{}{} {} skipped: {}", indent, paint(globals, "yellow", "-"), event.step, event.message);
      break;
    case Type::waiting:
      line = fmt::format("{}{} {} waiting: {}", indent, paint(globals, "yellow", "⏸"), event.step, event.message);
      break;
    case Type::undo_started:
      line = fmt::format("{}{} undo {} {}", indent, paint(globals, "dim", "◀"), paint(globals, "bold", event.step),
                         event.detail);
      break;
    case Type::undo_finished:
      line = fmt::format("{}{} undo {} {}{}", indent,
                         paint(globals, state_colour(event.state), event.state == "succeeded" ? "✔" : "✘"),
                         event.step, paint(globals, state_colour(event.state), event.state),
                         event.message.empty() ? "" : ": " + event.message);
      break;
    case Type::note:
      line = indent + event.message;
      break;
    }
    std::cerr << line << '\n';
  };
}

plan::Options make_options(const Globals& globals, bool yes) {
  plan::Options options;
  options.yes = yes;
  options.on_event = progress_printer(globals);
  // From cron, CI or a pipe nobody answers: a gate must not hold the lock.
  options.no_input = !yes && (globals.no_input || !isatty(STDIN_FILENO));
  if (!yes && !options.no_input && interactive()) {
    options.ask = [&globals](const std::string& step, const std::string& message) {
      return prompt(globals, fmt::format("{} — approve step {}?", message, step), true);
    };
  }
  return options;
}

nlohmann::json step_json(const state::StepRecord& row) {
  nlohmann::json outputs = nullptr;
  if (row.outputs) {
    outputs = nlohmann::json::parse(*row.outputs, nullptr, false);
    if (outputs.is_discarded()) {
      outputs = nullptr;
    }
  }
  return {{"step", row.step},
          {"phase", row.phase},
          {"kind", row.kind},
          {"state", row.state},
          {"attempts", row.attempts},
          {"started_at", row.started_at ? nlohmann::json(*row.started_at) : nullptr},
          {"finished_at", row.finished_at ? nlohmann::json(*row.finished_at) : nullptr},
          {"exit_code", row.exit_code ? nlohmann::json(*row.exit_code) : nullptr},
          {"detail", row.detail.value_or("")},
          {"message", row.message.value_or("")},
          {"idempotent", row.idempotent},
          {"outputs", outputs}};
}

nlohmann::json report_json(const plan::Report& report, bool with_outputs) {
  auto steps = nlohmann::json::array();
  for (const auto& row : report.journal) {
    auto item = step_json(row);
    if (!with_outputs) {
      item.erase("outputs");
    }
    steps.push_back(std::move(item));
  }
  return {{"run_id", report.run_id},     {"plan", report.plan},       {"state", report.state},
          {"reason", report.reason},     {"params", report.params},   {"steps", steps},
          {"left_undone", report.left_undone}, {"undoable", report.undoable}};
}

void render_notes(const Globals& globals, const plan::Report& report) {
  note(globals, fmt::format("run {} of plan '{}': {}{}", report.run_id, report.plan,
                            paint(globals, state_colour(report.state), report.state),
                            report.reason.empty() ? "" : " — " + report.reason));
  if (!report.left_undone.empty()) {
    note(globals, fmt::format("left undone: {}", fmt::join(report.left_undone, ", ")));
  }
  if (report.state == "waiting") {
    for (const auto& step : report.waiting) {
      note(globals, fmt::format("to continue: has plan approve {} {}", report.run_id, step));
    }
  }
  // Steps cut short whose outcome nobody knows: the operator decides.
  for (const auto& row : report.journal) {
    if (row.phase == "do" && row.state == plan::k_unknown) {
      note(globals, fmt::format("step {} was cut short and is not idempotent: check it, then `has plan resume {} "
                                "--retry {}` to run it again or `--skip {}` if it took effect",
                                row.step, report.run_id, row.step, row.step));
    }
  }
}

void render_report(const Globals& globals, report::Format format, const plan::Report& report, bool log) {
  render_notes(globals, report);
  if (format == report::Format::json || format == report::Format::yaml) {
    auto doc = report_json(report, log);
    out(format == report::Format::json ? report::render_json(doc) : report::render_yaml(doc));
    return;
  }
  if (format == report::Format::ndjson) {
    auto rows = nlohmann::json::array();
    for (const auto& row : report.journal) {
      auto item = step_json(row);
      item["run_id"] = report.run_id;
      rows.push_back(std::move(item));
    }
    out(report::render_ndjson(rows));
    return;
  }
  report::Table table{{{"STEP"}, {"PHASE"}, {"KIND"}, {"STATE"}, {"TRIES", report::Align::right}, {"MESSAGE"}}, {}};
  for (const auto& row : report.journal) {
    table.rows.push_back({row.step, row.phase, row.kind, paint(globals, state_colour(row.state), row.state),
                          std::to_string(row.attempts), row.message.value_or("")});
  }
  std::string text = format == report::Format::markdown ? report::render_markdown(table) : report::render_text(table);
  if (log && format == report::Format::table) {
    for (const auto& row : report.journal) {
      text += fmt::format("\n{} ({}, {}): {}\n", paint(globals, "bold", row.step), row.phase, row.state,
                          row.detail.value_or(""));
      text += fmt::format("  started {}  finished {}  exit {}\n", row.started_at.value_or("-"),
                          row.finished_at.value_or("-"), row.exit_code ? std::to_string(*row.exit_code) : "-");
      if (row.outputs) {
        auto outputs = nlohmann::json::parse(*row.outputs, nullptr, false);
        for (auto stream : {"stdout", "stderr"}) {
          if (outputs.is_object() && outputs.contains(stream) && outputs[stream].is_string() &&
              !outputs[stream].get<std::string>().empty()) {
            text += fmt::format("  {}:\n", stream);
            auto body = outputs[stream].get<std::string>();
            std::size_t start = 0;
            while (start < body.size()) {
              auto end = body.find('\n', start);
              text += "    " + body.substr(start, end == std::string::npos ? std::string::npos : end - start) + "\n";
              if (end == std::string::npos) {
                break;
              }
              start = end + 1;
            }
          }
        }
      }
    }
  }
  out(text);
}

// After a run ends: offers the rollback of an interrupted run on a terminal,
// else says how to do it.
void after_run(Globals& globals, const defs::Definitions& definitions, const std::filesystem::path& file,
               plan::Report report, bool yes) {
  auto format = output_format(globals, {report::Format::table, report::Format::json, report::Format::yaml,
                                        report::Format::ndjson, report::Format::markdown});
  if (report.state == "interrupted" && !report.undoable.empty() && interactive() && !yes) {
    core::clear_interrupt();
    auto answer = prompt(globals, fmt::format("run {} stopped; roll back {} completed step{} ({})?", report.run_id,
                                              report.undoable.size(), report.undoable.size() == 1 ? "" : "s",
                                              fmt::join(report.undoable, ", ")),
                         false);
    if (answer == plan::Answer::approve) {
      report = plan::rollback(definitions, file, report.run_id, nlohmann::json::object(), make_options(globals, yes));
    }
  }
  render_report(globals, format, report, false);
  if (!report.undoable.empty() && report.state != "succeeded") {
    note(globals, fmt::format("to undo {}: has plan rollback {}; to continue: has plan resume {}",
                              fmt::join(report.undoable, ", "), report.run_id, report.run_id));
  }
  globals.exit_code = report.exit_code();
}

void print_dry(const Globals& globals, const std::vector<plan::DryStep>& steps, int depth, std::string& text) {
  std::string indent(static_cast<std::size_t>(depth) * 4, ' ');
  for (const auto& step : steps) {
    text += fmt::format("{}{} ({}){}\n", indent, paint(globals, "bold", step.id), step.kind,
                        step.needs.empty() ? "" : fmt::format(" after {}", fmt::join(step.needs, ", ")));
    if (!step.when.empty()) {
      text += fmt::format("{}  when: {}\n", indent, step.when);
    }
    if (!step.for_each.empty()) {
      text += fmt::format("{}  for each: {}\n", indent, step.for_each);
    }
    for (const auto& line : step.detail) {
      text += fmt::format("{}  run:  {}\n", indent, line);
    }
    for (const auto& line : step.rollback) {
      text += fmt::format("{}  undo: {}\n", indent, line);
    }
    print_dry(globals, step.called, depth + 1, text);
  }
}

nlohmann::json dry_json(const std::vector<plan::DryStep>& steps) {
  auto list = nlohmann::json::array();
  for (const auto& step : steps) {
    list.push_back({{"id", step.id},
                    {"kind", step.kind},
                    {"needs", step.needs},
                    {"when", step.when},
                    {"for_each", step.for_each},
                    {"run", step.detail},
                    {"rollback", step.rollback},
                    {"called", dry_json(step.called)}});
  }
  return list;
}

void run(Globals& globals, const RunFlags& flags) {
  auto workspace = find_workspace(globals);
  auto definitions = load_definitions(globals, workspace);
  const auto& plan = find_plan(definitions, flags.name);
  auto params = plan::params_from_text(plan, split_params(flags.params));
  if (!flags.overrides.empty() && flags.reason.empty()) {
    throw core::Error(core::ExitCode::usage, "--override needs --reason", {},
                      "say why the protection rule may be broken: --reason \"...\" (it is journaled)");
  }
  if (flags.dry_run) {
    auto format = output_format(globals, {report::Format::table, report::Format::json, report::Format::yaml});
    auto steps = plan::dry_run(definitions, plan, params);
    if (format != report::Format::table) {
      nlohmann::json doc{{"plan", plan.header.name},
                         {"params", plan::redacted_params(plan, params)},
                         {"lock", plan::lock_key(plan, params)},
                         {"steps", dry_json(steps)}};
      out(format == report::Format::json ? report::render_json(doc) : report::render_yaml(doc));
      return;
    }
    std::string text = fmt::format("plan {} (dry run: nothing is run or changed)\n", plan.header.name);
    print_dry(globals, steps, 0, text);
    out(text);
    return;
  }
  auto file = state_file(globals, workspace, definitions);
  if (flags.explain) {
    auto format = output_format(globals, {report::Format::table, report::Format::json});
    plan::Options options;
    options.overrides = flags.overrides;
    auto why = plan::explain(definitions, file, plan, params, options);
    auto blocks = [](const std::vector<protect::Block>& list) {
      auto out = nlohmann::json::array();
      for (const auto& block : list) {
        out.push_back({{"rule", block.rule},
                       {"reason", block.reason},
                       {"allowed_at", block.allowed_at ? nlohmann::json(state::format_iso8601(*block.allowed_at))
                                                       : nlohmann::json(nullptr)}});
      }
      return out;
    };
    nlohmann::json doc{{"plan", plan.header.name}, {"allowed", why.allowed()},   {"lock", why.lock},
                       {"lock_holder", nullptr},   {"targets", why.targets},     {"blocks", blocks(why.blocks)},
                       {"overridden", blocks(why.overridden)}};
    if (why.holder) {
      doc["lock_holder"] = {{"run_id", why.holder->run_id}, {"pid", why.holder->pid}, {"host", why.holder->host},
                            {"since", why.holder->acquired_at}};
    }
    if (format == report::Format::json) {
      out(report::render_json(doc));
    } else {
      std::string text = fmt::format("plan {}: {}\n", plan.header.name,
                                     why.allowed() ? paint(globals, "green", "would run now")
                                                   : paint(globals, "red", "would be refused"));
      text += fmt::format("  lock {}: {}\n", why.lock,
                          why.holder ? fmt::format("held by run {} (pid {} on {})", why.holder->run_id, why.holder->pid,
                                                   why.holder->host)
                                     : std::string("free"));
      text += fmt::format("  targets: {}\n", why.targets);
      for (const auto& item : doc["blocks"]) {
        text += fmt::format("  blocked by {}: {}{}\n", item["rule"].get<std::string>(), item["reason"].get<std::string>(),
                            item["allowed_at"].is_null() ? " (needs a person)"
                                                         : " (allowed from " + item["allowed_at"].get<std::string>() + ")");
      }
      for (const auto& item : doc["overridden"]) {
        text += fmt::format("  overridden {}: {}\n", item["rule"].get<std::string>(), item["reason"].get<std::string>());
      }
      out(text);
    }
    globals.exit_code = why.allowed() ? 0 : core::to_int(core::ExitCode::tempfail);
    return;
  }
  static const std::vector<std::string> rules{"paused", "breaker", "freeze", "window", "rate", "cooldown",
                                              "concurrency", "blast_radius"};
  for (const auto& rule : flags.overrides) {
    if (std::find(rules.begin(), rules.end(), rule) == rules.end()) {
      throw core::Error(core::ExitCode::usage, fmt::format("no protection rule '{}'", rule), {},
                        fmt::format("rules: {}", fmt::join(rules, ", ")));
    }
  }
  auto options = make_options(globals, flags.yes);
  if (flags.event > 0) {
    auto store = state::Store::open(file);
    if (!state::EventRepository(store).get(flags.event)) {
      throw state::unknown_event(flags.event);
    }
    options.event_id = flags.event;
  }
  options.overrides = flags.overrides;
  options.override_reason = flags.reason;
  core::set_cooperative_interrupt(true);
  auto report = plan::run(definitions, file, plan, params, options);
  after_run(globals, definitions, file, std::move(report), flags.yes);
}

nlohmann::json secrets_from(const defs::Definitions& definitions, const std::filesystem::path& file, std::int64_t run_id,
                            const std::vector<std::string>& items) {
  auto given = nlohmann::json::object();
  if (items.empty()) {
    return given;
  }
  auto report = plan::report_of(file, run_id);
  const auto* plan = definitions.find_plan(report.plan);
  for (const auto& [name, value] : split_params(items)) {
    const auto* param = plan ? plan->find_param(name) : nullptr;
    if (param == nullptr) {
      throw core::Error(core::ExitCode::usage, fmt::format("plan '{}' has no parameter '{}'", report.plan, name));
    }
    given[name] = value;
  }
  return given;
}

struct PauseFlags {
  bool all = false;
  std::string plan;
  std::string reason;
};

void pause(Globals& globals, const PauseFlags& flags) {
  auto workspace = find_workspace(globals);
  auto definitions = load_definitions(globals, workspace);
  if (flags.all == !flags.plan.empty()) {
    throw core::Error(core::ExitCode::usage, "pause what? give --all or a plan");
  }
  if (!flags.all) {
    find_plan(definitions, flags.plan);
  }
  auto store = state::Store::open(state_file(globals, workspace, definitions));
  const char* user = getenv("USER");
  protect::pause(store, flags.all ? std::nullopt : std::optional("plan:" + flags.plan),
                 flags.reason.empty() ? "paused by an operator" : flags.reason,
                 user ? std::optional<std::string>(user) : std::nullopt);
  note(globals, flags.all ? "every plan run is paused: has plan resume --all lifts it"
                          : fmt::format("plan '{}' is paused: has plan resume --plan {} lifts it", flags.plan, flags.plan));
}

void reset(Globals& globals, const std::string& name) {
  auto workspace = find_workspace(globals);
  auto definitions = load_definitions(globals, workspace);
  find_plan(definitions, name);
  auto store = state::Store::open(state_file(globals, workspace, definitions));
  protect::reset_breaker(store, "plan:" + name);
  note(globals, fmt::format("the circuit breaker of plan '{}' is closed", name));
}

void protection(Globals& globals) {
  auto format = output_format(globals, {report::Format::table, report::Format::json, report::Format::yaml});
  auto workspace = find_workspace(globals);
  auto definitions = load_definitions(globals, workspace);
  auto store = state::Store::open(state_file(globals, workspace, definitions));
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  auto list = nlohmann::json::array();
  for (const auto& scope : protect::states(store, std::chrono::system_clock::now(), host)) {
    auto time = [](const std::optional<protect::Clock::time_point>& t) {
      return t ? nlohmann::json(state::format_iso8601(*t)) : nlohmann::json(nullptr);
    };
    list.push_back({{"scope", scope.scope},
                    {"starts_in_window", scope.starts_in_window},
                    {"window_ms", scope.window.count()},
                    {"running", scope.running},
                    {"last_start", time(scope.last_start)},
                    {"last_finish", time(scope.last_finish)},
                    {"consecutive_failures", scope.consecutive_failures},
                    {"breaker_open", scope.breaker_open},
                    {"paused", scope.paused ? nlohmann::json(scope.paused->reason) : nlohmann::json(nullptr)}});
  }
  auto paused = nlohmann::json::array();
  for (const auto& item : protect::pauses(store)) {
    paused.push_back({{"scope", item.scope ? nlohmann::json(*item.scope) : nlohmann::json("all")},
                      {"reason", item.reason},
                      {"by", item.by ? nlohmann::json(*item.by) : nlohmann::json(nullptr)},
                      {"at", state::format_iso8601(item.at)}});
  }
  if (format != report::Format::table) {
    nlohmann::json doc{{"scopes", list}, {"pauses", paused}};
    out(format == report::Format::json ? report::render_json(doc) : report::render_yaml(doc));
    return;
  }
  report::Table table{{{"SCOPE"}, {"RUNNING", report::Align::right}, {"IN WINDOW", report::Align::right},
                       {"FAILURES", report::Align::right}, {"BREAKER"}, {"LAST FINISH"}},
                      {}};
  for (const auto& row : list) {
    table.rows.push_back({row["scope"].get<std::string>(), std::to_string(row["running"].size()),
                          std::to_string(row["starts_in_window"].get<int>()),
                          std::to_string(row["consecutive_failures"].get<int>()),
                          row["breaker_open"].get<bool>() ? paint(globals, "red", "open") : "closed",
                          row["last_finish"].is_null() ? "-" : row["last_finish"].get<std::string>()});
  }
  std::string text = report::render_text(table);
  for (const auto& item : paused) {
    text += fmt::format("paused: {} — {}\n", item["scope"].get<std::string>(), item["reason"].get<std::string>());
  }
  out(text);
}

void resume(Globals& globals, const ResumeFlags& flags) {
  auto workspace = find_workspace(globals);
  auto definitions = load_definitions(globals, workspace);
  auto file = state_file(globals, workspace, definitions);
  if (flags.all || !flags.plan.empty()) {
    auto store = state::Store::open(file);
    protect::resume(store, flags.all ? std::nullopt : std::optional("plan:" + flags.plan));
    note(globals, flags.all ? "plan runs are no longer paused" : fmt::format("plan '{}' is no longer paused", flags.plan));
    return;
  }
  if (flags.run <= 0) {
    throw core::Error(core::ExitCode::usage, "which run? give its id", {}, "see `has plan history`");
  }
  auto options = make_options(globals, flags.yes);
  options.retry_steps = flags.rerun;
  options.skip_steps = flags.skip;
  core::set_cooperative_interrupt(true);
  auto report = plan::resume(definitions, file, flags.run, secrets_from(definitions, file, flags.run, flags.params),
                             options);
  after_run(globals, definitions, file, std::move(report), flags.yes);
}

void rollback(Globals& globals, const RunIdFlags& flags) {
  auto workspace = find_workspace(globals);
  auto definitions = load_definitions(globals, workspace);
  auto file = state_file(globals, workspace, definitions);
  core::set_cooperative_interrupt(true);
  auto report = plan::rollback(definitions, file, flags.run, secrets_from(definitions, file, flags.run, flags.params),
                               make_options(globals, flags.yes));
  auto format = output_format(globals, {report::Format::table, report::Format::json, report::Format::yaml,
                                        report::Format::ndjson, report::Format::markdown});
  render_report(globals, format, report, false);
  globals.exit_code = report.state == "rolled_back" ? 0 : 1;
}

void approve(Globals& globals, const RunIdFlags& flags) {
  auto workspace = find_workspace(globals);
  auto definitions = load_definitions(globals, workspace);
  auto file = state_file(globals, workspace, definitions);
  const char* user = getenv("USER");
  auto options = make_options(globals, flags.yes);
  core::set_cooperative_interrupt(true);
  std::optional<plan::Report> report;
  auto how = plan::approve(definitions, file, flags.run, flags.step, user ? user : "",
                           secrets_from(definitions, file, flags.run, flags.params), options, report);
  note(globals, fmt::format("approved step {} of run {}", flags.step, flags.run));
  if (how == plan::Approval::continued && report) {
    // Its process had ended (waiting without input, or gone): it goes on here.
    after_run(globals, definitions, file, std::move(*report), flags.yes);
  }
}

void abort_run(Globals& globals, std::int64_t run_id) {
  auto workspace = find_workspace(globals);
  auto definitions = load_definitions(globals, workspace);
  bool alive = plan::abort(state_file(globals, workspace, definitions), run_id);
  note(globals, alive ? fmt::format("asked run {} to stop; it kills what is running and ends as aborted", run_id)
                      : fmt::format("run {} had no live process: marked aborted and its lock released", run_id));
}

void status(Globals& globals, std::int64_t run_id, bool log) {
  auto format = output_format(globals, {report::Format::table, report::Format::json, report::Format::yaml,
                                        report::Format::ndjson, report::Format::markdown});
  auto workspace = find_workspace(globals);
  auto definitions = load_definitions(globals, workspace);
  auto file = state_file(globals, workspace, definitions);
  if (run_id <= 0) {
    auto store = state::Store::open(file);
    state::PlanRepository journal(store);
    auto latest = journal.list(std::nullopt, 1);
    if (latest.empty()) {
      throw core::Error(core::ExitCode::failure, "no plan has run yet");
    }
    run_id = latest.front().run_id;
  }
  auto report = plan::report_of(file, run_id);
  render_report(globals, format, report, log);
}

void history(Globals& globals, const std::string& name, int limit) {
  auto format = output_format(globals, {report::Format::table, report::Format::json, report::Format::yaml,
                                        report::Format::ndjson, report::Format::markdown});
  auto workspace = find_workspace(globals);
  auto definitions = load_definitions(globals, workspace);
  auto store = state::Store::open(state_file(globals, workspace, definitions));
  state::PlanRepository journal(store);
  state::RunRepository runs(store);
  auto list = nlohmann::json::array();
  for (const auto& plan_run : journal.list(name.empty() ? std::nullopt : std::optional(name), limit)) {
    auto run = runs.get(plan_run.run_id);
    list.push_back({{"run_id", plan_run.run_id},
                    {"plan", plan_run.plan},
                    {"state", plan_run.state},
                    {"started_at", run ? run->started_at : ""},
                    {"finished_at", run && run->finished_at ? nlohmann::json(*run->finished_at) : nullptr},
                    {"user", run ? run->user.value_or("") : ""},
                    {"host", run ? run->host.value_or("") : ""},
                    {"git_commit", run && run->git_commit ? nlohmann::json(*run->git_commit) : nullptr},
                    {"git_dirty", run && run->git_dirty ? nlohmann::json(*run->git_dirty) : nullptr},
                    {"parent_run", plan_run.parent_run ? nlohmann::json(*plan_run.parent_run) : nullptr},
                    {"event_id", plan_run.event_id ? nlohmann::json(*plan_run.event_id) : nullptr},
                    {"params", nlohmann::json::parse(plan_run.params, nullptr, false)},
                    {"reason", plan_run.reason.value_or("")}});
  }
  if (format == report::Format::json || format == report::Format::yaml) {
    nlohmann::json doc{{"runs", list}};
    out(format == report::Format::json ? report::render_json(doc) : report::render_yaml(doc));
    return;
  }
  if (format == report::Format::ndjson) {
    out(report::render_ndjson(list));
    return;
  }
  report::Table table{{{"RUN", report::Align::right}, {"PLAN"}, {"STATE"}, {"STARTED"}, {"BY"}, {"REASON"}}, {}};
  for (const auto& row : list) {
    table.rows.push_back({std::to_string(row["run_id"].get<std::int64_t>()), row["plan"].get<std::string>(),
                          paint(globals, state_colour(row["state"].get<std::string>()), row["state"].get<std::string>()),
                          row["started_at"].get<std::string>(),
                          row["user"].get<std::string>() + "@" + row["host"].get<std::string>(),
                          row["reason"].get<std::string>()});
  }
  out(format == report::Format::markdown ? report::render_markdown(table) : report::render_text(table));
}

void list(Globals& globals) {
  auto format = output_format(globals, {report::Format::table, report::Format::json, report::Format::yaml,
                                        report::Format::markdown});
  auto workspace = find_workspace(globals);
  auto definitions = load_definitions(globals, workspace);
  std::map<std::string, state::PlanRun> last;
  try {
    auto store = state::Store::open(state_file(globals, workspace, definitions));
    state::PlanRepository journal(store);
    for (const auto& run : journal.list(std::nullopt, 1000)) {
      last.emplace(run.plan, run);
    }
  } catch (const core::Error&) {
    // No state yet: no runs to show.
  }
  auto rows = nlohmann::json::array();
  for (const auto* group : {&definitions.plans, &definitions.actions}) {
    for (const auto& plan : *group) {
      std::vector<std::string> params;
      for (const auto& param : plan.params) {
        params.push_back(param.required ? param.name : param.name + "?");
      }
      auto it = last.find(plan.header.name);
      rows.push_back({{"name", plan.header.name},
                      {"kind", plan.header.kind},
                      {"description", plan.header.description},
                      {"steps", plan.steps.size()},
                      {"params", params},
                      {"builtin", plan.header.origin == defs::Origin::builtin},
                      {"last_run", it == last.end() ? nlohmann::json(nullptr) : nlohmann::json(it->second.run_id)},
                      {"last_state", it == last.end() ? nlohmann::json(nullptr) : nlohmann::json(it->second.state)}});
    }
  }
  if (format == report::Format::json || format == report::Format::yaml) {
    nlohmann::json doc{{"plans", rows}};
    out(format == report::Format::json ? report::render_json(doc) : report::render_yaml(doc));
    return;
  }
  report::Table table{{{"NAME"}, {"KIND"}, {"STEPS", report::Align::right}, {"PARAMS"}, {"LAST RUN"}, {"DESCRIPTION"}}, {}};
  for (const auto& row : rows) {
    table.rows.push_back({row["name"].get<std::string>(), row["kind"].get<std::string>(),
                          std::to_string(row["steps"].get<std::size_t>()),
                          fmt::format("{}", fmt::join(row["params"].get<std::vector<std::string>>(), " ")),
                          row["last_run"].is_null() ? "-"
                                                    : fmt::format("{} {}", row["last_run"].get<std::int64_t>(),
                                                                  row["last_state"].get<std::string>()),
                          row["description"].get<std::string>()});
  }
  out(format == report::Format::markdown ? report::render_markdown(table) : report::render_text(table));
}

const defs::Plan& find_plan_or_action(const defs::Definitions& definitions, const std::string& name) {
  if (const auto* action = definitions.find_action(name); action && !definitions.find_plan(name)) {
    return *action;
  }
  return find_plan(definitions, name);
}

// Whether the kind runs another plan or Action (its name says more than
// its kind).
bool is_call(const std::string& kind) {
  const auto* found = action::find_kind(kind);
  return found != nullptr && found->flow == action::Flow::call;
}

std::string action_text(const defs::StepAction& action) {
  if (is_call(action.kind)) {
    return action.kind + " " + action.fields.value("name", std::string());
  }
  return action.kind + " " + action.fields.dump();
}

void show(Globals& globals, const std::string& name) {
  auto format = output_format(globals, {report::Format::table, report::Format::json, report::Format::yaml});
  auto workspace = find_workspace(globals);
  auto definitions = load_definitions(globals, workspace);
  const auto& plan = find_plan_or_action(definitions, name);
  auto params = nlohmann::json::array();
  for (const auto& param : plan.params) {
    params.push_back({{"name", param.name},
                      {"type", defs::param_type_name(param.type)},
                      {"required", param.required},
                      {"default", param.default_value ? *param.default_value : nlohmann::json(nullptr)},
                      {"allowed", param.allowed},
                      {"secret", param.secret},
                      {"description", param.description}});
  }
  auto steps = nlohmann::json::array();
  for (const auto* step : defs::topological_order(plan)) {
    steps.push_back({{"id", step->id},
                     {"description", step->description},
                     {"kind", step->action.kind},
                     {"fields", step->action.fields},
                     {"needs", step->needs},
                     {"when", step->when ? nlohmann::json(step->when->text) : nullptr},
                     {"for_each", step->repeated()},
                     {"max_parallel", step->max_parallel},
                     {"timeout_ms", step->timeout ? nlohmann::json(step->timeout->count()) : nullptr},
                     {"retries", step->retries},
                     {"on_failure", defs::on_failure_name(step->on_failure.value_or(plan.on_failure))},
                     {"idempotent", step->idempotent},
                     {"expect", [&] {
                        auto list = nlohmann::json::array();
                        for (const auto& e : step->expect) {
                          list.push_back(e.text);
                        }
                        return list;
                      }()},
                     {"rollback", step->rollback ? nlohmann::json({{"kind", step->rollback->kind},
                                                                   {"fields", step->rollback->fields}})
                                                 : nlohmann::json(nullptr)}});
  }
  if (format != report::Format::table) {
    nlohmann::json doc{{"name", plan.header.name},   {"kind", plan.header.kind},
                       {"description", plan.header.description}, {"file", plan.header.where.str()},
                       {"params", params},          {"steps", steps},
                       {"max_parallel", plan.max_parallel},
                       {"on_failure", defs::on_failure_name(plan.on_failure)}};
    out(format == report::Format::json ? report::render_json(doc) : report::render_yaml(doc));
    return;
  }
  std::string text = fmt::format("{} {} ({})\n", plan.header.kind, paint(globals, "bold", plan.header.name),
                                 plan.header.where.str());
  if (!plan.header.description.empty()) {
    text += plan.header.description + "\n";
  }
  text += fmt::format("on failure: {}; up to {} steps at once\n", defs::on_failure_name(plan.on_failure),
                      plan.max_parallel);
  if (!plan.params.empty()) {
    text += "\nparameters:\n";
    for (const auto& param : params) {
      text += fmt::format("  {} ({}{}{}){}{}\n", param["name"].get<std::string>(), param["type"].get<std::string>(),
                          param["required"].get<bool>() ? ", required" : "",
                          param["secret"].get<bool>() ? ", secret" : "",
                          param["default"].is_null() ? "" : " default " + param["default"].dump(),
                          param["description"].get<std::string>().empty()
                            ? ""
                            : " — " + param["description"].get<std::string>());
    }
  }
  text += "\nsteps:\n";
  for (const auto* step : defs::topological_order(plan)) {
    text += fmt::format("  {} {}{}\n", paint(globals, "bold", step->id), action_text(step->action),
                        step->needs.empty() ? "" : fmt::format("  (after {})", fmt::join(step->needs, ", ")));
    if (step->when) {
      text += fmt::format("      when {}\n", step->when->text);
    }
    if (step->rollback) {
      text += fmt::format("      undo {}\n", action_text(*step->rollback));
    }
  }
  out(text);
}

void graph(Globals& globals, const std::string& name) {
  auto workspace = find_workspace(globals);
  auto definitions = load_definitions(globals, workspace);
  const auto& plan = find_plan_or_action(definitions, name);
  auto format = globals.format.empty() ? std::string("mermaid") : globals.format;
  if (format != "mermaid" && format != "dot") {
    throw core::Error(core::ExitCode::usage, fmt::format("graph cannot be drawn as '{}'", format), {},
                      "use -o mermaid or -o dot");
  }
  std::string text;
  if (format == "mermaid") {
    text = "flowchart TD\n";
    for (const auto& step : plan.steps) {
      auto label = fmt::format("{}<br/>{}{}", step.id, is_call(step.action.kind)
                                                         ? action_text(step.action)
                                                         : step.action.kind,
                               step.rollback ? "<br/>undo: " + step.rollback->kind : "");
      text += fmt::format("  {}[\"{}\"]\n", step.id, report::mermaid_label(label));
      for (const auto& need : step.needs) {
        text += fmt::format("  {} --> {}\n", need, step.id);
      }
      if (step.when) {
        text += fmt::format("  %% {} runs when {}\n", step.id, step.when->text);
      }
    }
  } else {
    text = fmt::format("digraph \"{}\" {{\n  rankdir=TB;\n  node [shape=box, style=rounded];\n", report::dot_label(plan.header.name));
    for (const auto& step : plan.steps) {
      auto label = fmt::format("{}\n{}{}", step.id, is_call(step.action.kind)
                                                      ? action_text(step.action)
                                                      : step.action.kind,
                               step.when ? "\nwhen " + step.when->text : "");
      text += fmt::format("  \"{}\" [label=\"{}\"{}];\n", report::dot_label(step.id), report::dot_label(label),
                          step.rollback ? ", peripheries=2" : "");
      for (const auto& need : step.needs) {
        text += fmt::format("  \"{}\" -> \"{}\";\n", report::dot_label(need), report::dot_label(step.id));
      }
    }
    text += "}\n";
  }
  out(text);
}

} // namespace

void register_plan(CLI::App& command, Globals& globals) {
  command.description("Emergency plans: run reviewed procedures (a DAG of actions with gates, retries and "
                      "rollback), journaled in the state file so a run killed at any point can be resumed. "
                      "Exit status: 0 succeeded, 1 failed (rolled back or not), 75 blocked by a lock or a "
                      "protection rule, 130 interrupted.");
  command.require_subcommand(1);

  static RunFlags run_flags;
  auto* run_cmd = command.add_subcommand("run", "run a plan");
  run_cmd->add_option("PLAN", run_flags.name, "the plan")->required();
  run_cmd->add_option("-p,--param", run_flags.params, "a parameter (name=value; repeatable)")->type_name("NAME=VALUE");
  run_cmd->add_flag("--dry-run", run_flags.dry_run,
                    "print every resolved step (argv, URL, remote command) and its rollback; run nothing");
  run_cmd->add_flag("--yes,-y", run_flags.yes, "approve every confirm step (journaled as approved by --yes)");
  run_cmd->add_flag("--explain", run_flags.explain, "say whether a lock or a protection rule would block the run");
  run_cmd->add_option("--event", run_flags.event, "the risk event this run serves")->type_name("ID");
  run_cmd->add_option("--override", run_flags.overrides, "break this protection rule on purpose (needs --reason)")
    ->type_name("RULE");
  run_cmd->add_option("--reason", run_flags.reason, "why (journaled with the override)")->type_name("TEXT");
  run_cmd->callback([&globals] { run(globals, run_flags); });

  static ResumeFlags resume_flags;
  auto* resume_cmd = command.add_subcommand(
    "resume", "continue a run that stopped (killed, Ctrl-C, failed); with --all or --plan, lift a pause");
  resume_cmd->add_option("RUN", resume_flags.run, "the run id");
  resume_cmd->add_flag("--all", resume_flags.all, "lift the pause of every plan (the kill switch)");
  resume_cmd->add_option("--plan", resume_flags.plan, "lift the pause of this plan")->type_name("PLAN");
  resume_cmd->add_option("-p,--param", resume_flags.params, "a secret parameter again (name=value)")
    ->type_name("NAME=VALUE");
  resume_cmd->add_option("--retry,--rerun-step", resume_flags.rerun,
                         "run this step that was cut short again (repeatable)")
    ->type_name("STEP");
  resume_cmd->add_option("--skip,--skip-step", resume_flags.skip,
                         "count this step that was cut short as done (repeatable)")
    ->type_name("STEP");
  resume_cmd->add_flag("--yes,-y", resume_flags.yes, "approve every confirm step");
  resume_cmd->callback([&globals] { resume(globals, resume_flags); });

  static PauseFlags pause_flags;
  auto* pause_cmd = command.add_subcommand("pause", "the kill switch: refuse new runs of every plan (--all) or of one");
  pause_cmd->add_option("PLAN", pause_flags.plan, "only this plan");
  pause_cmd->add_flag("--all", pause_flags.all, "every plan, self-healing included");
  pause_cmd->add_option("--reason", pause_flags.reason, "why (shown to whoever is refused)")->type_name("TEXT");
  pause_cmd->callback([&globals] { pause(globals, pause_flags); });

  static std::string reset_plan;
  auto* reset_cmd = command.add_subcommand("reset", "close the circuit breaker of a plan");
  reset_cmd->add_option("PLAN", reset_plan, "the plan")->required();
  reset_cmd->callback([&globals] { reset(globals, reset_plan); });

  command.add_subcommand("protection", "the protection counters: runs, rate windows, breakers, pauses")
    ->callback([&globals] { protection(globals); });

  static RunIdFlags rollback_flags;
  auto* rollback_cmd = command.add_subcommand("rollback", "undo the completed steps of a stopped run, newest first");
  rollback_cmd->add_option("RUN", rollback_flags.run, "the run id")->required();
  rollback_cmd->add_option("-p,--param", rollback_flags.params, "a secret parameter again (name=value)")
    ->type_name("NAME=VALUE");
  rollback_cmd->add_flag("--yes,-y", rollback_flags.yes, "approve confirm steps of the rollback");
  rollback_cmd->callback([&globals] { rollback(globals, rollback_flags); });

  static RunIdFlags approve_flags;
  auto* approve_cmd = command.add_subcommand(
    "approve", "approve a confirm step a run is waiting at; a run whose process has ended goes on here");
  approve_cmd->add_option("RUN", approve_flags.run, "the run id")->required();
  approve_cmd->add_option("STEP", approve_flags.step, "the confirm step")->required();
  approve_cmd->add_option("-p,--param", approve_flags.params, "a secret parameter again, to go on (name=value)")
    ->type_name("NAME=VALUE");
  approve_cmd->add_flag("--yes,-y", approve_flags.yes, "approve the later confirm steps of the run too");
  approve_cmd->callback([&globals] { approve(globals, approve_flags); });

  static std::int64_t abort_run_id = 0;
  auto* abort_cmd = command.add_subcommand("abort", "stop a run: kill what it runs, end it as aborted");
  abort_cmd->add_option("RUN", abort_run_id, "the run id")->required();
  abort_cmd->callback([&globals] { abort_run(globals, abort_run_id); });

  static std::int64_t status_run_id = 0;
  auto* status_cmd = command.add_subcommand("status", "where a run is (default: the latest)");
  status_cmd->add_option("RUN", status_run_id, "the run id");
  status_cmd->callback([&globals] { status(globals, status_run_id, false); });

  static std::int64_t log_run_id = 0;
  auto* log_cmd = command.add_subcommand("log", "a run's journal in full: what ran, when, exit codes, output");
  log_cmd->add_option("RUN", log_run_id, "the run id (default: the latest)");
  log_cmd->callback([&globals] { status(globals, log_run_id, true); });

  static std::string history_plan;
  static int history_limit = 50;
  auto* history_cmd = command.add_subcommand("history", "recent runs, newest first: who, where, which commit");
  history_cmd->add_option("PLAN", history_plan, "only this plan");
  history_cmd->add_option("--limit,-n", history_limit, "at most this many runs (default 50)");
  history_cmd->callback([&globals] { history(globals, history_plan, history_limit); });

  command.add_subcommand("list", "the plans and Action templates, with their last run")->callback([&globals] {
    list(globals);
  });

  static std::string show_name;
  auto* show_cmd = command.add_subcommand("show", "a plan's parameters and steps");
  show_cmd->add_option("PLAN", show_name, "the plan (or Action)")->required();
  show_cmd->callback([&globals] { show(globals, show_name); });

  static std::string graph_name;
  auto* graph_cmd = command.add_subcommand("graph", "the step graph: -o mermaid (default) or -o dot");
  graph_cmd->add_option("PLAN", graph_name, "the plan (or Action)")->required();
  graph_cmd->callback([&globals] { graph(globals, graph_name); });
}

} // namespace has::cmd
