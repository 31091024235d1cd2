#include <has/defs/diagnostics.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <tuple>

namespace has::defs {

std::string Location::str() const {
  if (line <= 0) {
    return file;
  }
  if (column <= 0) {
    return fmt::format("{}:{}", file, line);
  }
  return fmt::format("{}:{}:{}", file, line, column);
}

void Diagnostics::error(Location where, std::string message) {
  m_items.push_back({std::move(where), Severity::error, std::move(message)});
}

void Diagnostics::warning(Location where, std::string message) {
  m_items.push_back({std::move(where), Severity::warning, std::move(message)});
}

void Diagnostics::note(Location where, std::string message) {
  m_items.push_back({std::move(where), Severity::note, std::move(message)});
}

std::string_view severity_name(Severity severity) {
  switch (severity) {
  case Severity::error: return "error";
  case Severity::warning: return "warning";
  case Severity::note: return "note";
  }
  return "error";
}

bool Diagnostics::has_errors() const noexcept { return error_count() > 0; }

std::size_t Diagnostics::error_count() const noexcept {
  return static_cast<std::size_t>(std::count_if(m_items.begin(), m_items.end(), [](const auto& d) {
    return d.severity == Severity::error;
  }));
}

std::vector<Diagnostic> Diagnostics::sorted() const {
  auto items = m_items;
  std::stable_sort(items.begin(), items.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.where.file, a.where.line, a.where.column) <
           std::tie(b.where.file, b.where.line, b.where.column);
  });
  return items;
}

} // namespace has::defs
