// The container probe runs a test image to completion (`docker run --rm` or
// `podman run --rm`) and reads its exit code the way Nagios reads a plugin's:
// 0 ok, 1 warning, 2 critical, anything else unknown. Environment values may
// be secrets, so they reach the container through the engine's own
// environment and `-e NAME`, never through its command line, which any user
// of the machine can read in /proc.

#include <has/probe/fields.hpp>
#include <has/probe/http_text.hpp>
#include <has/probe/kinds.hpp>

#include <has/core/error.hpp>
#include <has/core/log.hpp>

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <random>

namespace has::probe {

namespace {

constexpr std::array<std::string_view, 2> k_engines{"docker", "podman"};
constexpr std::size_t k_evidence_bytes = 2048;

[[noreturn]] void bad_field(std::string_view field, std::string_view what, std::string_view help = {}) {
  throw core::Error(core::ExitCode::bad_definitions, fmt::format("container probe: field '{}' {}", field, what), {},
                    std::string(help));
}

// Returns whether program is an executable file in PATH.
bool installed(std::string_view program) {
  const char* path = std::getenv("PATH");
  std::string_view rest = path != nullptr ? path : "";
  while (!rest.empty()) {
    auto colon = rest.find(':');
    auto dir = rest.substr(0, colon);
    if (!dir.empty()) {
      auto candidate = std::filesystem::path(dir) / program;
      std::error_code ec;
      if (std::filesystem::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0) {
        return true;
      }
    }
    if (colon == std::string_view::npos) {
      break;
    }
    rest.remove_prefix(colon + 1);
  }
  return false;
}

bool env_name(std::string_view name) {
  return !name.empty() && (std::isalpha(static_cast<unsigned char>(name.front())) || name.front() == '_') &&
         std::ranges::all_of(name, [](unsigned char c) { return std::isalnum(c) || c == '_'; });
}

std::string first_line(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  text = text.substr(0, text.find('\n'));
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return std::string(text);
}

// A name no other run picks, so a container left by a timeout can be removed.
std::string container_name() {
  static std::atomic<unsigned> counter{0};
  static const auto salt = std::random_device{}();
  return fmt::format("has-probe-{}-{:x}-{}", ::getpid(), salt, counter++);
}

// What the callback needs to know about the run it reads.
struct Plan {
  std::string engine;
  std::string image;
  std::string name;
  std::chrono::milliseconds timeout{0};
};

Result unavailable(std::string message) {
  Result result;
  result.status = Status::unknown;
  result.message = std::move(message);
  result.values = {{"exit_code", nullptr}, {"stdout", ""}, {"stderr", ""}, {"elapsed_ms", 0},
                   {"error", result.message}};
  return result;
}

// Killing `docker run` on a timeout leaves the container running: remove
// it by the name it was given. Best effort; the result says timed out
// whatever happens here.
void remove_container(const Plan& plan) {
  util::ProcessSpec remove;
  remove.argv = {plan.engine, "rm", "--force", plan.name};
  remove.timeout = std::chrono::seconds(20);
  try {
    auto run = util::run_process(remove);
    HAS_LOG("{} rm --force {}: exit code {}", plan.engine, plan.name, run.exit_code);
  } catch (const std::exception& e) {
    HAS_LOG("{} rm --force {}: {}", plan.engine, plan.name, e.what());
  }
}

Result interpret(const util::ProcessResult& run, const Plan& plan) {
  // run_processes reports a program it could not start as 127 at once.
  if (run.exit_code == 127 && run.elapsed.count() == 0 && run.err.starts_with("cannot run '")) {
    auto reason = run.err.find("reason: ");
    return unavailable(fmt::format("cannot run '{}': {}", plan.engine,
                                   first_line(reason == std::string::npos ? run.err : run.err.substr(reason + 8))));
  }
  Result result;
  result.elapsed_ms = static_cast<double>(run.elapsed.count());
  auto out = utf8_text(run.out);
  auto err = utf8_text(run.err);
  auto err_line = first_line(err);
  std::string how;
  if (run.timed_out) {
    remove_container(plan);
    result.status = Status::critical;
    result.message = fmt::format("{} did not finish within {} ms", plan.image, plan.timeout.count());
    how = result.message;
  } else if (run.exit_code >= 0 && run.exit_code <= 3) {
    result.status = static_cast<Status>(run.exit_code);
    how = fmt::format("exit code {}", run.exit_code);
    auto line = first_line(out);
    result.message = line.empty() ? fmt::format("{} ended with {}", plan.image, how) : line;
  } else {
    result.status = Status::unknown;
    how = run.exit_code >= 0 ? fmt::format("exit code {}", run.exit_code)
                             : fmt::format("killed by signal {}", run.term_signal);
    // 125: the engine itself failed (no daemon, image not found, bad flag);
    // 126 and 127: the image's command could not be run.
    std::string_view who = run.exit_code == 125                           ? "the container engine failed"
                           : run.exit_code == 126 || run.exit_code == 127 ? "the image's command could not run"
                                                                          : "not a plugin status (0-3)";
    result.message = fmt::format("{} run {}: {} ({}){}", plan.engine, plan.image, how, who,
                                 err_line.empty() ? "" : ": " + err_line);
  }
  result.evidence = how;
  if (!out.empty()) {
    result.evidence += "\nstdout:\n" + excerpt(out, k_evidence_bytes);
  }
  if (!err.empty()) {
    result.evidence += "\nstderr:\n" + excerpt(err, k_evidence_bytes);
  }
  result.values = {{"exit_code", run.timed_out ? nlohmann::json(nullptr) : nlohmann::json(run.exit_code)},
                   {"stdout", out},
                   {"stderr", err},
                   {"elapsed_ms", run.elapsed.count()},
                   {"engine", plan.engine},
                   {"image", plan.image}};
  return result;
}

} // namespace

std::vector<std::string> container_argv(std::string_view engine, const nlohmann::json& fields,
                                        std::string_view name) {
  Fields reader("container", fields);
  auto image = reader.string("image");
  if (image.empty() || image.front() == '-' || std::ranges::any_of(image, [](unsigned char c) {
        return std::isspace(c) != 0 || std::iscntrl(c) != 0;
      })) {
    bad_field("image", fmt::format("must be an image reference such as alpine:3.19, not '{}'", image));
  }
  std::vector<std::string> argv{std::string(engine), "run", "--rm", "--name", std::string(name)};
  argv.push_back(reader.boolean("pull").value_or(false) ? "--pull=always" : "--pull=missing");
  for (const auto& [variable, value] : reader.string_map("env")) {
    if (!env_name(variable)) {
      bad_field("env", fmt::format("has '{}', which is not an environment variable name", variable));
    }
    argv.insert(argv.end(), {"-e", variable});
  }
  argv.push_back(image);
  auto args = reader.strings("args");
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

Task make_container(const Spec& spec) {
  Fields fields("container", spec.fields);
  auto chosen = fields.optional_string("engine");
  if (chosen && std::ranges::find(k_engines, *chosen) == k_engines.end()) {
    bad_field("engine", fmt::format("must be docker or podman, not '{}'", *chosen));
  }
  Plan plan;
  plan.name = container_name();
  plan.timeout = fields.duration("timeout").value_or(spec.timeout);
  if (plan.timeout.count() <= 0) {
    bad_field("timeout", "must be longer than zero");
  }
  // Checked before looking for an engine, so a bad definition is reported
  // as one on machines without an engine too.
  auto argv = container_argv(chosen.value_or("docker"), spec.fields, plan.name);
  plan.image = fields.string("image");

  Task task;
  if (chosen && !installed(*chosen)) {
    task.blocking = [message = fmt::format("container engine '{}' is not installed (not found in PATH)", *chosen)] {
      return unavailable(message);
    };
    return task;
  }
  if (!chosen) {
    auto found = std::ranges::find_if(k_engines, installed);
    if (found == k_engines.end()) {
      task.blocking = [] { return unavailable("no container engine (docker or podman) is installed"); };
      return task;
    }
    chosen = std::string(*found);
    argv.front() = *chosen;
  }
  plan.engine = *chosen;

  util::ProcessSpec process;
  process.argv = std::move(argv);
  for (auto& [variable, value] : fields.string_map("env")) {
    process.env.emplace_back(variable, std::move(value));
  }
  process.timeout = plan.timeout;
  task.process = std::move(process);
  task.on_process = [plan = std::move(plan)](const util::ProcessResult& run) { return interpret(run, plan); };
  return task;
}

} // namespace has::probe
