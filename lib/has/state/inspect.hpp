#pragma once

#include <has/core/error.hpp>
#include <has/state/sqlite.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace has::state {

class Store;

// The hysteresis of one rule on one target, carried across runs.
struct RuleState {
  std::string rule;
  std::string target;
  std::string effective = "ok"; // what the rule counts as, after fail_after/recover_after
  int fail_streak = 0;
  int ok_streak = 0;
  std::string history; // last raw outcomes, oldest first: 'o' ok, 'f' failing
  bool flapping = false;
  std::optional<std::string> last_raw;
  std::optional<std::string> last_message;
  std::string changed_at;
  std::string updated_at;
};

// One result of one rule on one target in one run.
struct InspectResult {
  std::int64_t id = 0;
  std::int64_t run_id = 0;
  std::string rule;
  std::string target;
  std::string status;     // effective status
  std::string raw_status; // this run's own outcome
  bool muted = false;
  bool flapping = false;
  std::string message;
  std::optional<std::string> detail;      // JSON: failed expectations, thresholds
  std::optional<std::string> values_json; // JSON: the probe's values
  std::optional<std::string> evidence;
  double elapsed_ms = 0;
  int attempts = 1;
  std::string at;
};

// Reads and writes inspection results and rule state. Methods do not open
// transactions themselves: callers group a run's writes in one
// Store::transaction. Every method throws SqliteError when the state file
// cannot be read or written.
class InspectRepository {
public:
  // Statements are prepared on first use and reused, so a repository may
  // only be used while its store is open.
  explicit InspectRepository(Store& store) noexcept : m_store(store) {}

  // Returns the state of every rule and target seen before.
  std::map<std::pair<std::string, std::string>, RuleState> states();
  // Inserts or replaces the state of state.rule on state.target.
  void save_state(const RuleState& state);
  // Inserts a result and returns its id.
  std::int64_t add_result(const InspectResult& result);
  // Returns the results of a run, in insertion order.
  std::vector<InspectResult> results_of_run(std::int64_t run_id);
  // Returns up to limit results (newest first), of one rule when given and
  // not older than since (ISO-8601) when given.
  std::vector<InspectResult> history(const std::optional<std::string>& rule,
                                     const std::optional<std::string>& since, int limit);

private:
  Store& m_store;
  std::optional<Statement> m_save_state;
  std::optional<Statement> m_add_result;
};

// A risk event: one problem, however often it is seen.
struct Event {
  std::int64_t id = 0;
  std::string fingerprint;
  std::string source;
  std::string title;
  std::string severity;
  std::string status; // open or resolved
  std::int64_t count = 1;
  std::optional<std::string> labels; // JSON object
  std::optional<std::string> message;
  std::string first_seen;
  std::string last_seen;
  std::optional<std::string> resolved_at;
  std::optional<std::int64_t> run_id; // the run that saw it last (or resolved it)
  std::optional<std::string> acknowledged_by;
  std::optional<std::string> acknowledged_at;
  std::optional<std::string> assignee;
  std::optional<std::string> resolved_by; // who resolved it by hand
  std::optional<std::string> handled_at;  // when `has risk handle` dealt with it
  std::optional<std::string> level;       // from its scenario's grading rules
};

// One line of a risk event's timeline, written by the state file's triggers
// as events, diagnosis runs and plan runs change.
struct TimelineEntry {
  std::int64_t id = 0;
  std::int64_t event_id = 0;
  std::string at;
  std::string kind;   // opened, severity, resolved, diagnosis or plan
  std::string source; // the event's source, diagnose or plan
  std::string text;
  std::optional<std::int64_t> run_id;
  std::optional<std::string> user; // who did it: an operator, or who ran run_id
  std::optional<std::string> data; // JSON: a diagnosis's conclusion, a plan's state
};

// Returns the error for an event id the state file does not have (usage:
// the id came from the command line or a definition).
core::Error unknown_event(std::int64_t id);

// Returns the event's fields as plans and trees see them in expressions
// (event.id, title, severity, source, status, fingerprint, count, labels,
// message).
nlohmann::json event_values(const Event& event);

// Reads and writes risk events; like InspectRepository, no transactions of
// its own, and SqliteError on failure.
class EventRepository {
public:
  explicit EventRepository(Store& store) noexcept : m_store(store) {}

  // Records a sighting of the problem behind event.fingerprint: bumps the
  // count, severity and last_seen of its open event, or opens a new one.
  // Returns the event's id and whether it was opened now.
  std::pair<std::int64_t, bool> raise(const Event& event);
  // Resolves the open event with this fingerprint, if any; returns its id.
  std::optional<std::int64_t> resolve(const std::string& fingerprint, const std::string& at,
                                      std::optional<std::int64_t> run_id = {});
  // Returns the event with this id, or nullopt.
  std::optional<Event> get(std::int64_t id);
  // Returns the id of the open event with this fingerprint, or nullopt.
  std::optional<std::int64_t> open_id(const std::string& fingerprint);
  // Returns up to limit events, newest sighting first, of one status when given.
  std::vector<Event> list(const std::optional<std::string>& status, int limit);
  // Returns the timeline of one event, oldest line first.
  std::vector<TimelineEntry> timeline(std::int64_t id);

  // An operator's work on an event, each with its line on the timeline
  // (run them in one transaction). acknowledge, assign and close return
  // false when the event is not open; close resolves it by hand.
  bool acknowledge(std::int64_t id, const std::string& by, const std::string& at);
  bool assign(std::int64_t id, const std::string& assignee, const std::string& by, const std::string& at);
  bool close(std::int64_t id, const std::string& by, const std::string& at);
  void comment(std::int64_t id, const std::string& text, const std::string& by, const std::string& at);
  // Adds a line (entry.user, when set, is who did it).
  void note(const TimelineEntry& entry);

  // Open events not yet handled (`has risk handle --new`), oldest first.
  std::vector<std::int64_t> unhandled();
  void mark_handled(std::int64_t id, const std::string& at);
  // Sets the event's level; returns whether it changed.
  bool set_level(std::int64_t id, const std::string& level);
  // Marks it handled unless it already is; returns whether this call did.
  bool claim(std::int64_t id, const std::string& at);
  // Marks it not handled (handling failed: the next `--new` tries again).
  void release(std::int64_t id);

private:
  Store& m_store;
};

} // namespace has::state
