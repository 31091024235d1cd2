#pragma once

#include <string_view>
#include <vector>

namespace has::defs {

// The fields a probe kind accepts, for load-time validation.
struct ProbeSchema {
  std::string_view kind;
  std::vector<std::string_view> required;
  std::vector<std::string_view> optional;
};

// Returns the schema of every probe kind.
const std::vector<ProbeSchema>& probe_schemas();

// Returns the schema of kind, or nullptr if there is no such probe kind.
const ProbeSchema* find_probe_schema(std::string_view kind);

} // namespace has::defs
