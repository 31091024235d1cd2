#include <has/plan/journal.hpp>

#include <has/action/action.hpp>
#include <has/core/error.hpp>
#include <has/core/redact.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

namespace has::plan {

namespace {

constexpr std::size_t k_journal_text = 64 * 1024;

bool listed(const std::vector<std::string>& list, const std::string& key) {
  return std::find(list.begin(), list.end(), key) != list.end() ||
         std::find(list.begin(), list.end(), base_id(key)) != list.end();
}

} // namespace

std::string base_id(const std::string& key) { return key.substr(0, key.find('[')); }

std::string item_key(const nlohmann::json& item, std::size_t index) {
  if (item.is_string()) {
    return item.get<std::string>();
  }
  if (item.is_number()) {
    return item.dump();
  }
  if (item.is_object() && item.contains("name") && item["name"].is_string()) {
    return item["name"].get<std::string>();
  }
  return std::to_string(index);
}

nlohmann::json bounded(const nlohmann::json& value) {
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    if (text.size() > k_journal_text) {
      return text.substr(0, k_journal_text) + fmt::format("\n[... {} more bytes]", text.size() - k_journal_text);
    }
    return value;
  }
  if (value.is_structured()) {
    auto out = value;
    for (auto& item : out) {
      item = bounded(item);
    }
    return out;
  }
  return value;
}

std::string journal_json(const nlohmann::json& value) {
  return core::redact(bounded(value).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

state::StepRecord make_record(std::int64_t run_id, std::string step, std::string phase, std::string kind,
                              std::string state, bool idempotent, int attempts) {
  state::StepRecord record;
  record.run_id = run_id;
  record.step = std::move(step);
  record.phase = std::move(phase);
  record.kind = std::move(kind);
  record.state = std::move(state);
  record.idempotent = idempotent;
  record.attempts = attempts;
  return record;
}

nlohmann::json step_values(const nlohmann::json& outputs, std::string_view state) {
  auto out = outputs.is_object() ? outputs : nlohmann::json::object();
  out["status"] = state;
  return out;
}

ResumeDecision decide_resume(const defs::Plan& plan, const std::vector<state::StepRecord>& rows,
                             const std::vector<std::string>& retry, const std::vector<std::string>& skip) {
  ResumeDecision out;
  std::set<std::string> open; // keys a --retry or --skip may name
  for (const auto& row : rows) {
    if (row.phase != "do") {
      continue;
    }
    const auto id = base_id(row.step);
    const auto* step = plan.find_step(id);
    if (step == nullptr) {
      throw core::Error(core::ExitCode::failure,
                        fmt::format("run {} has step '{}', which plan '{}' no longer has", row.run_id, id,
                                    plan.header.name),
                        "the plan changed since the run started", "roll it back with `has plan rollback` instead");
    }
    if (row.state == "succeeded" || row.state == "skipped") {
      out.done.insert(row.step);
      continue;
    }
    // Failed steps run again and gates ask again: neither took effect.
    const auto* kind = action::find_kind(step->action.kind);
    if (row.state == "failed" || row.state == "waiting" || (kind != nullptr && kind->flow == action::Flow::gate)) {
      continue;
    }
    // Cut short (running, interrupted or unknown): a for_each step's own row
    // only summarises its items, which are decided one by one.
    if (row.step == id && step->repeated()) {
      continue;
    }
    open.insert(row.step);
    if (listed(skip, row.step)) {
      out.skipped.push_back(row.step);
      out.done.insert(row.step);
    } else if (row.idempotent || listed(retry, row.step)) {
      out.retried.push_back(row.step);
    } else {
      out.unknown.push_back(row.step);
    }
  }
  for (const auto* list : {&retry, &skip}) {
    for (const auto& name : *list) {
      bool known = std::any_of(open.begin(), open.end(),
                               [&](const std::string& key) { return key == name || base_id(key) == name; });
      if (!known) {
        throw core::Error(core::ExitCode::usage,
                          fmt::format("run has no step '{}' that was cut short", name),
                          open.empty() ? "no step of it was in flight when it stopped"
                                       : fmt::format("cut short: {}", fmt::join(open, ", ")),
                          "name a step that `has plan status RUN` shows as unknown or interrupted");
      }
    }
  }
  return out;
}

} // namespace has::plan
