#pragma once

#include <stdexcept>
#include <string>

namespace has::core {

// Process exit codes, as listed in has(1). Check-like commands use the Nagios
// convention (ok..unknown); everything else uses the sysexits-style codes.
enum class ExitCode : int {
  ok = 0,
  warning = 1,
  critical = 2,
  unknown = 3,
  failure = 1,
  usage = 64,
  bad_definitions = 65,
  bad_data = 65, // input that is not what it should be (EX_DATAERR)
  unavailable = 69,
  io = 74,
  tempfail = 75, // blocked by a lock or a protection rule: try again later
  interrupted = 130,
};

// The one error type of the library: what went wrong, why, what to do about
// it, and the exit code the process should end with.
class Error : public std::runtime_error {
public:
  Error(ExitCode code, std::string what, std::string reason = {}, std::string help = {});

  ExitCode code() const noexcept { return m_code; }
  const std::string& reason() const noexcept { return m_reason; }
  const std::string& help() const noexcept { return m_help; }

  // Returns the full message as has(1) prints it: the "what", then
  // "  reason:" and "  help:" lines where present (no "has: error:" prefix).
  std::string render() const;

private:
  ExitCode m_code;
  std::string m_reason;
  std::string m_help;
};

// Returns the exit code as an int for main().
constexpr int to_int(ExitCode code) noexcept { return static_cast<int>(code); }

} // namespace has::core
