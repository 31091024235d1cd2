#pragma once

// Private to the network probes (http, tcp): what came off the wire as text
// that JSON values and reports can hold.

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace has::probe {

// Returns bytes as valid UTF-8: every byte that does not start a well-formed
// sequence becomes U+FFFD, so any reply (binary too) can go into JSON.
std::string utf8_text(std::string_view bytes);

// Returns at most max_bytes of bytes as valid UTF-8, cut on a character
// boundary, with "..." appended when something was left out.
std::string excerpt(std::string_view bytes, std::size_t max_bytes);

// Returns the milliseconds from start to now, as a number for values.
double elapsed_ms_since(std::chrono::steady_clock::time_point start);

} // namespace has::probe
