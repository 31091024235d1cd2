#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace has::probe {

// Typed access to a probe's resolved fields. Values written in YAML arrive
// as JSON, and after interpolation numbers may be strings ("8080"): each
// getter accepts both. Every getter throws core::Error(bad_definitions)
// naming the probe kind and field when the value has the wrong shape.
class Fields {
public:
  Fields(std::string kind, const nlohmann::json& fields);

  bool has(std::string_view key) const;
  std::string string(std::string_view key) const; // required
  std::optional<std::string> optional_string(std::string_view key) const;
  std::int64_t integer(std::string_view key) const; // required
  std::optional<std::int64_t> optional_integer(std::string_view key) const;
  std::optional<bool> boolean(std::string_view key) const;
  std::optional<std::chrono::milliseconds> duration(std::string_view key) const;
  std::optional<std::uint64_t> size(std::string_view key) const;
  // A list of strings, or one string as a list of one.
  std::vector<std::string> strings(std::string_view key) const;
  // A mapping of names to scalar values (rendered as text).
  std::map<std::string, std::string> string_map(std::string_view key) const;
  const nlohmann::json& raw(std::string_view key) const;

private:
  [[noreturn]] void fail(std::string_view key, std::string_view expected) const;
  std::string m_kind;
  const nlohmann::json& m_fields;
};

} // namespace has::probe
