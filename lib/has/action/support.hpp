#pragma once

// Helpers shared by the action kinds (not part of the interface).

#include <has/action/action.hpp>
#include <has/util/process.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace has::action {

// Returns the field as a string (numbers and booleans as text); throws
// core::Error(bad_definitions) naming the field when it is missing (and
// required) or not a scalar.
std::string text_field(const Spec& spec, std::string_view key, bool required = true);
// Returns the field as a list of strings (scalars as text); a missing field
// is an empty list; throws like text_field() for anything else.
std::vector<std::string> list_field(const Spec& spec, std::string_view key);
// Returns the field as a map of strings (env, headers); throws like
// text_field() for anything but a mapping of scalars.
std::vector<std::pair<std::string, std::string>> map_field(const Spec& spec, std::string_view key);
// Returns the field as a boolean (true/false, or the words yes/no/on/off/
// true/false, as a resolved ${{ }} leaves them), fallback when missing;
// throws like text_field() for anything else.
bool bool_field(const Spec& spec, std::string_view key, bool fallback);
// Returns the field as a byte count ("1MiB", "4096"), fallback when missing;
// throws like text_field() for a bad size.
std::size_t size_field(const Spec& spec, std::string_view key, std::size_t fallback);
// Throws core::Error(bad_definitions) naming the field: "<kind> action:
// field '<key>' <what>", with an optional help line.
[[noreturn]] void bad_field(const Spec& spec, std::string_view key, std::string_view what,
                            std::string_view help = {});

// Returns the outcome of a finished program: ok on exit 0; outputs stdout,
// stderr, exit_code, timed_out and json (stdout parsed, when it is a JSON
// object or array).
Outcome process_outcome(const util::ProcessResult& result);

// Returns the address of host: its inventory address when host names an
// inventory host, else host itself.
std::string host_address(const Context& context, const std::string& host);

} // namespace has::action
