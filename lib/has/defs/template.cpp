#include <has/defs/template.hpp>

#include <has/defs/env.hpp>
#include <has/expr/expr.hpp>

namespace has::defs {

nlohmann::json resolve_template(expr::Engine& engine, const nlohmann::json& value, const nlohmann::json& values,
                                const Location& where) {
  if (value.is_string()) {
    auto text = resolve_env(value.get_ref<const std::string&>(), where);
    expr::Source source{where.file, where.line, where.column};
    auto trimmed = text;
    trimmed.erase(0, trimmed.find_first_not_of(" \t"));
    trimmed.erase(trimmed.find_last_not_of(" \t") + 1);
    if (trimmed.rfind("${{", 0) == 0 && trimmed.size() > 5 && trimmed.compare(trimmed.size() - 2, 2, "}}") == 0 &&
        trimmed.find("${{", 3) == std::string::npos) {
      auto expressions = expr::template_expressions(trimmed, source);
      if (expressions.size() == 1) {
        return engine.evaluate(expressions.front(), values, source);
      }
    }
    if (text.find("${{") == std::string::npos) {
      return text;
    }
    return engine.interpolate(text, values, source);
  }
  if (value.is_object()) {
    auto out = nlohmann::json::object();
    for (const auto& item : value.items()) {
      out[item.key()] = resolve_template(engine, item.value(), values, where);
    }
    return out;
  }
  if (value.is_array()) {
    auto out = nlohmann::json::array();
    for (const auto& item : value) {
      out.push_back(resolve_template(engine, item, values, where));
    }
    return out;
  }
  return value;
}

} // namespace has::defs
