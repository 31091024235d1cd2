#pragma once

#include <string>
#include <string_view>

namespace has::defs {

// A threshold in the Nagios plugin range syntax: "10" (alert outside 0..10),
// "10:" (below 10), "~:10" (above 10), "10:20" (outside 10..20), "@10:20"
// (inside 10..20, inclusive).
struct Range {
  double low = 0;
  double high = 0;
  bool low_infinite = false;
  bool high_infinite = false;
  bool inside = false; // '@': alert when the value is inside the range
  std::string text;

  // Returns whether value raises the alert this range describes.
  bool alerts(double value) const noexcept;
};

// Returns the range in text; throws core::Error(ExitCode::bad_definitions)
// naming the text and the expected syntax.
Range parse_range(std::string_view text);

} // namespace has::defs
