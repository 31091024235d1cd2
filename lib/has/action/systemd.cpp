// systemd: starts, stops, restarts or reloads a unit, or checks that it is
// active, with systemctl — locally, or on `host` through ssh.

#include <has/action/kinds.hpp>
#include <has/action/ssh.hpp>
#include <has/action/support.hpp>
#include <has/core/error.hpp>
#include <has/util/process.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>

namespace has::action {

namespace {

constexpr std::array<std::string_view, 5> k_verbs{"start", "stop", "restart", "reload", "is-active"};

std::string verb_of(const Spec& spec) {
  auto verb = text_field(spec, "action");
  if (std::find(k_verbs.begin(), k_verbs.end(), verb) == k_verbs.end()) {
    bad_field(spec, "action", fmt::format("must be start, stop, restart, reload or is-active, not '{}'", verb));
  }
  return verb;
}

std::string unit_of(const Spec& spec) {
  auto unit = text_field(spec, "unit");
  // systemctl would take a leading '-' as an option.
  if (unit.empty() || unit.front() == '-' ||
      std::any_of(unit.begin(), unit.end(), [](unsigned char c) { return c < ' ' || c == 0x7f; })) {
    bad_field(spec, "unit", fmt::format("is not a unit name: '{}'", unit), "e.g. unit: nginx.service");
  }
  return unit;
}

util::ProcessSpec process_spec(const Spec& spec, const Context& context) {
  std::vector<std::string> systemctl{"systemctl"};
  if (bool_field(spec, "user_unit", false)) {
    systemctl.push_back("--user");
  }
  auto verb = verb_of(spec);
  systemctl.push_back(verb);
  if (verb == "is-active") {
    systemctl.push_back("--quiet");
  }
  systemctl.push_back(unit_of(spec));

  util::ProcessSpec process;
  if (spec.fields.contains("host") && !text_field(spec, "host", false).empty()) {
    process.argv = ssh_argv(spec, context);
    process.argv.push_back(remote_command(systemctl));
  } else {
    process.argv = std::move(systemctl);
  }
  process.timeout = spec.timeout;
  process.kill_grace = spec.kill_grace;
  return process;
}

std::string describe(const Spec& spec, const Context& context) {
  return util::shell_join(process_spec(spec, context).argv);
}

Outcome run(const Spec& spec, const Context& context) {
  auto result = util::run_process(process_spec(spec, context));
  auto outcome = process_outcome(result);
  auto verb = verb_of(spec);
  auto unit = unit_of(spec);
  if (result.timed_out || result.exit_code < 0) {
    outcome.message = fmt::format("systemctl {} {}: {}", verb, unit, outcome.message);
  } else if (verb == "is-active") {
    outcome.message = outcome.ok ? fmt::format("{} is active", unit)
                                 : fmt::format("{} is not active (exit {})", unit, result.exit_code);
  } else {
    outcome.message = fmt::format("systemctl {} {}: {}", verb, unit, outcome.message);
  }
  outcome.outputs["unit"] = unit;
  outcome.outputs["active"] = verb == "is-active" ? nlohmann::json(outcome.ok) : nlohmann::json(nullptr);
  return outcome;
}

} // namespace

const Kind k_systemd{"systemd", describe, run};

} // namespace has::action
