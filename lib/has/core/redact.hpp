#pragma once

#include <string>
#include <string_view>

namespace has::core {

// The text that replaces a secret wherever it would be shown.
inline constexpr std::string_view k_redacted = "[redacted]";

// Records value as a secret: from now on redact() hides it. Values shorter
// than 3 characters are not recorded (hiding them would mangle all output).
void register_secret(std::string_view value);

// Returns text with every recorded secret replaced by k_redacted. Used by
// the log sink, error output, reports and everything written to state.
std::string redact(std::string_view text);

// Returns whether any secret has been recorded (if not, redact() is a copy).
bool has_secrets() noexcept;

} // namespace has::core
