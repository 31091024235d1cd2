#pragma once

// Risk events from outside: Prometheus Alertmanager webhooks, PagerDuty
// Events API v2 requests and has's own JSON form, turned into the events of
// the state file (one per fingerprint, as inspections raise them).

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace has::state {
class Store;
}

namespace has::risk {

enum class Format { automatic, alertmanager, pagerduty, json };

// Returns the format named auto, alertmanager, pagerduty or json, or nullopt.
std::optional<Format> parse_format(std::string_view name);

// What one alert of a payload says about one problem.
struct Incoming {
  std::string fingerprint; // prefixed with the sender: alertmanager:..., pagerduty:..., json:...
  std::string source;      // alertmanager, pagerduty, or the JSON event's source
  std::string title;
  std::string severity; // warning, critical or unknown
  std::string action;   // firing, resolved or acknowledged
  nlohmann::json labels = nlohmann::json::object(); // strings only
  std::string message;
  std::string at; // when it started (firing) or ended (resolved), UTC ISO-8601
};

// Parses a payload of the format (automatic: Alertmanager when it has
// "alerts", PagerDuty when it has "event_action", else has's JSON: one
// object or an array of them). Throws core::Error(ExitCode::bad_data)
// saying what is wrong and where; nothing is parsed in part.
std::vector<Incoming> parse(std::string_view body, Format format);

// How one incoming alert changed the events.
struct Applied {
  std::string fingerprint;
  std::optional<std::int64_t> event_id;
  std::string outcome; // opened, updated, resolved, acknowledged, or not_open (nothing open to change)
};

// Returns the outcomes as a JSON array of {fingerprint, event_id, outcome}.
nlohmann::json to_json(const std::vector<Applied>& applied);

// Applies the alerts in one transaction, in order. SqliteError when the
// state file cannot be written (then nothing is applied).
std::vector<Applied> apply(state::Store& store, const std::vector<Incoming>& alerts);

} // namespace has::risk
