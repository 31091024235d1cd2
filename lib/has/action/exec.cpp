// exec: runs a local program by argv; through /bin/sh only when the step
// says `shell:` (whose script may not hold ${{ }}: values go through env).

#include <has/action/kinds.hpp>
#include <has/action/support.hpp>
#include <has/core/error.hpp>
#include <has/util/process.hpp>

#include <fmt/format.h>

namespace has::action {

namespace {

util::ProcessSpec process_spec(const Spec& spec) {
  util::ProcessSpec process;
  if (spec.fields.contains("shell")) {
    process.argv = {"/bin/sh", "-c", text_field(spec, "shell")};
  } else {
    process.argv = list_field(spec, "command");
    if (process.argv.empty()) {
      throw core::Error(core::ExitCode::bad_definitions, "exec action: 'command' is empty",
                        "give the program and its arguments, e.g. command: [systemctl, restart, nginx]");
    }
  }
  process.env = map_field(spec, "env");
  process.cwd = text_field(spec, "cwd", false);
  if (spec.fields.contains("stdin")) {
    process.stdin_data = text_field(spec, "stdin");
  }
  process.max_output = size_field(spec, "max_output", process.max_output);
  process.timeout = spec.timeout;
  process.kill_grace = spec.kill_grace;
  return process;
}

std::string describe(const Spec& spec, const Context&) {
  auto process = process_spec(spec);
  std::string text = util::shell_join(process.argv);
  for (const auto& [name, value] : process.env) {
    text = fmt::format("{}={} {}", name, util::shell_quote(value), text);
  }
  if (!process.cwd.empty()) {
    text = fmt::format("(cd {}) {}", util::shell_quote(process.cwd.string()), text);
  }
  return text;
}

Outcome run(const Spec& spec, const Context&) { return process_outcome(util::run_process(process_spec(spec))); }

} // namespace

const Kind k_exec{"exec", describe, run};

} // namespace has::action
