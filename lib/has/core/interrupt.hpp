#pragma once

// SIGINT, SIGTERM and SIGHUP alike. By default the signal handler ends the
// process at once (children killed, exit 130). A command that can stop
// cleanly — a plan journaling its steps — asks for a cooperative stop
// instead: the first signal asks the running children to stop (SIGTERM, then
// SIGKILL after their grace) and sets a flag the engine polls; a second
// signal kills the children at once; a third ends the process.

#include <string>

namespace has::core {

// Asks (true) or stops asking (false) for a cooperative stop.
void set_cooperative_interrupt(bool enabled) noexcept;
bool cooperative_interrupt() noexcept;

// Returns whether a cooperative stop was requested.
bool interrupt_requested() noexcept;

// Records a request by signal_number (async-signal-safe); returns how many
// requests there have been, this one included.
int request_interrupt(int signal_number) noexcept;

// Returns the signal of the first request (0 if none).
int interrupt_signal() noexcept;

// Returns why the command stops, as a person reads it: "interrupted by
// SIGHUP (the terminal closed)".
std::string interrupt_reason();

// Forgets the requests (after the command dealt with them).
void clear_interrupt() noexcept;

} // namespace has::core
