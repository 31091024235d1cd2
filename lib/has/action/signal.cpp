// signal: sends a signal with kill(2) to one process (pid, pid file) or to
// every process with an exact name — no program is spawned for it.

#include <has/action/kinds.hpp>
#include <has/action/support.hpp>
#include <has/core/error.hpp>

#include <fmt/format.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>
#include <variant>

namespace has::action {

namespace {

constexpr std::array<std::pair<std::string_view, int>, 31> k_signals{{
  {"HUP", SIGHUP},   {"INT", SIGINT},       {"QUIT", SIGQUIT},   {"ILL", SIGILL},     {"TRAP", SIGTRAP},
  {"ABRT", SIGABRT}, {"BUS", SIGBUS},       {"FPE", SIGFPE},     {"KILL", SIGKILL},   {"USR1", SIGUSR1},
  {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},     {"PIPE", SIGPIPE},   {"ALRM", SIGALRM},   {"TERM", SIGTERM},
  {"CHLD", SIGCHLD}, {"CONT", SIGCONT},     {"STOP", SIGSTOP},   {"TSTP", SIGTSTP},   {"TTIN", SIGTTIN},
  {"TTOU", SIGTTOU}, {"URG", SIGURG},       {"XCPU", SIGXCPU},   {"XFSZ", SIGXFSZ},   {"VTALRM", SIGVTALRM},
  {"PROF", SIGPROF}, {"WINCH", SIGWINCH},   {"IO", SIGIO},       {"PWR", SIGPWR},     {"SYS", SIGSYS},
  {"IOT", SIGIOT},
}};

// The kernel keeps this many characters of a process name in /proc/PID/comm.
constexpr std::size_t k_comm_length = 15;

bool all_digits(std::string_view text) {
  return !text.empty() && text.size() <= 9 &&
         std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); });
}

// The signal's number and its name as kill(1) writes it.
std::pair<int, std::string> signal_of(const Spec& spec) {
  auto text = text_field(spec, "signal", false);
  if (text.empty()) {
    return {SIGTERM, "TERM"};
  }
  if (all_digits(text)) {
    int number = std::stoi(text);
    if (number > SIGRTMAX) {
      bad_field(spec, "signal", fmt::format("must be a signal number up to {}, not {}", SIGRTMAX, number));
    }
    for (const auto& [name, value] : k_signals) {
      if (value == number) {
        return {number, std::string(name)};
      }
    }
    return {number, text};
  }
  std::string name = text;
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::toupper(c); });
  if (name.rfind("SIG", 0) == 0) {
    name.erase(0, 3);
  }
  for (const auto& [known, value] : k_signals) {
    if (known == name) {
      return {value, name};
    }
  }
  bad_field(spec, "signal", fmt::format("names no signal: '{}'", text),
            "use a name such as TERM, KILL, HUP, INT, USR1 or USR2, or a number");
}

// What the step points at: exactly one of pid, pidfile, process.
std::pair<std::string, std::string> target_of(const Spec& spec) {
  std::vector<std::string_view> given;
  for (auto key : {"pid", "pidfile", "process"}) {
    if (spec.fields.contains(key) && !spec.fields[key].is_null()) {
      given.push_back(key);
    }
  }
  if (given.size() != 1) {
    throw core::Error(core::ExitCode::bad_definitions,
                      fmt::format("signal action needs exactly one of 'pid', 'pidfile' or 'process' (got {})",
                                  given.empty() ? std::string("none") : fmt::format("{}", fmt::join(given, ", "))));
  }
  std::string key(given.front());
  auto value = text_field(spec, key);
  if (value.empty()) {
    bad_field(spec, key, "is empty");
  }
  if (key == "pid" && (!all_digits(value) || std::stoi(value) <= 0)) {
    // 0 and negative pids would signal whole process groups.
    bad_field(spec, key, fmt::format("must be a process id above 0, not '{}'", value));
  }
  if (key == "process" && value.size() > k_comm_length) {
    bad_field(spec, key, fmt::format("'{}' is longer than the {} characters Linux keeps of a process name, so it "
                                     "would never match",
                                     value, k_comm_length),
              fmt::format("give its first {} characters: '{}'", k_comm_length, value.substr(0, k_comm_length)));
  }
  return {key, value};
}

// Returns the pid in a pid file (its first line), or why there is none.
std::variant<pid_t, std::string> read_pidfile(const std::string& file) {
  std::ifstream in(file);
  if (!in) {
    return fmt::format("cannot read pid file {}: {}", file, std::strerror(errno));
  }
  std::string line;
  std::getline(in, line);
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) {
    line.pop_back();
  }
  if (!all_digits(line) || std::stoi(line) <= 0) {
    return fmt::format("pid file {} holds no process id: '{}'", file, line.substr(0, 40));
  }
  return static_cast<pid_t>(std::stoi(line));
}

// Returns the pids whose /proc/PID/comm is exactly name, ours excluded.
std::vector<pid_t> pids_named(const std::string& name) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    auto file = entry.path().filename().string();
    if (!all_digits(file)) {
      continue;
    }
    std::ifstream in(entry.path() / "comm");
    std::string comm;
    if (!std::getline(in, comm) || comm != name) {
      continue; // gone since the listing, or another name
    }
    auto pid = static_cast<pid_t>(std::stoi(file));
    if (pid != ::getpid()) {
      out.push_back(pid);
    }
  }
  if (ec) {
    throw core::Error(core::ExitCode::failure, fmt::format("signal action: cannot list /proc: {}", ec.message()));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string describe(const Spec& spec, const Context&) {
  auto [number, name] = signal_of(spec);
  auto [key, value] = target_of(spec);
  if (key == "pid") {
    return fmt::format("kill -s {} {}", name, value);
  }
  if (key == "pidfile") {
    return fmt::format("kill -s {} <the pid in {}>", name, value);
  }
  return fmt::format("kill -s {} <every process named {}>", name, value);
}

Outcome run(const Spec& spec, const Context&) {
  auto [number, name] = signal_of(spec);
  auto [key, value] = target_of(spec);
  Outcome outcome;
  outcome.outputs["signal"] = name;
  outcome.outputs["pids"] = nlohmann::json::array();
  std::vector<pid_t> pids;
  if (key == "pid") {
    pids.push_back(static_cast<pid_t>(std::stoi(value)));
  } else if (key == "pidfile") {
    auto pid = read_pidfile(value);
    if (auto* why = std::get_if<std::string>(&pid)) {
      outcome.message = *why;
      return outcome;
    }
    pids.push_back(std::get<pid_t>(pid));
  } else {
    pids = pids_named(value);
    if (pids.empty()) {
      outcome.message = fmt::format("no process named '{}' is running", value);
      return outcome;
    }
  }
  std::vector<std::string> failures;
  for (auto pid : pids) {
    if (::kill(pid, number) == 0) {
      outcome.outputs["pids"].push_back(pid);
    } else {
      failures.push_back(errno == ESRCH ? fmt::format("no process {} is running", pid)
                                        : fmt::format("cannot signal {}: {}", pid, std::strerror(errno)));
    }
  }
  outcome.ok = failures.empty();
  auto sent = outcome.outputs["pids"].size();
  outcome.message = fmt::format("sent SIG{} to {}", name,
                                sent == 1 ? fmt::format("pid {}", outcome.outputs["pids"][0].get<int>())
                                          : fmt::format("{} process{}", sent, sent == 1 ? "" : "es"));
  if (!failures.empty()) {
    outcome.message = sent == 0 ? fmt::format("{}", fmt::join(failures, "; "))
                                : fmt::format("{}; {}", outcome.message, fmt::join(failures, "; "));
  }
  return outcome;
}

} // namespace

const Kind k_signal{"signal", describe, run};

} // namespace has::action
