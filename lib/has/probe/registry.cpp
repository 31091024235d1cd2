#include <has/probe/kinds.hpp>
#include <has/probe/probe.hpp>

#include <has/core/error.hpp>

#include <fmt/format.h>

#include <array>

namespace has::probe {

namespace {

// A field given (and not null) in a probe's fields as written or resolved.
bool given(const nlohmann::json& fields, std::string_view key) {
  return fields.is_object() && fields.contains(key) && !fields.at(std::string(key)).is_null();
}

// Each kind's answer to relies_on_default(); nullptr: never (the status is
// the verdict either way, and expectations only add conditions).
using Relies = bool (*)(const nlohmann::json& fields, const Judging& judging);

// Thresholds do not replace the status class: an HTTP 503 stays critical.
bool http_relies(const nlohmann::json& fields, const Judging& judging) {
  return !judging.expect && !given(fields, "expect_status");
}

// Thresholds on a value cannot judge a query that returned no value.
bool prometheus_relies(const nlohmann::json&, const Judging& judging) {
  return !judging.expect;
}

// Thresholds replace the natural limits of a reading, not the verdict on a
// missing process or file.
bool system_relies(const nlohmann::json& fields, const Judging& judging) {
  return !judging.expect && (!judging.thresholds || given(fields, "process") || given(fields, "file"));
}

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
  Relies relies = nullptr;
  // A field of the probe that judges instead of the default (http's
  // expect_status); empty if none.
  std::string_view judging_field = {};
  // Whether the kind's values hold one named `value` (a Prometheus sample),
  // which a tree's branches then read instead of the node's status name.
  bool own_value = false;
};

// The one table of probe kinds this build can run.
constexpr std::array<Entry, 9> k_kinds{{
  {"http", make_http,
   "2xx and 3xx ok, 4xx warning, 5xx and no answer critical; with expect_status the listed statuses ok, "
   "any other critical",
   true, http_relies, "expect_status"},
  {"tcp", make_tcp, "connected ok; refused or timed out critical"},
  {"dns", make_dns, "NOERROR with at least one answer ok; NXDOMAIN, SERVFAIL, no answer or timeout critical"},
  {"exec", make_exec, "the program's exit code: 0 ok, 1 warning, 2 critical, 3 unknown"},
  {"system", make_system,
   "disk, inode, memory and file-handle use above 90% warning, above 95% critical; a certificate expiring "
   "within 30 days warning, within 7 critical; no matching process or no such file critical; thresholds of "
   "the rule's own replace the percentages and days",
   true, system_relies},
  {"sql", make_sql, "the query ran ok; cannot connect or a failed query critical"},
  {"prometheus", make_prometheus, "at least one sample ok; no sample critical", true, prometheus_relies, {}, true},
  {"page", make_page, "the page loaded without an HTTP error and every expect_text and expect_element was found"},
  {"container", make_container, "the container's exit code: 0 ok, 1 warning, 2 critical, 3 unknown"},
}};

// Returns the entry of kind, or nullptr.
const Entry* find(std::string_view kind) {
  for (const auto& entry : k_kinds) {
    if (entry.kind == kind) {
      return &entry;
    }
  }
  return nullptr;
}

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
  if (const auto* entry = find(spec.kind)) {
    return entry->make(spec);
  }
  throw core::Error(core::ExitCode::unavailable,
                    fmt::format("the {} probe is not available in this version of has", spec.kind));
}

std::string_view default_verdict(std::string_view kind) {
  const auto* entry = find(kind);
  return entry ? entry->default_verdict : std::string_view();
}

bool judges_beyond_status(std::string_view kind) {
  const auto* entry = find(kind);
  return entry && entry->judges_beyond_status;
}

bool relies_on_default(std::string_view kind, const nlohmann::json& fields, const Judging& judging) {
  const auto* entry = find(kind);
  return entry && entry->relies && entry->relies(fields, judging);
}

std::string_view judging_field(std::string_view kind) {
  const auto* entry = find(kind);
  return entry ? entry->judging_field : std::string_view();
}

bool has_own_value(std::string_view kind) {
  const auto* entry = find(kind);
  return entry && entry->own_value;
}

std::vector<std::string_view> kinds() {
  std::vector<std::string_view> out;
  for (const auto& entry : k_kinds) {
    out.push_back(entry.kind);
  }
  return out;
}

} // namespace has::probe
