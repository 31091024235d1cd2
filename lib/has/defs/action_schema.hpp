#pragma once

#include <string_view>
#include <vector>

namespace has::defs {

// The fields a plan step's action kind accepts, for load-time validation.
struct ActionSchema {
  std::string_view kind;
  std::vector<std::string_view> required;
  std::vector<std::string_view> optional;
  std::string_view summary;
};

// Returns the schema of every action kind a step may use (besides `use:` of
// an Action template).
const std::vector<ActionSchema>& action_schemas();

// Returns the schema of kind, or nullptr if there is no such action kind.
const ActionSchema* find_action_schema(std::string_view kind);

} // namespace has::defs
