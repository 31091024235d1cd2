#pragma once

#include <has/core/error.hpp>
#include <has/defs/diagnostics.hpp>

#include <nlohmann/json.hpp>
#include <has/defs/yaml.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace has::defs {

enum class Need { optional, required };

// Where the nodes of one file came from; turns problems into diagnostics
// with file:line:col.
class FileContext {
public:
  // first_line: the line of the file (from 0) where the parsed text starts.
  FileContext(std::string file, Diagnostics& diagnostics, int first_line = 0)
    : m_file(std::move(file)), m_diagnostics(diagnostics), m_first_line(first_line) {}

  // Returns the location of node (1-based line and column).
  Location at(const yaml::Node& node) const;
  void error(const yaml::Node& node, std::string message) const;
  void error(const Location& where, std::string message) const;
  void warning(const yaml::Node& node, std::string message) const;
  const std::string& file() const noexcept { return m_file; }
  Diagnostics& diagnostics() const noexcept { return m_diagnostics; }

private:
  std::string m_file;
  Diagnostics& m_diagnostics;
  int m_first_line = 0;
};

// Reads the fields of one YAML mapping. Every accessor records the key as
// known; finish() reports each key nobody asked for as an unknown field (with
// a "did you mean" hint), so a typo never silently does nothing. Accessors
// report wrong types to the diagnostics and return std::nullopt.
class MapReader {
public:
  MapReader(const FileContext& context, const yaml::Node& node, std::string what);

  // Returns whether the node was a mapping (if not, an error was reported).
  bool valid() const noexcept { return m_valid; }
  const yaml::Node& node() const noexcept { return m_node; }
  const FileContext& context() const noexcept { return m_context; }

  // Returns the value of key (an undefined node if absent), marking it known.
  yaml::Node get(std::string_view key, Need need = Need::optional);
  bool has(std::string_view key) const;
  // Marks keys as known without reading them.
  void allow(std::initializer_list<std::string_view> keys);

  std::optional<std::string> string(std::string_view key, Need need = Need::optional);
  std::optional<bool> boolean(std::string_view key, Need need = Need::optional);
  std::optional<std::int64_t> integer(std::string_view key, std::int64_t min, std::int64_t max,
                                      Need need = Need::optional);
  std::optional<double> number(std::string_view key, Need need = Need::optional);
  std::optional<std::chrono::milliseconds> duration(std::string_view key,
                                                    Need need = Need::optional);
  std::optional<std::uint64_t> size(std::string_view key, Need need = Need::optional);
  // Returns the field's text turned into a value by parse (one of the
  // units.hpp parsers); a core::Error from parse becomes a diagnostic
  // "field 'KEY': ..." at the field.
  template <class Parse>
  auto parsed(std::string_view key, Parse&& parse, Need need = Need::optional)
    -> std::optional<decltype(parse(std::string_view()))> {
    yaml::Node node;
    auto text = field_text(key, need, node);
    if (!text) {
      return std::nullopt;
    }
    try {
      return parse(std::string_view(*text));
    } catch (const core::Error& e) {
      report(node, key, e);
      return std::nullopt;
    }
  }
  // Returns one of the allowed words.
  std::optional<std::string> choice(std::string_view key, std::initializer_list<std::string_view> allowed,
                                    Need need = Need::optional);
  // Accepts a list of scalars, or a single scalar as a list of one.
  std::vector<std::string> string_list(std::string_view key, Need need = Need::optional);
  // A mapping of scalar to scalar (labels, headers, env).
  std::map<std::string, std::string> string_map(std::string_view key, Need need = Need::optional);

  // Reports every key that no accessor asked for.
  void finish();

private:
  // Returns the scalar text of key (reporting a non-scalar), setting node.
  std::optional<std::string> field_text(std::string_view key, Need need, yaml::Node& node);
  void report(const yaml::Node& node, std::string_view key, const core::Error& error);

  // One field of the mapping with a scalar key.
  struct Field {
    std::string_view key; // held by key_node
    yaml::Node key_node;
    yaml::Node value;
  };

  // Returns the first field named key, or nullptr.
  const Field* find(std::string_view key) const;

  const FileContext& m_context;
  yaml::Node m_node;
  std::string m_what;
  bool m_valid = false;
  // The fields with a scalar key, in order.
  std::vector<Field> m_fields;
  std::vector<std::string> m_known;
};

// Returns the scalar text of node, or reports an error and returns nullopt.
std::optional<std::string> scalar(const FileContext& context, const yaml::Node& node,
                                  std::string_view what);

// Returns the YAML value as JSON: scalars become numbers, booleans or null
// when they plainly are (unquoted), strings otherwise.
nlohmann::json to_json(const yaml::Node& node);

// Returns the candidate closest to word within a small edit distance, if any.
std::optional<std::string> closest(std::string_view word, const std::vector<std::string>& candidates);

// Returns " (did you mean 'NAME'?)" for the candidate closest to word, or
// an empty string: the tail of a "no such name" message.
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

} // namespace has::defs
