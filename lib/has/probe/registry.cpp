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
  // How the kind judges an observation when a check writes no `expect`;
  // has-definitions(5) lists the same.
  std::string_view default_verdict;
  // Whether that verdict judges more than the probe's own status (an HTTP
  // 503 is observed fine, critical by default), so that expectations would
  // replace it rather than add to it.
  bool judges_beyond_status = false;
};

// The one table of probe kinds this build can run.
constexpr std::array<Entry, 9> k_kinds{{
  {"http", make_http,
   "2xx and 3xx ok, 4xx warning, 5xx and no answer critical; with expect_status the listed statuses ok, "
   "any other critical",
   true},
  {"tcp", make_tcp, "connected ok; refused or timed out critical"},
  {"dns", make_dns, "NOERROR with at least one answer ok; NXDOMAIN, SERVFAIL, no answer or timeout critical"},
  {"exec", make_exec, "the program's exit code: 0 ok, 1 warning, 2 critical, 3 unknown"},
  {"system", make_system,
   "disk, inode, memory and file-handle use above 90% warning, above 95% critical; a certificate expiring "
   "within 30 days warning, within 7 critical; no matching process or no such file critical; thresholds of "
   "the rule's own replace the percentages and days",
   true},
  {"sql", make_sql, "the query ran ok; cannot connect or a failed query critical"},
  {"prometheus", make_prometheus, "at least one sample ok; no sample critical", true},
  {"page", make_page, "the page loaded without an HTTP error and every expect_text and expect_element was found"},
  {"container", make_container, "the container's exit code: 0 ok, 1 warning, 2 critical, 3 unknown"},
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

std::string_view default_verdict(std::string_view kind) {
  for (const auto& entry : k_kinds) {
    if (entry.kind == kind) {
      return entry.default_verdict;
    }
  }
  return {};
}

bool judges_beyond_status(std::string_view kind) {
  for (const auto& entry : k_kinds) {
    if (entry.kind == kind) {
      return entry.judges_beyond_status;
    }
  }
  return false;
}

std::vector<std::string_view> kinds() {
  std::vector<std::string_view> out;
  for (const auto& entry : k_kinds) {
    out.push_back(entry.kind);
  }
  return out;
}

} // namespace has::probe
