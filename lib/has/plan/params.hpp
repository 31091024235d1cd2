#pragma once

#include <has/defs/model.hpp>

#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

namespace has::plan {

// Returns the plan's parameter values from `-p name=value` pairs: each value
// converted to the parameter's type (int, number, bool; a list as JSON or
// comma-separated; an object as JSON), defaults filled in. Throws
// core::Error(ExitCode::usage) naming the parameter for an unknown name, a
// value of the wrong type or not allowed, or a required one missing.
nlohmann::json params_from_text(const defs::Plan& plan,
                                const std::vector<std::pair<std::string, std::string>>& given);

// Returns the values given as JSON (by a calling step) checked the same way,
// with defaults filled in; throws like params_from_text().
nlohmann::json params_from_json(const defs::Plan& plan, const nlohmann::json& given);

// Returns params with the value of every secret parameter replaced, for the
// journal and output.
nlohmann::json redacted_params(const defs::Plan& plan, const nlohmann::json& params);

// Splits "name=value"; throws core::Error(ExitCode::usage) without '='.
std::pair<std::string, std::string> split_assignment(const std::string& text);

} // namespace has::plan
