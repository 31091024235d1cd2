// ssh: runs a command (an argv list) or a script on a remote host through the
// OpenSSH client, as operators already do: their keys, their known_hosts,
// one reused connection per host through a control socket.

#include <has/action/kinds.hpp>
#include <has/action/ssh.hpp>
#include <has/action/support.hpp>
#include <has/core/error.hpp>
#include <has/util/process.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <optional>

namespace has::action {

namespace {

const defs::SshDefaults& defaults_of(const Context& context) {
  static const defs::SshDefaults none;
  return context.definitions != nullptr ? context.definitions->config.ssh : none;
}

// A path from has.yaml is relative to the workspace; ssh expands a leading ~.
std::string workspace_path(const Context& context, const std::string& path) {
  if (path.empty() || path.front() == '/' || path.front() == '~' || context.definitions == nullptr ||
      context.definitions->config.file.empty()) {
    return path;
  }
  return (context.definitions->config.file.parent_path() / path).string();
}

// The field when the step sets it, else the has.yaml default.
std::string setting(const Spec& spec, std::string_view key, const std::string& fallback) {
  auto text = text_field(spec, key, false);
  return text.empty() ? fallback : text;
}

std::string host_key_of(const Spec& spec, const Context& context) {
  const auto& fallback = defaults_of(context).host_key;
  return setting(spec, "host_key", fallback.empty() ? "accept-new" : fallback);
}

// ssh parses the value of `-o` like a line of ssh_config: white space would
// split it into several words, and quotes would be taken as quoting.
void check_option_word(const Spec& spec, std::string_view key, const std::string& value) {
  if (value.find_first_of(" \t\r\n\"'") != std::string::npos) {
    bad_field(spec, key, fmt::format("may not contain white space or quotes: '{}'", value));
  }
}

// ssh would read a value starting with '-' as another option, and a host name
// with white space or control characters is no host name.
void check_word(const Spec& spec, std::string_view key, const std::string& value) {
  if (value.empty() || value.front() == '-' ||
      std::any_of(value.begin(), value.end(), [](unsigned char c) { return c <= ' ' || c == 0x7f; })) {
    bad_field(spec, key, fmt::format("is not a usable value: '{}'", value));
  }
}

std::string strict_checking(const Spec& spec, const std::string& host_key) {
  if (host_key == "strict") {
    return "yes";
  }
  if (host_key == "accept-new") {
    return "accept-new";
  }
  if (host_key == "off") {
    return "no";
  }
  bad_field(spec, "host_key", fmt::format("must be strict, accept-new or off, not '{}'", host_key));
}

util::ProcessSpec process_spec(const Spec& spec, const Context& context) {
  util::ProcessSpec process;
  process.argv = ssh_argv(spec, context);
  if (spec.fields.contains("script")) {
    if (spec.fields.contains("stdin")) {
      bad_field(spec, "stdin", "cannot be used with 'script' (the script is sent on stdin)",
                "pass values to the script through its command line or use 'command'");
    }
    process.argv.push_back("sh -s");
    process.stdin_data = text_field(spec, "script");
  } else {
    auto command = list_field(spec, "command");
    if (command.empty()) {
      bad_field(spec, "command", "is empty", "give the program and its arguments, e.g. command: [uptime]");
    }
    for (const auto& word : command) {
      if (word.find('\0') != std::string::npos) {
        bad_field(spec, "command", "holds a NUL byte, which no argument can carry");
      }
    }
    process.argv.push_back(remote_command(command));
    if (spec.fields.contains("stdin")) {
      process.stdin_data = text_field(spec, "stdin");
    }
  }
  process.max_output = size_field(spec, "max_output", process.max_output);
  process.timeout = spec.timeout;
  process.kill_grace = spec.kill_grace;
  return process;
}

std::string describe(const Spec& spec, const Context& context) {
  return util::shell_join(process_spec(spec, context).argv);
}

Outcome run(const Spec& spec, const Context& context) {
  auto process = process_spec(spec, context);
  auto result = util::run_process(process);
  auto outcome = process_outcome(result);
  // 255 is ssh's own failure (the remote command's status otherwise): say
  // which part failed rather than leave it to a line of stderr.
  if (result.exit_code == 255) {
    auto address = process.argv[process.argv.size() - 2];
    if (result.err.find("Host key verification failed") != std::string::npos) {
      bool changed = result.err.find("IDENTIFICATION HAS CHANGED") != std::string::npos;
      outcome.message = fmt::format("ssh: host key verification failed for {}: {} (host_key: {})", address,
                                    changed ? "its key has changed since known_hosts recorded it"
                                            : "its key is not in known_hosts",
                                    host_key_of(spec, context));
    } else {
      auto line = result.err.substr(0, result.err.find_first_of("\r\n"));
      outcome.message = fmt::format("ssh: cannot run the command on {}: {}", address,
                                    line.empty() ? "exit 255" : line.substr(0, 200));
    }
  }
  return outcome;
}

} // namespace

std::vector<std::string> ssh_argv(const Spec& spec, const Context& context) {
  const auto& defaults = defaults_of(context);
  auto host = text_field(spec, "host");
  auto address = host_address(context, host);
  check_word(spec, "host", address);

  // LogLevel=ERROR: ssh's own notices ("Permanently added ... to the list of
  // known hosts") would otherwise be mixed into the remote command's stderr;
  // its errors still show.
  std::vector<std::string> argv{"ssh", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"};
  if (!context.runtime_dir.empty()) {
    auto dir = context.runtime_dir.string();
    if (dir.find_first_of(" \t\r\n\"'%") != std::string::npos) {
      throw core::Error(core::ExitCode::failure,
                        fmt::format("{} action: the runtime directory '{}' cannot hold an ssh control socket "
                                    "(white space, quotes or %)",
                                    spec.kind, dir));
    }
    // %C: a hash of local host, remote host, port and user, so one socket per
    // destination, and short enough for the 108 bytes of a socket path.
    argv.insert(argv.end(), {"-o", "ControlMaster=auto", "-o", "ControlPath=" + dir + "/%C", "-o",
                             "ControlPersist=60s"});
  }
  auto host_key = host_key_of(spec, context);
  argv.insert(argv.end(), {"-o", "StrictHostKeyChecking=" + strict_checking(spec, host_key)});
  auto known_hosts = setting(spec, "known_hosts", workspace_path(context, defaults.known_hosts));
  if (known_hosts.empty() && host_key == "off") {
    known_hosts = "/dev/null"; // off: neither check a key nor remember it
  }
  if (!known_hosts.empty()) {
    check_option_word(spec, "known_hosts", known_hosts);
    argv.insert(argv.end(), {"-o", "UserKnownHostsFile=" + known_hosts});
  }
  auto options = spec.fields.contains("options") ? list_field(spec, "options") : defaults.options;
  for (const auto& option : options) {
    if (option.empty() || option.front() == '-' || option.find_first_of("\r\n") != std::string::npos) {
      bad_field(spec, "options", fmt::format("holds '{}', which is not an ssh option such as "
                                             "ConnectTimeout=5",
                                             option));
    }
    argv.insert(argv.end(), {"-o", option});
  }
  if (auto identity = setting(spec, "identity", workspace_path(context, defaults.identity)); !identity.empty()) {
    argv.insert(argv.end(), {"-i", identity});
  }
  auto port = setting(spec, "port", defaults.port ? std::to_string(*defaults.port) : std::string());
  if (!port.empty()) {
    if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5 || std::stoi(port) < 1 ||
        std::stoi(port) > 65535) {
      bad_field(spec, "port", fmt::format("must be a port number from 1 to 65535, not '{}'", port));
    }
    argv.insert(argv.end(), {"-p", port});
  }
  if (auto user = setting(spec, "user", defaults.user); !user.empty()) {
    check_word(spec, "user", user);
    argv.insert(argv.end(), {"-l", user});
  }
  argv.insert(argv.end(), {"--", address});
  return argv;
}

std::string remote_command(const std::vector<std::string>& argv) {
  // sshd runs the command line through the remote user's login shell (a POSIX
  // shell is assumed): quoting every element is what keeps a value such as
  // "$(reboot)" or "; rm -rf ~" an inert argument instead of shell code.
  return util::shell_join(argv);
}

const Kind k_ssh{"ssh", describe, run};

} // namespace has::action
