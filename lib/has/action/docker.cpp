// docker: runs the docker (or podman) client with arguments, optionally
// against another engine (docker -H, podman --url).

#include <has/action/kinds.hpp>
#include <has/action/support.hpp>
#include <has/core/error.hpp>
#include <has/util/process.hpp>

#include <fmt/format.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string_view>

namespace has::action {

namespace {

// Whether an executable named name is in one of PATH's directories.
bool on_path(std::string_view name) {
  const char* path = std::getenv("PATH");
  std::string_view rest = path != nullptr ? path : "";
  while (true) {
    auto end = rest.find(':');
    auto dir = rest.substr(0, end);
    auto candidate = std::filesystem::path(dir.empty() ? "." : std::string(dir)) / std::string(name);
    if (::access(candidate.c_str(), X_OK) == 0) {
      return true;
    }
    if (end == std::string_view::npos) {
      return false;
    }
    rest.remove_prefix(end + 1);
  }
}

std::string engine_of(const Spec& spec) {
  auto engine = text_field(spec, "engine", false);
  if (engine.empty()) {
    return on_path("docker") || !on_path("podman") ? "docker" : "podman";
  }
  if (engine != "docker" && engine != "podman") {
    bad_field(spec, "engine", fmt::format("must be docker or podman, not '{}'", engine));
  }
  return engine;
}

util::ProcessSpec process_spec(const Spec& spec) {
  util::ProcessSpec process;
  auto engine = engine_of(spec);
  process.argv = {engine};
  if (spec.fields.contains("host")) {
    auto host = text_field(spec, "host");
    if (host.empty()) {
      bad_field(spec, "host", "is empty", "e.g. host: ssh://deploy@build-1 or tcp://10.0.0.5:2376");
    }
    process.argv.push_back(engine == "docker" ? "-H" : "--url");
    process.argv.push_back(host);
  }
  auto args = list_field(spec, "args");
  if (args.empty()) {
    bad_field(spec, "args", "is empty", "e.g. args: [restart, api]");
  }
  process.argv.insert(process.argv.end(), args.begin(), args.end());
  process.timeout = spec.timeout;
  process.kill_grace = spec.kill_grace;
  return process;
}

std::string describe(const Spec& spec, const Context&) { return util::shell_join(process_spec(spec).argv); }

Outcome run(const Spec& spec, const Context&) { return process_outcome(util::run_process(process_spec(spec))); }

} // namespace

const Kind k_docker{"docker", describe, run};

} // namespace has::action
