#include <has/probe/fields.hpp>

#include <has/core/error.hpp>
#include <has/defs/units.hpp>

#include <fmt/format.h>

#include <charconv>

namespace has::probe {

namespace {
const nlohmann::json k_null = nullptr;

std::string scalar_text(const nlohmann::json& value) {
  if (value.is_string()) {
    return value.get<std::string>();
  }
  return value.dump();
}
} // namespace

Fields::Fields(std::string kind, const nlohmann::json& fields)
  : m_kind(std::move(kind)), m_fields(fields) {}

void Fields::fail(std::string_view key, std::string_view expected) const {
  throw core::Error(core::ExitCode::bad_definitions,
                    fmt::format("{} probe: field '{}' must be {}", m_kind, key, expected));
}

bool Fields::has(std::string_view key) const {
  return m_fields.is_object() && m_fields.contains(key) && !m_fields.at(std::string(key)).is_null();
}

const nlohmann::json& Fields::raw(std::string_view key) const {
  if (!has(key)) {
    return k_null;
  }
  return m_fields.at(std::string(key));
}

std::string Fields::string(std::string_view key) const {
  auto value = optional_string(key);
  if (!value) {
    fail(key, "given");
  }
  return *value;
}

std::optional<std::string> Fields::optional_string(std::string_view key) const {
  const auto& value = raw(key);
  if (value.is_null()) {
    return std::nullopt;
  }
  if (value.is_structured()) {
    fail(key, "a single value");
  }
  return scalar_text(value);
}

std::int64_t Fields::integer(std::string_view key) const {
  auto value = optional_integer(key);
  if (!value) {
    fail(key, "given");
  }
  return *value;
}

std::optional<std::int64_t> Fields::optional_integer(std::string_view key) const {
  const auto& value = raw(key);
  if (value.is_null()) {
    return std::nullopt;
  }
  if (value.is_number_integer()) {
    return value.get<std::int64_t>();
  }
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    std::int64_t out = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    if (ec == std::errc() && ptr == text.data() + text.size()) {
      return out;
    }
  }
  fail(key, fmt::format("a whole number, not {}", value.dump()));
}

std::optional<bool> Fields::boolean(std::string_view key) const {
  const auto& value = raw(key);
  if (value.is_null()) {
    return std::nullopt;
  }
  if (value.is_boolean()) {
    return value.get<bool>();
  }
  if (value.is_string()) {
    auto text = value.get<std::string>();
    if (text == "true" || text == "yes" || text == "on") {
      return true;
    }
    if (text == "false" || text == "no" || text == "off") {
      return false;
    }
  }
  fail(key, fmt::format("true or false, not {}", value.dump()));
}

std::optional<std::chrono::milliseconds> Fields::duration(std::string_view key) const {
  auto text = optional_string(key);
  if (!text) {
    return std::nullopt;
  }
  try {
    return defs::parse_duration(*text);
  } catch (const core::Error& e) {
    fail(key, fmt::format("a duration ({})", e.what()));
  }
}

std::optional<std::uint64_t> Fields::size(std::string_view key) const {
  auto text = optional_string(key);
  if (!text) {
    return std::nullopt;
  }
  try {
    return defs::parse_size(*text);
  } catch (const core::Error& e) {
    fail(key, fmt::format("a size ({})", e.what()));
  }
}

std::vector<std::string> Fields::strings(std::string_view key) const {
  const auto& value = raw(key);
  std::vector<std::string> out;
  if (value.is_null()) {
    return out;
  }
  if (!value.is_array()) {
    if (value.is_object()) {
      fail(key, "a list");
    }
    out.push_back(scalar_text(value));
    return out;
  }
  for (const auto& item : value) {
    if (item.is_structured() || item.is_null()) {
      fail(key, "a list of single values");
    }
    out.push_back(scalar_text(item));
  }
  return out;
}

std::map<std::string, std::string> Fields::string_map(std::string_view key) const {
  const auto& value = raw(key);
  std::map<std::string, std::string> out;
  if (value.is_null()) {
    return out;
  }
  if (!value.is_object()) {
    fail(key, "a mapping of names to values");
  }
  for (const auto& item : value.items()) {
    if (item.value().is_structured()) {
      fail(key, "a mapping of names to single values");
    }
    out[item.key()] = item.value().is_null() ? "" : scalar_text(item.value());
  }
  return out;
}

} // namespace has::probe
