// kubectl: runs kubectl with an explicit kubeconfig, context and namespace, so
// a step never acts on whatever cluster the current context happens to be.

#include <has/action/kinds.hpp>
#include <has/action/support.hpp>
#include <has/core/error.hpp>
#include <has/util/process.hpp>

#include <fmt/format.h>

namespace has::action {

namespace {

// The value goes in its own argv element after its flag, but an empty one
// would silently mean "the default".
void add_flag(const Spec& spec, std::vector<std::string>& argv, std::string_view flag, std::string_view key) {
  if (!spec.fields.contains(key)) {
    return;
  }
  auto value = text_field(spec, key);
  if (value.empty()) {
    bad_field(spec, key, "is empty");
  }
  argv.emplace_back(flag);
  argv.push_back(std::move(value));
}

util::ProcessSpec process_spec(const Spec& spec) {
  util::ProcessSpec process;
  process.argv = {"kubectl"};
  add_flag(spec, process.argv, "--kubeconfig", "kubeconfig");
  add_flag(spec, process.argv, "--context", "context");
  add_flag(spec, process.argv, "-n", "namespace");
  auto args = list_field(spec, "args");
  if (args.empty()) {
    bad_field(spec, "args", "is empty", "e.g. args: [rollout, restart, deployment/api]");
  }
  process.argv.insert(process.argv.end(), args.begin(), args.end());
  if (spec.fields.contains("stdin")) {
    process.stdin_data = text_field(spec, "stdin");
  }
  process.timeout = spec.timeout;
  process.kill_grace = spec.kill_grace;
  return process;
}

std::string describe(const Spec& spec, const Context&) { return util::shell_join(process_spec(spec).argv); }

Outcome run(const Spec& spec, const Context&) { return process_outcome(util::run_process(process_spec(spec))); }

} // namespace

const Kind k_kubectl{"kubectl", describe, run};

} // namespace has::action
