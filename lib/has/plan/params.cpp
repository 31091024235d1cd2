#include <has/plan/params.hpp>

#include <has/core/error.hpp>
#include <has/core/redact.hpp>
#include <has/defs/reader.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace has::plan {

namespace {

using core::Error;
using core::ExitCode;

[[noreturn]] void bad(const defs::Plan& plan, const std::string& name, const std::string& why) {
  throw Error(ExitCode::usage, fmt::format("parameter '{}' of plan '{}' {}", name, plan.header.name, why),
              {}, fmt::format("see `has plan show {}` for its parameters", plan.header.name));
}

nlohmann::json convert(const defs::Plan& plan, const defs::PlanParam& param, const std::string& text) {
  using defs::ParamType;
  switch (param.type) {
  case ParamType::string: return text;
  case ParamType::integer: {
    try {
      std::size_t used = 0;
      long long value = std::stoll(text, &used);
      if (used == text.size()) {
        return value;
      }
    } catch (const std::exception&) {
    }
    bad(plan, param.name, fmt::format("must be an integer, not '{}'", text));
  }
  case ParamType::number: {
    try {
      std::size_t used = 0;
      double value = std::stod(text, &used);
      if (used == text.size()) {
        return value;
      }
    } catch (const std::exception&) {
    }
    bad(plan, param.name, fmt::format("must be a number, not '{}'", text));
  }
  case ParamType::boolean:
    if (text == "true" || text == "yes" || text == "1") {
      return true;
    }
    if (text == "false" || text == "no" || text == "0") {
      return false;
    }
    bad(plan, param.name, fmt::format("must be true or false, not '{}'", text));
  case ParamType::list: {
    if (!text.empty() && text.front() == '[') {
      auto parsed = nlohmann::json::parse(text, nullptr, false);
      if (parsed.is_array()) {
        return parsed;
      }
      bad(plan, param.name, "is not a JSON list");
    }
    auto list = nlohmann::json::array();
    std::size_t start = 0;
    while (start <= text.size() && !text.empty()) {
      auto comma = text.find(',', start);
      list.push_back(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      if (comma == std::string::npos) {
        break;
      }
      start = comma + 1;
    }
    return list;
  }
  case ParamType::object: {
    auto parsed = nlohmann::json::parse(text, nullptr, false);
    if (parsed.is_object()) {
      return parsed;
    }
    bad(plan, param.name, "must be a JSON object");
  }
  }
  return text;
}

nlohmann::json finish(const defs::Plan& plan, nlohmann::json values) {
  for (const auto& param : plan.params) {
    if (!values.contains(param.name)) {
      if (param.default_value) {
        values[param.name] = *param.default_value;
      } else if (param.required) {
        bad(plan, param.name, fmt::format("is required{}",
                                          param.description.empty() ? "" : " (" + param.description + ")"));
      } else {
        values[param.name] = nullptr;
      }
    }
    const auto& value = values[param.name];
    if (!param.allowed.empty() && !value.is_null() &&
        std::find(param.allowed.begin(), param.allowed.end(), value) == param.allowed.end()) {
      std::string list;
      for (const auto& allowed : param.allowed) {
        list += (list.empty() ? "" : ", ") + (allowed.is_string() ? allowed.get<std::string>() : allowed.dump());
      }
      bad(plan, param.name, fmt::format("must be one of {}, not {}", list,
                                        value.is_string() ? value.get<std::string>() : value.dump()));
    }
    if (param.secret && value.is_string()) {
      core::register_secret(value.get<std::string>());
    }
  }
  return values;
}

void check_known(const defs::Plan& plan, const std::string& name) {
  if (plan.find_param(name) == nullptr) {
    std::vector<std::string> names;
    for (const auto& param : plan.params) {
      names.push_back(param.name);
    }
    throw Error(ExitCode::usage,
                fmt::format("plan '{}' has no parameter '{}'{}", plan.header.name, name,
                            defs::did_you_mean(name, names)),
                {}, names.empty() ? "it takes no parameters" : fmt::format("its parameters: {}", fmt::join(names, ", ")));
  }
}

} // namespace

std::pair<std::string, std::string> split_assignment(const std::string& text) {
  auto equals = text.find('=');
  if (equals == std::string::npos || equals == 0) {
    throw Error(ExitCode::usage, fmt::format("'{}' is not name=value", text), {},
                "give parameters as -p name=value");
  }
  return {text.substr(0, equals), text.substr(equals + 1)};
}

nlohmann::json params_from_text(const defs::Plan& plan,
                                const std::vector<std::pair<std::string, std::string>>& given) {
  auto values = nlohmann::json::object();
  for (const auto& [name, text] : given) {
    check_known(plan, name);
    values[name] = convert(plan, *plan.find_param(name), text);
  }
  return finish(plan, std::move(values));
}

nlohmann::json params_from_json(const defs::Plan& plan, const nlohmann::json& given) {
  auto values = nlohmann::json::object();
  if (!given.is_object()) {
    throw Error(ExitCode::usage, fmt::format("parameters of plan '{}' must be a mapping", plan.header.name));
  }
  for (const auto& item : given.items()) {
    check_known(plan, item.key());
    const auto& param = *plan.find_param(item.key());
    auto value = item.value();
    if (!defs::param_fits(param.type, value)) {
      if (value.is_primitive() && !value.is_null()) {
        value = convert(plan, param, value.is_string() ? value.get<std::string>() : value.dump());
      } else {
        bad(plan, param.name, fmt::format("must be a {}", defs::param_type_name(param.type)));
      }
    }
    values[item.key()] = std::move(value);
  }
  return finish(plan, std::move(values));
}

nlohmann::json redacted_params(const defs::Plan& plan, const nlohmann::json& params) {
  auto out = params;
  for (const auto& param : plan.params) {
    if (param.secret && out.contains(param.name) && !out[param.name].is_null()) {
      out[param.name] = "<secret>";
    }
  }
  return out;
}

} // namespace has::plan
