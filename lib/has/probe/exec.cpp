// The exec probe runs any plugin program, unmodified, and reads it the way
// Nagios does: the exit code is the status (0 ok, 1 warning, 2 critical,
// 3 unknown), the first line of stdout is the message, and perfdata after a
// '|' becomes values. A program that prints a JSON object instead has its
// keys become values.

#include <has/probe/kinds.hpp>

#include <has/core/error.hpp>
#include <has/probe/fields.hpp>
#include <has/probe/perfdata.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <filesystem>

namespace has::probe {

namespace {

// Bytes of each stream kept in the evidence, and characters in a message.
constexpr std::size_t k_evidence_bytes = 2048;
constexpr std::size_t k_message_bytes = 512;

// Values the protocol itself sets; perfdata labels and JSON keys of the
// program's output never replace them.
constexpr std::array<std::string_view, 8> k_own_keys{"exit_code", "stdout",      "stderr", "elapsed_ms",
                                                     "message",   "perf",        "perf_errors", "json"};

// What on_process needs to know about the run it interprets.
struct Plan {
  std::string program;
  std::filesystem::path cwd;
  std::chrono::milliseconds timeout{0};
};

[[noreturn]] void bad_field(std::string_view field, std::string_view what, std::string_view help = {}) {
  throw core::Error(core::ExitCode::bad_definitions, fmt::format("exec probe: field '{}' {}", field, what),
                    {}, std::string(help));
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && is_space(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

// Returns the length of the valid UTF-8 sequence at the start of text, or 0.
std::size_t utf8_sequence(std::string_view text) {
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  unsigned char lead = byte(0);
  if (lead < 0x80) {
    return 1;
  }
  std::size_t length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 0;
  if (length == 0 || lead > 0xF4 || lead == 0xC0 || lead == 0xC1 || text.size() < length) {
    return 0;
  }
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0) != 0x80) {
      return 0;
    }
  }
  // Overlong forms, UTF-16 surrogates and code points past U+10FFFF.
  if ((lead == 0xE0 && byte(1) < 0xA0) || (lead == 0xED && byte(1) > 0x9F) ||
      (lead == 0xF0 && byte(1) < 0x90) || (lead == 0xF4 && byte(1) > 0x8F)) {
    return 0;
  }
  return length;
}

// Returns text with each invalid UTF-8 byte replaced by U+FFFD: plugins may
// print anything, and results are stored and reported as JSON.
std::string valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    auto length = utf8_sequence(text);
    if (length == 0) {
      out += "\xEF\xBF\xBD";
      length = 1;
    } else {
      out.append(text.substr(0, length));
    }
    text.remove_prefix(length);
  }
  return out;
}

// Returns text cut to at most limit bytes, at a character boundary.
std::string_view cut(std::string_view text, std::size_t limit) {
  if (text.size() <= limit) {
    return text;
  }
  std::size_t end = limit;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
    --end;
  }
  return text.substr(0, end);
}

std::string first_line(std::string_view text) {
  text = trim(text);
  return std::string(trim(text.substr(0, text.find('\n'))));
}

std::vector<std::string> argv_of(const Fields& fields, const Spec& spec) {
  bool has_command = fields.has("command");
  bool has_shell = fields.has("shell");
  if (has_command == has_shell) {
    throw core::Error(core::ExitCode::bad_definitions,
                      has_command ? "exec probe takes 'command' or 'shell', not both"
                                  : "exec probe needs 'command' (an argv list) or 'shell' (a script)");
  }
  if (has_shell) {
    // Only where the definition asks for a shell: values interpolated into
    // `command` stay single argv elements and are never parsed as shell.
    return {"/bin/sh", "-c", fields.string("shell")};
  }
  const auto& raw = spec.fields.at("command");
  if (raw.is_string() && std::ranges::any_of(raw.get_ref<const std::string&>(), is_space)) {
    bad_field("command", "must be an argv list, not one string with spaces",
              "write command: [check_http, -H, example.com], or use shell: for a script");
  }
  auto argv = fields.strings("command");
  if (argv.empty() || argv.front().empty()) {
    bad_field("command", "must name a program");
  }
  return argv;
}

util::ProcessSpec process_spec(const Spec& spec) {
  Fields fields("exec", spec.fields);
  util::ProcessSpec process;
  process.argv = argv_of(fields, spec);
  for (auto& [name, value] : fields.string_map("env")) {
    process.env.emplace_back(name, std::move(value));
  }
  if (auto cwd = fields.optional_string("cwd")) {
    process.cwd = *cwd;
  }
  process.timeout = spec.timeout;
  if (auto timeout = fields.duration("timeout")) {
    if (timeout->count() <= 0) {
      bad_field("timeout", "must be longer than 0");
    }
    process.timeout = *timeout;
  }
  if (auto max_output = fields.size("max_output")) {
    process.max_output = static_cast<std::size_t>(*max_output);
  }
  return process;
}

// run_processes reports a program it could not start as exit code 127 with
// its rendered error ("cannot run 'x'\n  reason: ...") on stderr and no time
// spent; a shell's own 127 always comes with time and another text.
bool spawn_failed(const util::ProcessResult& run) {
  return run.exit_code == 127 && run.elapsed.count() == 0 && run.out.empty() &&
         run.err.starts_with("cannot run '");
}

Result spawn_failure(const util::ProcessResult& run, const Plan& plan) {
  Result result;
  result.status = Status::unknown;
  std::string reason;
  if (auto at = run.err.find("reason: "); at != std::string::npos) {
    reason = first_line(std::string_view(run.err).substr(at + 8));
  }
  // ENOENT from exec of a file that exists means its #! interpreter is missing.
  std::error_code ec;
  bool enoent = reason.find("No such file") != std::string::npos;
  bool exists = std::filesystem::exists(plan.cwd / plan.program, ec);
  if (reason.find("not found in PATH") != std::string::npos || (enoent && !exists)) {
    result.message = fmt::format("program '{}' not found", plan.program);
  } else if (enoent) {
    result.message = fmt::format("cannot run '{}': {} (is the interpreter on its #! line installed?)",
                                 plan.program, reason);
  } else {
    result.message = fmt::format("cannot run '{}': {}", plan.program, reason.empty() ? run.err : reason);
  }
  result.message = valid_utf8(result.message);
  result.evidence = valid_utf8(cut(run.err, k_evidence_bytes));
  result.values = {{"exit_code", run.exit_code}, {"stdout", ""},    {"stderr", result.evidence},
                   {"elapsed_ms", 0},            {"message", result.message},
                   {"perf", nlohmann::json::object()}, {"perf_errors", nlohmann::json::array()}};
  return result;
}

// Returns the trimmed output as a JSON object, or nullopt.
std::optional<nlohmann::json> json_object(std::string_view out) {
  out = trim(out);
  if (!out.starts_with('{')) {
    return std::nullopt;
  }
  auto doc = nlohmann::json::parse(out, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return std::nullopt;
  }
  return doc;
}

std::string signal_text(int signal) {
  const char* name = ::sigabbrev_np(signal);
  return name != nullptr ? fmt::format("{} (SIG{})", signal, name) : std::to_string(signal);
}

std::string evidence_of(const util::ProcessResult& run, std::string_view out, std::string_view err,
                        std::string_view how) {
  std::string text(how);
  auto stream = [&](std::string_view name, std::string_view data, bool truncated) {
    if (trim(data).empty()) {
      return;
    }
    auto kept = cut(data, k_evidence_bytes);
    text += fmt::format("\n{}:\n{}", name, kept);
    if (truncated || kept.size() < data.size()) {
      text += "\n[... truncated]";
    }
  };
  stream("stdout", out, run.out_truncated);
  stream("stderr", err, run.err_truncated);
  return text;
}

Result interpret(const util::ProcessResult& run, const Plan& plan) {
  if (spawn_failed(run)) {
    return spawn_failure(run, plan);
  }
  Result result;
  result.elapsed_ms = static_cast<double>(run.elapsed.count());
  const std::string out = valid_utf8(run.out);
  const std::string err = valid_utf8(run.err);

  auto& values = result.values;
  auto perf = nlohmann::json::object();
  auto perf_errors = nlohmann::json::array();
  std::string message;
  auto doc = json_object(out);
  if (doc) {
    for (const auto& [key, value] : doc->items()) {
      values[key] = value;
    }
    if (auto found = doc->find("message"); found != doc->end() && found->is_string()) {
      message = first_line(found->get<std::string>());
    } else {
      message = doc->dump();
    }
  } else {
    auto parts = split_plugin_output(out);
    message = parts.message;
    auto data = parse_perfdata(parts.perfdata);
    for (const auto& item : data.items) {
      auto item_json = perf_json(item);
      perf[item.label] = item_json;
      // As written for bracket access, and as a plain name for expressions
      // such as `rta < 100`.
      values[item.label] = item_json["value"];
      values[perf_value_name(item.label)] = item_json["value"];
    }
    for (auto& error : data.errors) {
      perf_errors.push_back(std::move(error));
    }
  }

  std::string how;
  if (run.timed_out) {
    // Nagios Core reports a plugin that outlives service_check_timeout as
    // critical by default, and so do the plugins' own -t timeouts: a check
    // that does not answer usually means what it watches does not answer
    // (a hung mount, a stalled database), which must not hide as unknown.
    result.status = Status::critical;
    message = fmt::format("timed out after {} ms", plan.timeout.count());
    how = message;
  } else if (run.exit_code >= 0 && run.exit_code <= 3) {
    result.status = static_cast<Status>(run.exit_code);
    if (doc && run.exit_code == 0) {
      if (auto found = doc->find("status"); found != doc->end() && found->is_string()) {
        auto text = found->get<std::string>();
        std::ranges::transform(text, text.begin(), [](char c) { return static_cast<char>(std::tolower(c)); });
        result.status = parse_status(text).value_or(result.status);
      }
    }
    how = fmt::format("exit code {}", run.exit_code);
  } else {
    result.status = Status::unknown;
    how = run.exit_code >= 0 ? fmt::format("exit code {} is not a plugin status (0-3)", run.exit_code)
          : run.term_signal != 0 ? fmt::format("killed by signal {}", signal_text(run.term_signal))
                                 : std::string("its exit status was lost");
    message = message.empty() ? how : fmt::format("{}: {}", how, message);
  }
  if (message.empty()) {
    auto err_line = first_line(err);
    message = err_line.empty() ? fmt::format("no output ({})", how)
                               : fmt::format("no output on stdout ({}); stderr: {}", how, err_line);
  }
  result.message = std::string(cut(message, k_message_bytes));
  result.evidence = evidence_of(run, out, err, how);

  for (auto key : k_own_keys) {
    values.erase(std::string(key));
  }
  values["exit_code"] = run.exit_code;
  values["stdout"] = out;
  values["stderr"] = err;
  values["elapsed_ms"] = run.elapsed.count();
  values["message"] = result.message;
  values["perf"] = std::move(perf);
  values["perf_errors"] = std::move(perf_errors);
  if (doc) {
    values["json"] = std::move(*doc);
  }
  return result;
}

} // namespace

Task make_exec(const Spec& spec) {
  Task task;
  task.process = process_spec(spec);
  Plan plan{task.process->argv.front(), task.process->cwd, task.process->timeout};
  task.on_process = [plan = std::move(plan)](const util::ProcessResult& run) { return interpret(run, plan); };
  return task;
}

} // namespace has::probe
