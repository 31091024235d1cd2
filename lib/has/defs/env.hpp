#pragma once

#include <has/defs/diagnostics.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace has::defs {

// Returns text with every ${env:NAME} replaced by that environment variable's
// value, resolved now (at use time, never at load time). Each value is
// registered as a secret, so it never reaches logs, errors, reports or state.
// Throws core::Error(ExitCode::bad_definitions) naming the variable when it is
// not set, and naming where when the reference is malformed.
std::string resolve_env(std::string_view text, const Location& where = {});

// Returns the names of the variables text refers to; throws like
// resolve_env() on a malformed reference. Used by validation.
std::vector<std::string> env_references(std::string_view text, const Location& where = {});

} // namespace has::defs
