#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace has::defs {

// A place in a definition file; line and column are 1-based (0 = unknown).
struct Location {
  std::string file;
  int line = 0;
  int column = 0;

  // Returns "file:line:col" (or less where parts are unknown).
  std::string str() const;
};

// note: not a problem, something a reviewer should see (has validate --strict
// makes notes errors).
enum class Severity { error, warning, note };

// Returns "error", "warning" or "note".
std::string_view severity_name(Severity severity);

// One problem found in the definitions.
struct Diagnostic {
  Location where;
  Severity severity = Severity::error;
  std::string message;
};

// Collects every problem of a load, so that `has validate` reports all of them
// in one pass rather than stopping at the first.
class Diagnostics {
public:
  void error(Location where, std::string message);
  void warning(Location where, std::string message);
  void note(Location where, std::string message);

  // Returns whether any error (not warning) was recorded.
  bool has_errors() const noexcept;
  std::size_t error_count() const noexcept;
  // Returns the problems sorted by file, line and column.
  std::vector<Diagnostic> sorted() const;
  const std::vector<Diagnostic>& all() const noexcept { return m_items; }

private:
  std::vector<Diagnostic> m_items;
};

} // namespace has::defs
