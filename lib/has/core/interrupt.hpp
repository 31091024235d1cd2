#pragma once

// Ctrl-C and SIGTERM. By default the signal handler ends the process at once
// (children killed, exit 130). A command that can stop cleanly — a plan
// journaling its steps — asks for a cooperative stop instead: the first
// signal kills the running children and sets a flag the engine polls; a
// second signal ends the process at once.

namespace has::core {

// Asks (true) or stops asking (false) for a cooperative stop.
void set_cooperative_interrupt(bool enabled) noexcept;
bool cooperative_interrupt() noexcept;

// Returns whether a cooperative stop was requested.
bool interrupt_requested() noexcept;

// Records the request (async-signal-safe); returns false if one was already
// recorded.
bool request_interrupt() noexcept;

// Forgets a request (after the command dealt with it).
void clear_interrupt() noexcept;

} // namespace has::core
