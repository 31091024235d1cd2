#include <has/risk/ingest.hpp>

#include <has/core/error.hpp>
#include <has/defs/units.hpp>
#include <has/state/clock.hpp>
#include <has/state/inspect.hpp>
#include <has/state/store.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>

namespace has::risk {

namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& where, const std::string& what) {
  throw core::Error(core::ExitCode::bad_data, fmt::format("{}: {}", where, what), {},
                    "see has-risk(1) for the formats `has risk ingest` and `has risk serve` take");
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

// The has severity of a sender's: critical and warning and their usual
// synonyms; anything else is unknown.
std::string severity_of(const std::string& given) {
  static constexpr std::array<std::string_view, 9> critical{"critical", "crit",  "error", "err",  "high",
                                                            "page",     "fatal", "major", "emergency"};
  static constexpr std::array<std::string_view, 8> warning{"warning", "warn", "medium", "low",
                                                           "minor",   "info", "notice", "informational"};
  const auto name = lower(given);
  if (name.empty()) {
    return "warning";
  }
  if (std::find(critical.begin(), critical.end(), name) != critical.end()) {
    return "critical";
  }
  if (std::find(warning.begin(), warning.end(), name) != warning.end()) {
    return "warning";
  }
  return "unknown";
}

// FNV-1a, 64 bits, in hex: a short stable name for a set of labels.
std::string digest(std::string_view text) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  return fmt::format("{:016x}", hash);
}

// Returns the time as has writes it, or now when the sender gave none (or
// Alertmanager's zero time).
std::string time_of(const json& value, const std::string& where) {
  if (!value.is_string() || value.get<std::string>().empty() || value.get<std::string>().rfind("0001-", 0) == 0) {
    return state::now_iso8601();
  }
  try {
    return state::format_iso8601(defs::parse_time(value.get<std::string>()));
  } catch (const core::Error& e) {
    bad(where, e.what());
  }
}

std::string text_of(const json& object, const char* key, const std::string& where) {
  if (!object.contains(key) || object[key].is_null()) {
    return {};
  }
  if (!object[key].is_string()) {
    bad(where, fmt::format("'{}' must be a string", key));
  }
  return object[key].get<std::string>();
}

json string_labels(const json& value, const std::string& where) {
  json labels = json::object();
  if (value.is_null()) {
    return labels;
  }
  if (!value.is_object()) {
    bad(where, "labels must be an object of strings");
  }
  for (const auto& [key, item] : value.items()) {
    if (item.is_string()) {
      labels[key] = item;
    } else if (item.is_number() || item.is_boolean()) {
      labels[key] = item.dump();
    } else {
      bad(where, fmt::format("label '{}' must be a string", key));
    }
  }
  return labels;
}

// Alertmanager's webhook (version 4): {"alerts": [{status, labels,
// annotations, startsAt, endsAt, fingerprint}, ...], ...}.
std::vector<Incoming> from_alertmanager(const json& doc) {
  if (!doc.contains("alerts") || !doc["alerts"].is_array()) {
    bad("alertmanager payload", "no \"alerts\" array");
  }
  std::vector<Incoming> out;
  std::size_t index = 0;
  for (const auto& alert : doc["alerts"]) {
    const auto where = fmt::format("alerts[{}]", index++);
    if (!alert.is_object()) {
      bad(where, "an alert must be an object");
    }
    Incoming in;
    in.source = "alertmanager";
    in.labels = string_labels(alert.value("labels", json::object()), where);
    const json annotations = alert.value("annotations", json::object());
    if (!annotations.is_object()) {
      bad(where, "annotations must be an object");
    }
    const auto status = text_of(alert, "status", where);
    if (status != "firing" && status != "resolved") {
      bad(where, fmt::format("status '{}' is neither firing nor resolved", status));
    }
    in.action = status;
    auto fingerprint = text_of(alert, "fingerprint", where);
    in.fingerprint = "alertmanager:" + (fingerprint.empty() ? digest(in.labels.dump()) : fingerprint);
    const auto name = in.labels.value("alertname", std::string());
    const auto instance = in.labels.value("instance", std::string());
    in.title = text_of(annotations, "summary", where);
    if (in.title.empty()) {
      in.title = name.empty() ? "alert" : name;
      if (!instance.empty()) {
        in.title += " on " + instance;
      }
    }
    in.message = text_of(annotations, "description", where);
    in.severity = severity_of(in.labels.value("severity", std::string()));
    in.at = status == "firing" ? time_of(alert.value("startsAt", json()), where)
                               : time_of(alert.value("endsAt", json()), where);
    out.push_back(std::move(in));
  }
  return out;
}

// PagerDuty Events API v2: {routing_key, event_action: trigger|acknowledge|
// resolve, dedup_key, payload: {summary, source, severity, timestamp,
// component, group, class, custom_details}}.
std::vector<Incoming> from_pagerduty(const json& doc) {
  const std::string where = "pagerduty event";
  const auto action = text_of(doc, "event_action", where);
  Incoming in;
  in.source = "pagerduty";
  auto dedup = text_of(doc, "dedup_key", where);
  if (action == "trigger") {
    in.action = "firing";
    if (!doc.contains("payload") || !doc["payload"].is_object()) {
      bad(where, "a trigger needs a \"payload\" object");
    }
    const auto& payload = doc["payload"];
    in.title = text_of(payload, "summary", where + ".payload");
    if (in.title.empty()) {
      bad(where, "payload.summary is required");
    }
    const auto origin = text_of(payload, "source", where + ".payload");
    in.severity = severity_of(text_of(payload, "severity", where + ".payload"));
    for (const char* key : {"component", "group", "class"}) {
      auto value = text_of(payload, key, where + ".payload");
      if (!value.empty()) {
        in.labels[key] = value;
      }
    }
    if (!origin.empty()) {
      in.labels["source"] = origin;
    }
    if (payload.contains("custom_details") && !payload["custom_details"].is_null()) {
      const auto& details = payload["custom_details"];
      in.message = details.is_string() ? details.get<std::string>() : details.dump();
    }
    in.at = time_of(payload.value("timestamp", json()), where + ".payload.timestamp");
    if (dedup.empty()) {
      dedup = digest(in.title + "\n" + origin);
    }
  } else if (action == "resolve" || action == "acknowledge") {
    in.action = action == "resolve" ? "resolved" : "acknowledged";
    if (dedup.empty()) {
      bad(where, fmt::format("{} needs the dedup_key of the event", action));
    }
    in.at = state::now_iso8601();
  } else {
    bad(where, fmt::format("event_action '{}' is not trigger, acknowledge or resolve", action));
  }
  in.fingerprint = "pagerduty:" + dedup;
  return {in};
}

// has's own form: {title, severity, status: firing|resolved, fingerprint,
// source, labels, message, at}; one object or an array.
Incoming from_json_event(const json& item, const std::string& where) {
  static constexpr std::array<std::string_view, 8> known{"title",  "severity", "status",  "fingerprint",
                                                         "source", "labels",   "message", "at"};
  if (!item.is_object()) {
    bad(where, "an event must be an object");
  }
  for (const auto& [key, value] : item.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      bad(where, fmt::format("unknown field '{}' (known: title, severity, status, fingerprint, source, labels, "
                             "message, at)",
                             key));
    }
  }
  Incoming in;
  in.title = text_of(item, "title", where);
  in.source = text_of(item, "source", where);
  if (in.source.empty()) {
    in.source = "json";
  }
  // Scenarios trust these sources to be has's own or their senders'.
  for (const char* reserved : {"inspect", "alertmanager", "pagerduty", "drill", "diagnose", "plan"}) {
    if (in.source == reserved) {
      bad(where, fmt::format("source '{}' is reserved for has's own events and its senders", in.source));
    }
  }
  in.labels = string_labels(item.value("labels", json()), where);
  auto status = text_of(item, "status", where);
  in.action = status.empty() ? "firing" : status;
  if (in.action != "firing" && in.action != "resolved") {
    bad(where, fmt::format("status '{}' is neither firing nor resolved", status));
  }
  auto fingerprint = text_of(item, "fingerprint", where);
  if (fingerprint.empty()) {
    if (in.title.empty() && in.labels.empty()) {
      bad(where, "an event needs a fingerprint, a title or labels");
    }
    fingerprint = digest(in.labels.empty() ? in.title : in.labels.dump());
  }
  in.fingerprint = "json:" + in.source + ":" + fingerprint;
  if (in.action == "firing" && in.title.empty()) {
    bad(where, "a firing event needs a title");
  }
  const auto severity = text_of(item, "severity", where);
  in.severity = severity_of(severity);
  in.message = text_of(item, "message", where);
  in.at = time_of(item.value("at", json()), where + ".at");
  return in;
}

std::vector<Incoming> from_json(const json& doc) {
  std::vector<Incoming> out;
  if (doc.is_array()) {
    for (std::size_t i = 0; i < doc.size(); ++i) {
      out.push_back(from_json_event(doc[i], fmt::format("events[{}]", i)));
    }
  } else {
    out.push_back(from_json_event(doc, "event"));
  }
  return out;
}

} // namespace

std::optional<Format> parse_format(std::string_view name) {
  if (name == "auto") {
    return Format::automatic;
  }
  if (name == "alertmanager") {
    return Format::alertmanager;
  }
  if (name == "pagerduty") {
    return Format::pagerduty;
  }
  if (name == "json") {
    return Format::json;
  }
  return std::nullopt;
}

std::vector<Incoming> parse(std::string_view body, Format format) {
  // Deeper nesting than any sender uses is refused while parsing: copying
  // or printing it would recurse past the stack.
  static constexpr int k_max_depth = 32;
  const json::parser_callback_t depth_limit = [](int depth, json::parse_event_t, json&) {
    if (depth > k_max_depth) {
      bad("payload", fmt::format("nested deeper than {} levels", k_max_depth));
    }
    return true;
  };
  json doc;
  try {
    doc = json::parse(body, depth_limit);
  } catch (const json::parse_error& e) {
    bad("payload", fmt::format("not JSON: {}", e.what()));
  }
  if (format == Format::automatic) {
    format = doc.is_object() && doc.contains("alerts")         ? Format::alertmanager
             : doc.is_object() && doc.contains("event_action") ? Format::pagerduty
                                                               : Format::json;
  }
  if ((format == Format::alertmanager || format == Format::pagerduty) && !doc.is_object()) {
    bad("payload", "expected a JSON object");
  }
  switch (format) {
  case Format::alertmanager: return from_alertmanager(doc);
  case Format::pagerduty: return from_pagerduty(doc);
  default: return from_json(doc);
  }
}

nlohmann::json to_json(const std::vector<Applied>& applied) {
  auto list = json::array();
  for (const auto& item : applied) {
    list.push_back({{"fingerprint", item.fingerprint},
                    {"event_id", item.event_id ? json(*item.event_id) : json()},
                    {"outcome", item.outcome}});
  }
  return list;
}

std::vector<Applied> apply(state::Store& store, const std::vector<Incoming>& alerts) {
  std::vector<Applied> out;
  store.transaction([&] {
    out.clear();
    state::EventRepository events(store);
    const auto now = state::now_iso8601();
    for (const auto& alert : alerts) {
      Applied applied{alert.fingerprint, std::nullopt, "not_open"};
      if (alert.action == "firing") {
        state::Event event;
        event.fingerprint = alert.fingerprint;
        event.source = alert.source;
        event.title = alert.title;
        event.severity = alert.severity;
        event.labels = alert.labels.dump();
        if (!alert.message.empty()) {
          event.message = alert.message;
        }
        event.first_seen = alert.at;
        event.last_seen = now;
        auto [id, opened] = events.raise(event);
        applied = {alert.fingerprint, id, opened ? "opened" : "updated"};
      } else if (alert.action == "resolved") {
        if (auto id = events.resolve(alert.fingerprint, alert.at)) {
          applied = {alert.fingerprint, id, "resolved"};
        }
      } else if (auto open = events.open_id(alert.fingerprint)) {
        events.acknowledge(*open, alert.source, alert.at);
        applied = {alert.fingerprint, open, "acknowledged"};
      }
      out.push_back(std::move(applied));
    }
  });
  return out;
}

} // namespace has::risk
