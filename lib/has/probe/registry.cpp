#include <has/probe/kinds.hpp>
#include <has/probe/probe.hpp>

#include <has/core/error.hpp>

#include <fmt/format.h>

#include <array>

namespace has::probe {

namespace {

struct Entry {
  std::string_view kind;
  Task (*make)(const Spec&);
};

// The one table of probe kinds this build can run.
constexpr std::array<Entry, 9> k_kinds{{
  {"http", make_http},
  {"tcp", make_tcp},
  {"dns", make_dns},
  {"exec", make_exec},
  {"system", make_system},
  {"sql", make_sql},
  {"prometheus", make_prometheus},
  {"page", make_page},
  {"container", make_container},
}};

constexpr std::array<std::string_view, 4> k_names{"ok", "warning", "critical", "unknown"};

} // namespace

std::string_view status_name(Status status) {
  return k_names.at(static_cast<std::size_t>(status));
}

std::optional<Status> parse_status(std::string_view text) {
  for (std::size_t i = 0; i < k_names.size(); ++i) {
    if (k_names[i] == text) {
      return static_cast<Status>(i);
    }
  }
  return std::nullopt;
}

Status worst(Status a, Status b) {
  return static_cast<int>(a) >= static_cast<int>(b) ? a : b;
}

Task make_task(const Spec& spec) {
  for (const auto& entry : k_kinds) {
    if (entry.kind == spec.kind) {
      return entry.make(spec);
    }
  }
  throw core::Error(core::ExitCode::unavailable,
                    fmt::format("the {} probe is not available in this version of has", spec.kind));
}

std::vector<std::string_view> kinds() {
  std::vector<std::string_view> out;
  for (const auto& entry : k_kinds) {
    out.push_back(entry.kind);
  }
  return out;
}

} // namespace has::probe
