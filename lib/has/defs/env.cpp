#include <has/defs/env.hpp>

#include <has/core/error.hpp>
#include <has/core/redact.hpp>

#include <fmt/format.h>

#include <cctype>
#include <cstdlib>

namespace has::defs {

namespace {

constexpr std::string_view k_open = "${env:";

bool valid_name(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name.front()))) {
    return false;
  }
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') {
      return false;
    }
  }
  return true;
}

// Calls on_reference(start, end, name) for each reference in text.
template <class F>
void scan(std::string_view text, const Location& where, F&& on_reference) {
  std::size_t pos = 0;
  while ((pos = text.find(k_open, pos)) != std::string_view::npos) {
    auto close = text.find('}', pos);
    if (close == std::string_view::npos) {
      throw core::Error(core::ExitCode::bad_definitions,
                        fmt::format("{}: unterminated ${{env:...}} reference", where.str()),
                        {}, "write ${env:NAME}");
    }
    auto name = text.substr(pos + k_open.size(), close - pos - k_open.size());
    if (!valid_name(name)) {
      throw core::Error(core::ExitCode::bad_definitions,
                        fmt::format("{}: invalid environment variable name '{}'", where.str(), name),
                        {}, "names are letters, digits and '_', not starting with a digit");
    }
    on_reference(pos, close + 1, name);
    pos = close + 1;
  }
}

} // namespace

std::string resolve_env(std::string_view text, const Location& where) {
  std::string out;
  std::size_t copied = 0;
  scan(text, where, [&](std::size_t start, std::size_t end, std::string_view name) {
    std::string key(name);
    const char* value = std::getenv(key.c_str());
    if (value == nullptr) {
      throw core::Error(core::ExitCode::bad_definitions,
                        fmt::format("environment variable {} is not set", key),
                        where.line > 0 ? fmt::format("{} refers to ${{env:{}}}", where.str(), key)
                                       : std::string(),
                        fmt::format("export {}=... before running has", key));
    }
    core::register_secret(value);
    out.append(text.substr(copied, start - copied));
    out.append(value);
    copied = end;
  });
  out.append(text.substr(copied));
  return out;
}

std::vector<std::string> env_references(std::string_view text, const Location& where) {
  std::vector<std::string> names;
  scan(text, where, [&](std::size_t, std::size_t, std::string_view name) {
    names.emplace_back(name);
  });
  return names;
}

} // namespace has::defs
