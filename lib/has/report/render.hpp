#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace has::report {

// Output formats; not every command supports every one.
enum class Format { table, json, ndjson, yaml, markdown, html, junit };

// Returns the format named text, or nullopt.
std::optional<Format> parse_format(std::string_view text);
std::string_view format_name(Format format);

enum class Align { left, right };

struct Column {
  std::string title;
  Align align = Align::left;
};

// A plain table: what the terminal and Markdown renderers draw.
struct Table {
  std::vector<Column> columns;
  std::vector<std::vector<std::string>> rows;
};

// Returns the table as aligned text with a header line (no trailing spaces);
// widths count UTF-8 code points.
std::string render_text(const Table& table);

// Returns the table as a GitHub-flavoured Markdown table, cells escaped.
std::string render_markdown(const Table& table);

// Returns value as a YAML document (block style, strings quoted when needed).
std::string render_yaml(const nlohmann::json& value);

// Returns one compact JSON line per element of an array (or one line for any
// other value).
std::string render_ndjson(const nlohmann::json& value);

// Returns value as indented JSON followed by a newline.
std::string render_json(const nlohmann::json& value);

// Returns text for a quoted Mermaid label (a double quote as #quot;).
std::string mermaid_label(std::string_view text);

// Returns text for a double-quoted Graphviz DOT string (quotes and
// backslashes escaped, newlines as \n).
std::string dot_label(std::string_view text);

} // namespace has::report
