// has: technical-risk management from the command line. main() builds the
// command line from one table, runs the chosen subcommand, and turns every
// error into a message and an exit code.

#include "cli.hpp"

#include <has/core/error.hpp>
#include <has/core/interrupt.hpp>
#include <has/core/log.hpp>
#include <has/core/redact.hpp>
#include <has/util/process.hpp>

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <unistd.h>

#if defined(__GLIBC__)
#include <malloc.h>
#include <sys/mman.h>
#endif

namespace {

using has::cmd::Globals;
using has::core::Error;
using has::core::ExitCode;

struct Command {
  const char* name;
  const char* summary;
  void (*add)(CLI::App&, Globals&);
};

// Every subcommand, in the order `has --help` lists them.
constexpr std::array<Command, 12> k_commands{{
  {"inspect", "run routine inspections and see their history", has::cmd::register_inspect},
  {"diagnose", "diagnose a fault with a decision tree: probes, questions, branches, diagnoses",
   has::cmd::register_diagnose},
  {"plan", "run emergency plans: steps, gates, journal, resume and rollback", has::cmd::register_plan},
  {"drill", "run fault drills (not yet available)", has::cmd::register_drill},
  {"failover", "switch between data centers (not yet available)", has::cmd::register_failover},
  {"risk", "risk events and their timelines: opened, diagnosed, plans run, resolved", has::cmd::register_risk},
  {"notify", "chat robots: test them, deliver and list the outbox", has::cmd::register_notify},
  {"validate", "check every definition of the workspace", has::cmd::register_validate},
  {"init", "create a starter workspace", has::cmd::register_init},
  {"state", "inspect the state file", has::cmd::register_state},
  {"completion", "print a shell completion script", has::cmd::register_completion},
  {"version", "print version, git commit and library versions", has::cmd::register_version},
}};

// SIGINT, SIGTERM, SIGHUP: children run in their own process groups and do
// not see the terminal's signal. A command that journals its work (a plan)
// stops cooperatively: its children get SIGTERM and their grace, a second
// signal kills them at once, a third leaves. Any other command ends its
// children and leaves with 130. What was written to the state file before
// stays; the journal is written before each action, never after.
extern "C" void on_interrupt(int signal_number) {
  auto say = [](const char* text, std::size_t size) {
    [[maybe_unused]] auto written = ::write(STDERR_FILENO, text, size);
  };
  if (has::core::cooperative_interrupt()) {
    int count = has::core::request_interrupt(signal_number);
    if (count == 1) {
      has::util::stop_running_children();
      constexpr char stopping[] = "\nhas: stopping: the running steps get SIGTERM (signal again to kill them)\n";
      say(stopping, sizeof(stopping) - 1);
      return;
    }
    if (count == 2) {
      has::util::kill_running_children(SIGKILL);
      constexpr char killing[] = "\nhas: killed the running steps (signal again to quit at once)\n";
      say(killing, sizeof(killing) - 1);
      return;
    }
  }
  has::util::kill_running_children(SIGKILL);
  constexpr char message[] = "\nhas: interrupted\n";
  say(message, sizeof(message) - 1);
  ::_exit(has::core::to_int(ExitCode::interrupted));
}

void print_error(std::string_view message) {
  std::cerr << "has: error: " << has::core::redact(message) << '\n';
}

// Returns the command path of the deepest subcommand selected, e.g. "has plan run".
std::string command_path(CLI::App& app) {
  std::string path = app.get_name();
  CLI::App* current = &app;
  while (true) {
    auto selected = current->get_subcommands();
    if (selected.empty()) {
      break;
    }
    current = selected.front();
    path += " " + current->get_name();
  }
  return path;
}

#if defined(__GLIBC__)
// Backs malloc's main heap with transparent huge pages. Where the kernel
// gives them only on request (THP "madvise", Ubuntu's default) every 4 KiB of
// a new heap is a page fault of its own, and a 5,000-check run touches tens
// of MiB: about a quarter of its wall time went to faults. So the heap is
// grown ahead by 64 MiB of address space (no memory until touched) and that
// range is marked for huge pages; large blocks come from the heap too, and
// what is freed stays for the next block. Where THP is off this changes
// nothing but those malloc settings.
void use_huge_pages() {
  constexpr std::uintptr_t k_huge_page = 2UL << 20;
  constexpr std::size_t k_ahead = 64UL << 20;
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TOP_PAD, static_cast<int>(k_ahead));
  mallopt(M_TRIM_THRESHOLD, static_cast<int>(2 * k_ahead));
  auto start = reinterpret_cast<std::uintptr_t>(sbrk(0));
  // volatile, or the compiler may leave out an allocation it sees unused.
  void* volatile grow = std::malloc(k_huge_page);
  auto end = reinterpret_cast<std::uintptr_t>(sbrk(0));
  std::free(grow);
  auto begin = (start + k_huge_page - 1) & ~(k_huge_page - 1);
  if (end > begin) {
    // Advice only: without it the heap works as before.
    ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
  }
}
#endif

} // namespace

int main(int argc, char** argv) {
#if defined(__GLIBC__)
  use_huge_pages();
#endif
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  std::signal(SIGHUP, on_interrupt);
  // A reader that went away (`has ... | head -1`, a closed ssh session) is
  // an error on a write, not the end of a run with children in flight.
  std::signal(SIGPIPE, SIG_IGN);
  Globals globals;
  CLI::App app{"has: technical-risk management for production systems — inspections, "
               "diagnosis, emergency plans, drills, failover and risk events.",
               "has"};
  app.set_version_flag("--version", std::string("has ") + HAS_VERSION);
  app.require_subcommand(1);
  app.fallthrough();
  app.footer("Exit status: 0 ok; check-like commands 1 warning, 2 critical, 3 unknown; "
             "1 failure, 64 usage, 65 bad definitions, 69 unavailable, 74 state/IO error, "
             "75 not now (a lock or protection rule refused it, or it waits for approval), 130 interrupted. "
             "See has(1).");

  app.add_option("-C", globals.workspace_dir, "workspace directory (default: search upwards for has.yaml)")
    ->type_name("DIR");
  app.add_option("--state", globals.state, "state file (default: .has/state.db in the workspace)")
    ->envname("HAS_STATE")
    ->type_name("FILE");
  app.add_option("-o,--format", globals.format,
                 "output: table (default on a terminal), json (default otherwise), ndjson, yaml, "
                 "markdown")
    ->type_name("FORMAT");
  app.add_flag("-q,--quiet", globals.quiet, "print results only, no notes");
  app.add_flag("-v,--verbose", globals.verbose, "explain what is done (-vv: more)");
  app.add_flag("--no-color", globals.no_color, "no colours (also NO_COLOR)");
  app.add_flag("--no-input", globals.no_input,
               "never wait for a person: a confirm step ends the run as waiting (also when stdin is no terminal)");

  // Runs after the global flags are read and before any subcommand acts.
  app.parse_complete_callback([&globals] {
    auto level = globals.quiet            ? has::core::LogLevel::quiet
                 : globals.verbose >= 2   ? has::core::LogLevel::debug
                 : globals.verbose == 1   ? has::core::LogLevel::verbose
                                          : has::core::LogLevel::normal;
    has::core::set_log_sink(
      [](has::core::LogLevel, std::string_view line) {
        std::cerr << "has: " << has::core::redact(line) << '\n';
      },
      level);
  });

  for (const auto& command : k_commands) {
    auto* sub = app.add_subcommand(command.name, command.summary);
    command.add(*sub, globals);
  }

  try {
    app.parse(argc, argv);
    return globals.exit_code;
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {
      return app.exit(e);
    }
    print_error(e.what());
    std::cerr << fmt::format("  help: run '{} --help' for usage\n", command_path(app));
    return has::core::to_int(ExitCode::usage);
  } catch (const Error& e) {
    print_error(e.render());
    return has::core::to_int(e.code());
  } catch (const std::exception& e) {
    print_error(e.what());
    return has::core::to_int(ExitCode::failure);
  }
}
