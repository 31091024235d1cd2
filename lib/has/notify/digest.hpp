#pragma once

#include <has/defs/notifiers.hpp>
#include <has/notify/message.hpp>
#include <has/probe/probe.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace has::notify {

// What this run did to a rule on a target (inspect::Transition as data).
enum class Change { none, failing, recovered, changed_severity };

// One result of a run, as the digest reads it.
struct DigestItem {
  std::string rule;
  std::string target;
  probe::Status status = probe::Status::ok; // the effective status now
  Change transition = Change::none;
  std::string message;
  bool muted = false; // muted results are counted, never listed
};

struct DigestOptions {
  std::string source = "has inspect"; // the first words of the title
  std::optional<std::int64_t> run_id; // keys the digest, so a run is announced once per notifier
  std::optional<std::string> link;    // the full report
  std::size_t max_per_section = 20;   // items listed per section; the rest are counted
};

// Returns whether a notifier in mode sends a digest of items: always, or
// only when some unmuted item changed (newly failing, recovered, changed
// severity).
bool should_send(const std::vector<DigestItem>& items, defs::NotifyMode mode);

// Returns the one message of a run: a title with the worst status and what
// changed, then Markdown sections "Newly failing", "Severity changed",
// "Still failing" and "Recovered", and a line of counts. Its status is the
// worst unmuted status (ok when none); counts holds checks, ok, warning,
// critical, unknown, muted, newly_failing, severity_changed, still_failing
// and recovered; its key is "inspect-run-<id>" when options.run_id is set
// (else empty: enqueue() derives one from the content).
Message digest(const std::vector<DigestItem>& items, const DigestOptions& options);

// Returns the items of an inspection document (inspect/document.hpp):
// rule, target, status, message, muted when muted_by or muted is set, and the
// transition from a "transition" field when the document has one (none
// otherwise). Throws core::Error(failure) if document has no results list.
std::vector<DigestItem> digest_items(const nlohmann::json& document);

} // namespace has::notify
