#include <has/action/support.hpp>

#include <has/core/error.hpp>
#include <has/defs/units.hpp>

#include <fmt/format.h>

namespace has::action {

namespace {

std::string scalar_text(const nlohmann::json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

} // namespace

void bad_field(const Spec& spec, std::string_view key, std::string_view what, std::string_view help) {
  throw core::Error(core::ExitCode::bad_definitions, fmt::format("{} action: field '{}' {}", spec.kind, key, what),
                    {}, std::string(help));
}

std::string text_field(const Spec& spec, std::string_view key, bool required) {
  auto it = spec.fields.find(key);
  if (it == spec.fields.end() || it->is_null()) {
    if (required) {
      bad_field(spec, key, "is missing");
    }
    return {};
  }
  if (!it->is_primitive()) {
    bad_field(spec, key, "must be a single value");
  }
  return scalar_text(*it);
}

std::vector<std::string> list_field(const Spec& spec, std::string_view key) {
  std::vector<std::string> out;
  auto it = spec.fields.find(key);
  if (it == spec.fields.end() || it->is_null()) {
    return out;
  }
  if (!it->is_array()) {
    bad_field(spec, key, "must be a list");
  }
  for (const auto& item : *it) {
    if (!item.is_primitive() || item.is_null()) {
      bad_field(spec, key, "must be a list of single values");
    }
    out.push_back(scalar_text(item));
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> map_field(const Spec& spec, std::string_view key) {
  std::vector<std::pair<std::string, std::string>> out;
  auto it = spec.fields.find(key);
  if (it == spec.fields.end() || it->is_null()) {
    return out;
  }
  if (!it->is_object()) {
    bad_field(spec, key, "must be a mapping");
  }
  for (const auto& item : it->items()) {
    if (!item.value().is_primitive()) {
      bad_field(spec, key, "must map names to single values");
    }
    out.emplace_back(item.key(), item.value().is_null() ? "" : scalar_text(item.value()));
  }
  return out;
}

bool bool_field(const Spec& spec, std::string_view key, bool fallback) {
  auto it = spec.fields.find(key);
  if (it == spec.fields.end() || it->is_null()) {
    return fallback;
  }
  if (it->is_boolean()) {
    return it->get<bool>();
  }
  auto text = it->is_string() ? it->get<std::string>() : std::string();
  for (auto word : {"true", "yes", "on"}) {
    if (text == word) {
      return true;
    }
  }
  for (auto word : {"false", "no", "off"}) {
    if (text == word) {
      return false;
    }
  }
  bad_field(spec, key, "must be true or false");
}

std::size_t size_field(const Spec& spec, std::string_view key, std::size_t fallback) {
  auto text = text_field(spec, key, false);
  if (text.empty()) {
    return fallback;
  }
  std::uint64_t size = 0;
  try {
    size = defs::parse_size(text);
  } catch (const core::Error& e) {
    bad_field(spec, key, e.what());
  }
  if (size == 0) {
    bad_field(spec, key, "must be more than zero bytes");
  }
  return static_cast<std::size_t>(size);
}

Outcome process_outcome(const util::ProcessResult& result) {
  Outcome outcome;
  outcome.ok = result.exit_code == 0 && !result.timed_out;
  if (result.exit_code >= 0) {
    outcome.exit_code = result.exit_code;
  }
  outcome.outputs["exit_code"] = result.exit_code;
  outcome.outputs["stdout"] = result.out;
  outcome.outputs["stderr"] = result.err;
  outcome.outputs["timed_out"] = result.timed_out;
  auto start = result.out.find_first_not_of(" \t\r\n");
  if (start != std::string::npos && (result.out[start] == '{' || result.out[start] == '[')) {
    auto parsed = nlohmann::json::parse(result.out, nullptr, false);
    if (!parsed.is_discarded()) {
      outcome.outputs["json"] = std::move(parsed);
    }
  }
  if (result.timed_out) {
    outcome.message = fmt::format("timed out after {} ms (process group killed)", result.elapsed.count());
  } else if (result.exit_code < 0) {
    outcome.message = fmt::format("killed by signal {}", result.term_signal);
  } else {
    outcome.message = fmt::format("exit {}", result.exit_code);
    auto line = result.exit_code == 0 ? result.out : (result.err.empty() ? result.out : result.err);
    line = line.substr(0, line.find('\n'));
    if (!line.empty()) {
      outcome.message += ": " + line.substr(0, 200);
    }
  }
  return outcome;
}

std::string host_address(const Context& context, const std::string& host) {
  if (context.definitions != nullptr) {
    for (const auto& known : context.definitions->config.hosts) {
      if (known.name == host) {
        return known.address;
      }
    }
  }
  return host;
}

} // namespace has::action
