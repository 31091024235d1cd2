#include <has/defs/reader.hpp>

#include <has/core/error.hpp>
#include <has/defs/units.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <numeric>

namespace has::defs {

Location FileContext::at(const yaml::Node& node) const {
  auto mark = node.mark();
  if (mark.is_null()) {
    return {m_file, 0, 0};
  }
  return {m_file, m_first_line + mark.line + 1, mark.column + 1};
}

void FileContext::error(const yaml::Node& node, std::string message) const {
  m_diagnostics.error(at(node), std::move(message));
}

void FileContext::error(const Location& where, std::string message) const {
  m_diagnostics.error(where, std::move(message));
}

void FileContext::warning(const yaml::Node& node, std::string message) const {
  m_diagnostics.warning(at(node), std::move(message));
}

std::optional<std::string> scalar(const FileContext& context, const yaml::Node& node,
                                  std::string_view what) {
  if (!node.is_scalar()) {
    context.error(node, fmt::format("{} must be a single value, not a {}", what,
                                    node.is_map() ? "mapping" : node.is_sequence() ? "list" : "null"));
    return std::nullopt;
  }
  return node.text();
}

MapReader::MapReader(const FileContext& context, const yaml::Node& node, std::string what)
  : m_context(context), m_node(node), m_what(std::move(what)) {
  if (!node.is_map()) {
    context.error(node, fmt::format("{} must be a mapping of fields", m_what));
    return;
  }
  m_valid = true;
  m_fields.reserve(node.size());
  for (const auto& item : node) {
    if (!item.first.is_scalar()) {
      context.error(item.first, fmt::format("keys of {} must be plain words", m_what));
      continue;
    }
    const std::string& key = item.first.text();
    // The parser keeps duplicate keys; a repeated key is almost always a mistake.
    if (find(key) != nullptr) {
      context.error(item.first, fmt::format("duplicate field '{}' in {}", key, m_what));
    }
    m_fields.push_back({key, item.first, item.second});
  }
}

const MapReader::Field* MapReader::find(std::string_view key) const {
  for (const auto& field : m_fields) {
    if (field.key == key) {
      return &field;
    }
  }
  return nullptr;
}

yaml::Node MapReader::get(std::string_view key, Need need) {
  allow({key});
  if (!m_valid) {
    return yaml::Node();
  }
  if (const Field* field = find(key)) {
    return field->value;
  }
  if (need == Need::required) {
    m_context.error(m_node, fmt::format("{} is missing the required field '{}'", m_what, key));
  }
  return yaml::Node();
}

bool MapReader::has(std::string_view key) const {
  return m_valid && find(key) != nullptr;
}

void MapReader::allow(std::initializer_list<std::string_view> keys) {
  for (auto key : keys) {
    if (std::find(m_known.begin(), m_known.end(), key) == m_known.end()) {
      m_known.emplace_back(key);
    }
  }
}

std::optional<std::string> MapReader::field_text(std::string_view key, Need need, yaml::Node& node) {
  node = get(key, need);
  if (!node.is_defined()) {
    return std::nullopt;
  }
  return scalar(m_context, node, fmt::format("field '{}'", key));
}

void MapReader::report(const yaml::Node& node, std::string_view key, const core::Error& error) {
  m_context.error(node, fmt::format("field '{}': {}", key, error.what()));
}

std::optional<std::string> MapReader::string(std::string_view key, Need need) {
  auto node = get(key, need);
  if (!node.is_defined()) {
    return std::nullopt;
  }
  if (node.is_null()) {
    if (need == Need::required) {
      m_context.error(node, fmt::format("field '{}' must not be empty", key));
    }
    return std::nullopt;
  }
  return scalar(m_context, node, fmt::format("field '{}'", key));
}

std::optional<bool> MapReader::boolean(std::string_view key, Need need) {
  yaml::Node node;
  auto text = field_text(key, need, node);
  if (!text) {
    return std::nullopt;
  }
  if (*text == "true" || *text == "yes" || *text == "on") {
    return true;
  }
  if (*text == "false" || *text == "no" || *text == "off") {
    return false;
  }
  m_context.error(node, fmt::format("field '{}' must be true or false, not '{}'", key, *text));
  return std::nullopt;
}

std::optional<std::int64_t> MapReader::integer(std::string_view key, std::int64_t min,
                                               std::int64_t max, Need need) {
  yaml::Node node;
  auto text = field_text(key, need, node);
  if (!text) {
    return std::nullopt;
  }
  std::int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || ptr != text->data() + text->size()) {
    m_context.error(node, fmt::format("field '{}' must be a whole number, not '{}'", key, *text));
    return std::nullopt;
  }
  if (value < min || value > max) {
    m_context.error(node, fmt::format("field '{}' must be between {} and {}, not {}", key, min,
                                      max, value));
    return std::nullopt;
  }
  return value;
}

std::optional<double> MapReader::number(std::string_view key, Need need) {
  yaml::Node node;
  auto text = field_text(key, need, node);
  if (!text) {
    return std::nullopt;
  }
  double value = 0;
  auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || ptr != text->data() + text->size()) {
    m_context.error(node, fmt::format("field '{}' must be a number, not '{}'", key, *text));
    return std::nullopt;
  }
  return value;
}

std::optional<std::chrono::milliseconds> MapReader::duration(std::string_view key, Need need) {
  return parsed(key, parse_duration, need);
}

std::optional<std::uint64_t> MapReader::size(std::string_view key, Need need) {
  return parsed(key, parse_size, need);
}

std::optional<std::string> MapReader::choice(std::string_view key,
                                             std::initializer_list<std::string_view> allowed,
                                             Need need) {
  yaml::Node node;
  auto text = field_text(key, need, node);
  if (!text) {
    return std::nullopt;
  }
  if (std::find(allowed.begin(), allowed.end(), *text) != allowed.end()) {
    return text;
  }
  std::string list;
  for (auto word : allowed) {
    list += list.empty() ? "" : ", ";
    list += word;
  }
  m_context.error(node, fmt::format("field '{}' must be one of {}, not '{}'", key, list, *text));
  return std::nullopt;
}

std::vector<std::string> MapReader::string_list(std::string_view key, Need need) {
  std::vector<std::string> out;
  auto node = get(key, need);
  if (!node.is_defined() || node.is_null()) {
    return out;
  }
  if (node.is_scalar()) {
    out.push_back(node.text());
    return out;
  }
  if (!node.is_sequence()) {
    m_context.error(node, fmt::format("field '{}' must be a list", key));
    return out;
  }
  for (const auto& item : node) {
    if (auto text = scalar(m_context, item, fmt::format("each item of '{}'", key))) {
      out.push_back(*text);
    }
  }
  return out;
}

std::map<std::string, std::string> MapReader::string_map(std::string_view key, Need need) {
  std::map<std::string, std::string> out;
  auto node = get(key, need);
  if (!node.is_defined() || node.is_null()) {
    return out;
  }
  if (!node.is_map()) {
    m_context.error(node, fmt::format("field '{}' must be a mapping of names to values", key));
    return out;
  }
  for (const auto& item : node) {
    auto name = scalar(m_context, item.first, fmt::format("a key of '{}'", key));
    auto value = scalar(m_context, item.second, fmt::format("'{}.{}'", key, name.value_or("?")));
    if (name && value) {
      out[*name] = *value;
    }
  }
  return out;
}

void MapReader::finish() {
  if (!m_valid) {
    return;
  }
  std::vector<std::string> known;
  for (const auto& field : m_fields) {
    if (std::find(m_known.begin(), m_known.end(), field.key) != m_known.end()) {
      continue;
    }
    if (known.empty()) {
      known = m_known;
      std::sort(known.begin(), known.end());
    }
    const auto& key = field.key;
    std::string message = fmt::format("unknown field '{}' in {}", key, m_what);
    if (auto hint = closest(key, known)) {
      message += fmt::format(" (did you mean '{}'?)", *hint);
    } else if (!known.empty()) {
      std::string list;
      for (const auto& k : known) {
        list += list.empty() ? "" : ", ";
        list += k;
      }
      message += fmt::format(" (known fields: {})", list);
    }
    m_context.error(field.key_node, std::move(message));
  }
}

nlohmann::json to_json(const yaml::Node& node) {
  switch (node.type()) {
  case yaml::NodeType::undefined:
  case yaml::NodeType::null:
    return nullptr;
  case yaml::NodeType::sequence: {
    auto out = nlohmann::json::array();
    for (const auto& item : node) {
      out.push_back(to_json(item));
    }
    return out;
  }
  case yaml::NodeType::map: {
    auto out = nlohmann::json::object();
    for (const auto& item : node) {
      out[item.first.text()] = to_json(item.second);
    }
    return out;
  }
  case yaml::NodeType::scalar:
    break;
  }
  const auto& text = node.text();
  // Quoted scalars carry the "!" tag: they stay strings.
  if (node.tag() == "!") {
    return text;
  }
  if (text == "true" || text == "false") {
    return text == "true";
  }
  if (text == "null" || text == "~") {
    return nullptr;
  }
  std::int64_t integer = 0;
  auto [iptr, iec] = std::from_chars(text.data(), text.data() + text.size(), integer);
  if (iec == std::errc() && iptr == text.data() + text.size() && !text.empty()) {
    return integer;
  }
  double real = 0;
  auto [dptr, dec] = std::from_chars(text.data(), text.data() + text.size(), real);
  if (dec == std::errc() && dptr == text.data() + text.size() && !text.empty()) {
    return real;
  }
  return text;
}

std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates) {
  auto hint = closest(word, candidates);
  return hint ? fmt::format(" (did you mean '{}'?)", *hint) : "";
}

std::optional<std::string> closest(std::string_view word, const std::vector<std::string>& candidates) {
  // Edit distance where swapping two neighbours counts as one edit, the
  // commonest typo ("hots" for "host").
  auto distance = [](std::string_view a, std::string_view b) {
    std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
    for (std::size_t i = 0; i <= a.size(); ++i) {
      d[i][0] = i;
    }
    std::iota(d[0].begin(), d[0].end(), 0);
    for (std::size_t i = 1; i <= a.size(); ++i) {
      for (std::size_t j = 1; j <= b.size(); ++j) {
        std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
        d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
        if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
          d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
      }
    }
    return d[a.size()][b.size()];
  };
  std::optional<std::string> best;
  std::size_t best_distance = word.size() <= 4 ? 1 : 2;
  for (const auto& candidate : candidates) {
    auto d = distance(word, candidate);
    if (d <= best_distance && (!best || d < distance(word, *best))) {
      best = candidate;
      best_distance = d;
    }
  }
  return best;
}

} // namespace has::defs
