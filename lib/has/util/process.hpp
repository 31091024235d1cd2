#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace has::util {

// Whether a child starts from this process's environment or from nothing.
enum class EnvMode { inherit, clean };

// One program to run: never through a shell unless argv itself names one.
struct ProcessSpec {
  // argv[0] is looked up in PATH (the child's PATH if the spec sets one, else
  // ours) when it has no '/'.
  std::vector<std::string> argv;
  // Added to, or overriding, the inherited environment (the whole environment
  // in EnvMode::clean).
  std::vector<std::pair<std::string, std::string>> env;
  EnvMode env_mode = EnvMode::inherit;
  // Empty: our current directory.
  std::filesystem::path cwd;
  // Written to the child's stdin; without it stdin is /dev/null.
  std::optional<std::string> stdin_data;
  // 0: no limit. On expiry the child's whole process group gets SIGKILL.
  std::chrono::milliseconds timeout{0};
  // After stop_running_children(): how long the group has between SIGTERM
  // and SIGKILL (0: SIGKILL at once).
  std::chrono::milliseconds kill_grace{0};
  // Bytes kept per stream; the rest is read and dropped.
  std::size_t max_output = 1 << 20;
};

// How one run ended, and what it wrote.
struct ProcessResult {
  int exit_code = -1; // -1 when killed by a signal
  int term_signal = 0;
  bool timed_out = false;
  bool stopped = false; // stop_running_children() reached it
  bool killed = false;  // ...and it outlived its kill_grace
  std::string out, err;
  bool out_truncated = false, err_truncated = false;
  std::chrono::milliseconds elapsed{0};
};

// Runs one program to completion (each child leads its own process group) and
// returns how it ended. Output is read until EOF, so a background grandchild
// that keeps stdout open holds the result until the timeout. Throws
// core::Error(ExitCode::unavailable), naming argv[0], if the program cannot be
// found or executed (or the cwd is unusable).
ProcessResult run_process(const ProcessSpec& spec);

// Runs all specs, at most `concurrency` at once (0 counts as 1), from the
// calling thread with no thread per child; calls on_done(index, result) on the
// calling thread once per index as each finishes. A program that cannot be
// started is reported as exit_code 127 with the reason in err, not thrown. An
// exception from on_done kills and reaps the running children, then
// propagates.
void run_processes(const std::vector<ProcessSpec>& specs, std::size_t concurrency,
                   const std::function<void(std::size_t, ProcessResult)>& on_done);

// Sends signal_number to the process group of every child that
// run_process() or run_processes() has in flight. Async-signal-safe: meant
// for the handler of SIGINT and SIGTERM, since children in their own groups
// do not get the terminal's Ctrl-C.
void kill_running_children(int signal_number) noexcept;

// Asks every child in flight to stop: its process group gets SIGTERM, then
// SIGKILL once its spec's kill_grace has passed. Children started later are
// not affected. Async-signal-safe (the loops running the children see the
// request within 100 ms).
void stop_running_children() noexcept;
// Returns the word quoted so that a POSIX shell reads it back unchanged (as is
// when it needs no quotes): for display (dry runs, logs), and for the command
// line that ssh hands to the remote shell — nothing local is run through it.
std::string shell_quote(std::string_view word);

// Returns argv as one shell-quoted line (see shell_quote()).
std::string shell_join(const std::vector<std::string>& argv);

} // namespace has::util
