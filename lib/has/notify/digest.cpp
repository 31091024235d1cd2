#include <has/notify/digest.hpp>

#include <has/core/error.hpp>
#include <has/notify/support.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>

namespace has::notify {

namespace {

constexpr std::size_t k_max_item_message = 200; // characters of one result's message

std::string upper(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

std::string one_line(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  std::replace(text.begin(), text.end(), '\r', ' ');
  return trim_lines(text, k_max_item_message, Measure::characters, [](std::size_t) { return std::string(); });
}

std::string item_line(const DigestItem& item) {
  std::string line = fmt::format("- **{}** {}", upper(probe::status_name(item.status)), item.rule);
  if (!item.target.empty()) {
    line += " on " + item.target;
  }
  const std::string message = one_line(item.message);
  if (!message.empty()) {
    line += ": " + message;
  }
  return line;
}

void section(std::string& text, std::string_view heading, const std::vector<const DigestItem*>& items,
             std::size_t max_items) {
  if (items.empty()) {
    return;
  }
  text += fmt::format("{}**{} ({})**\n", text.empty() ? "" : "\n", heading, items.size());
  for (std::size_t i = 0; i < items.size() && i < max_items; ++i) {
    text += item_line(*items[i]) + "\n";
  }
  if (items.size() > max_items) {
    text += fmt::format("- … and {} more\n", items.size() - max_items);
  }
}

std::optional<Change> parse_change(std::string_view text) {
  if (text == "none") return Change::none;
  if (text == "failing") return Change::failing;
  if (text == "recovered") return Change::recovered;
  if (text == "changed_severity") return Change::changed_severity;
  return std::nullopt;
}

} // namespace

bool should_send(const std::vector<DigestItem>& items, defs::NotifyMode mode) {
  if (mode == defs::NotifyMode::always) {
    return true;
  }
  return std::any_of(items.begin(), items.end(),
                     [](const DigestItem& item) { return !item.muted && item.transition != Change::none; });
}

Message digest(const std::vector<DigestItem>& items, const DigestOptions& options) {
  std::vector<const DigestItem*> newly, changed, still, recovered;
  Message message;
  message.status = probe::Status::ok;
  std::map<std::string, int> counts{{"checks", 0}, {"ok", 0}, {"warning", 0}, {"critical", 0}, {"unknown", 0},
                                    {"muted", 0}};
  for (const auto& item : items) {
    ++counts["checks"];
    if (item.muted) {
      ++counts["muted"];
      continue;
    }
    ++counts[std::string(probe::status_name(item.status))];
    message.status = probe::worst(message.status, item.status);
    switch (item.transition) {
    case Change::failing: newly.push_back(&item); break;
    case Change::changed_severity: changed.push_back(&item); break;
    case Change::recovered: recovered.push_back(&item); break;
    case Change::none:
      if (item.status != probe::Status::ok) {
        still.push_back(&item);
      }
      break;
    }
  }
  counts["newly_failing"] = static_cast<int>(newly.size());
  counts["severity_changed"] = static_cast<int>(changed.size());
  counts["still_failing"] = static_cast<int>(still.size());
  counts["recovered"] = static_cast<int>(recovered.size());

  std::vector<std::string> parts;
  if (!newly.empty()) parts.push_back(fmt::format("{} newly failing", newly.size()));
  if (!changed.empty()) parts.push_back(fmt::format("{} changed severity", changed.size()));
  if (!still.empty()) parts.push_back(fmt::format("{} still failing", still.size()));
  if (!recovered.empty()) parts.push_back(fmt::format("{} recovered", recovered.size()));
  std::string what;
  for (const auto& part : parts) {
    what += what.empty() ? part : ", " + part;
  }
  if (what.empty()) {
    what = fmt::format("all {} checks ok", counts["checks"] - counts["muted"]);
  }
  message.title = fmt::format("[{}] {}: {}", upper(probe::status_name(message.status)), options.source, what);

  section(message.text, "Newly failing", newly, options.max_per_section);
  section(message.text, "Severity changed", changed, options.max_per_section);
  section(message.text, "Still failing", still, options.max_per_section);
  section(message.text, "Recovered", recovered, options.max_per_section);
  message.text += fmt::format("{}Checks: {} · ok {} · warning {} · critical {} · unknown {} · muted {}",
                              message.text.empty() ? "" : "\n", counts["checks"], counts["ok"], counts["warning"],
                              counts["critical"], counts["unknown"], counts["muted"]);
  message.counts = std::move(counts);
  message.link = options.link;
  if (options.run_id) {
    message.key = fmt::format("inspect-run-{}", *options.run_id);
  }
  return message;
}

std::vector<DigestItem> digest_items(const nlohmann::json& document) {
  if (!document.is_object() || !document.contains("results") || !document["results"].is_array()) {
    throw core::Error(core::ExitCode::failure, "cannot build a digest of this document",
                      "it has no \"results\" list", "pass an inspection document (has inspect run -o json)");
  }
  std::vector<DigestItem> items;
  for (const auto& result : document["results"]) {
    DigestItem item;
    item.rule = result.value("rule", "");
    item.target = result.value("target", "");
    item.status = probe::parse_status(result.value("status", "unknown")).value_or(probe::Status::unknown);
    item.message = result.value("message", "");
    item.muted = result.contains("muted_by") || result.value("muted", false);
    if (auto it = result.find("transition"); it != result.end() && it->is_string()) {
      item.transition = parse_change(it->get<std::string>()).value_or(Change::none);
    }
    items.push_back(std::move(item));
  }
  return items;
}

} // namespace has::notify
