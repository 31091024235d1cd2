#include <has/probe/perfdata.hpp>

#include <has/core/error.hpp>
#include <has/defs/range.hpp>

#include <fmt/format.h>

#include <charconv>

namespace has::probe {

namespace {

constexpr std::size_t k_quote_chars = 60;

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && is_space(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

// Returns text shortened for an error line.
std::string quote(std::string_view text) {
  if (text.size() <= k_quote_chars) {
    return fmt::format("'{}'", text);
  }
  return fmt::format("'{}...'", text.substr(0, k_quote_chars));
}

struct Number {
  double value = 0;
  std::string_view rest; // what follows the number (the UOM)
};

// Reads a decimal number at the start of text ("-1.5", "3e2", ".5", "+2").
// from_chars alone would also take "inf", "nan" and "1." forms plugins never
// mean, so the first character must start a plain number.
std::optional<Number> leading_number(std::string_view text) {
  std::string_view body = text;
  if (body.size() > 1 && body.front() == '+' && body[1] != '-') {
    body.remove_prefix(1);
  }
  std::string_view digits = body;
  if (!digits.empty() && digits.front() == '-') {
    digits.remove_prefix(1);
  }
  if (digits.empty() || !(is_digit(digits.front()) || (digits.front() == '.' && digits.size() > 1 &&
                                                        is_digit(digits[1])))) {
    return std::nullopt;
  }
  Number out;
  auto [ptr, ec] = std::from_chars(body.data(), body.data() + body.size(), out.value);
  if (ec != std::errc()) {
    return std::nullopt;
  }
  out.rest = body.substr(static_cast<std::size_t>(ptr - body.data()));
  return out;
}

// Returns the whole of text as a number.
std::optional<double> whole_number(std::string_view text) {
  auto number = leading_number(text);
  if (!number || !number->rest.empty()) {
    return std::nullopt;
  }
  return number->value;
}

// A UOM is letters and '%' ("ms", "KB", "%", "c"), possibly with a '/'
// ("B/s", which some plugins print); a digit or '=' means the value is broken.
bool valid_uom(std::string_view uom) {
  for (char c : uom) {
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!letter && c != '%' && c != '/') {
      return false;
    }
  }
  return true;
}

bool is_standard_uom(std::string_view uom) {
  for (std::string_view known : {"", "s", "ms", "us", "%", "B", "KB", "MB", "GB", "TB", "c"}) {
    if (uom == known) {
      return true;
    }
  }
  return false;
}

// Splits data ("1.5s;1;2;0;10") at ';'.
std::vector<std::string_view> split_fields(std::string_view data) {
  std::vector<std::string_view> out;
  while (true) {
    auto semicolon = data.find(';');
    out.push_back(data.substr(0, semicolon));
    if (semicolon == std::string_view::npos) {
      return out;
    }
    data.remove_prefix(semicolon + 1);
  }
}

class Parser {
public:
  explicit Parser(std::string_view text) : m_text(text) {}

  PerfData run() {
    while (true) {
      skip_spaces();
      if (m_pos >= m_text.size()) {
        return std::move(m_out);
      }
      item();
    }
  }

private:
  void skip_spaces() {
    while (m_pos < m_text.size() && is_space(m_text[m_pos])) {
      ++m_pos;
    }
  }

  // Moves past the rest of a broken item, to the next space.
  void skip_item() {
    while (m_pos < m_text.size() && !is_space(m_text[m_pos])) {
      ++m_pos;
    }
  }

  void error(std::size_t start, std::string_view why) {
    m_out.errors.push_back(fmt::format("skipped {}: {}", quote(m_text.substr(start, m_pos - start)), why));
  }

  // Reads a label: quoted ('' inside stands for one quote) or up to '='.
  std::optional<std::string> label(std::size_t start) {
    std::string out;
    if (m_text[m_pos] == '\'') {
      ++m_pos;
      while (true) {
        if (m_pos >= m_text.size()) {
          error(start, "the quoted label is not closed");
          return std::nullopt;
        }
        char c = m_text[m_pos++];
        if (c != '\'') {
          out += c;
        } else if (m_pos < m_text.size() && m_text[m_pos] == '\'') {
          out += '\'';
          ++m_pos;
        } else {
          break;
        }
      }
    } else {
      while (m_pos < m_text.size() && m_text[m_pos] != '=' && !is_space(m_text[m_pos])) {
        out += m_text[m_pos++];
      }
    }
    if (m_pos >= m_text.size() || m_text[m_pos] != '=') {
      skip_item();
      error(start, "expected label=value");
      return std::nullopt;
    }
    if (out.empty()) {
      skip_item();
      error(start, "the label is empty");
      return std::nullopt;
    }
    ++m_pos; // '='
    return out;
  }

  // Reads a warn or crit field (which may repeat the value's UOM); a broken
  // one is dropped, the item kept.
  std::string threshold(std::string_view text, std::string_view name, const PerfItem& item) {
    if (!item.uom.empty() && text.size() > item.uom.size() && text.ends_with(item.uom)) {
      text.remove_suffix(item.uom.size());
    }
    if (text.empty()) {
      return {};
    }
    try {
      defs::parse_range(text);
      return std::string(text);
    } catch (const core::Error&) {
      m_out.errors.push_back(
        fmt::format("'{}': dropped {} {}: not a range", item.label, name, quote(text)));
      return {};
    }
  }

  // Reads a min or max field, which may repeat the value's UOM.
  std::optional<double> bound(std::string_view text, std::string_view name, const PerfItem& item) {
    if (text.empty()) {
      return std::nullopt;
    }
    auto number = leading_number(text);
    if (number && (number->rest.empty() || number->rest == item.uom)) {
      return number->value;
    }
    m_out.errors.push_back(
      fmt::format("'{}': dropped {} {}: not a number", item.label, name, quote(text)));
    return std::nullopt;
  }

  void item() {
    std::size_t start = m_pos;
    auto name = label(start);
    if (!name) {
      return;
    }
    std::size_t data_start = m_pos;
    skip_item();
    auto fields = split_fields(m_text.substr(data_start, m_pos - data_start));

    PerfItem item;
    item.label = std::move(*name);
    std::string_view value = fields[0];
    if (value.empty()) {
      error(start, "the value is empty");
      return;
    }
    if (value.front() == 'U' && is_standard_uom(value.substr(1))) {
      item.uom = std::string(value.substr(1));
    } else {
      auto number = leading_number(value);
      if (!number || !valid_uom(number->rest)) {
        error(start, fmt::format("the value {} is not a number", quote(value)));
        return;
      }
      item.value = number->value;
      item.uom = std::string(number->rest);
    }
    if (fields.size() > 1) {
      item.warn = threshold(fields[1], "warn", item);
    }
    if (fields.size() > 2) {
      item.crit = threshold(fields[2], "crit", item);
    }
    if (fields.size() > 3) {
      item.min = bound(fields[3], "min", item);
    }
    if (fields.size() > 4) {
      item.max = bound(fields[4], "max", item);
    }
    // A trailing ';' gives one empty extra field, which plugins often print.
    if (fields.size() > 6 || (fields.size() == 6 && !fields[5].empty())) {
      m_out.errors.push_back(fmt::format("'{}': ignored fields after max", item.label));
    }
    m_out.items.push_back(std::move(item));
  }

  std::string_view m_text;
  std::size_t m_pos = 0;
  PerfData m_out;
};

void append_perf(std::string& perf, std::string_view text) {
  text = trim(text);
  if (text.empty()) {
    return;
  }
  if (!perf.empty()) {
    perf += ' ';
  }
  perf += text;
}

void append_line(std::string& long_output, std::string_view line) {
  while (!line.empty() && is_space(line.back())) {
    line.remove_suffix(1);
  }
  if (!long_output.empty()) {
    long_output += '\n';
  }
  long_output += line;
}

nlohmann::json number_or_null(const std::optional<double>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

nlohmann::json threshold_json(const std::string& text) {
  if (text.empty()) {
    return nullptr;
  }
  if (auto number = whole_number(text)) {
    return *number;
  }
  return text;
}

} // namespace

PerfData parse_perfdata(std::string_view text) {
  return Parser(text).run();
}

PluginOutput split_plugin_output(std::string_view out) {
  PluginOutput parts;
  bool first = true;
  bool in_perf = false;
  while (!out.empty()) {
    auto newline = out.find('\n');
    std::string_view line = out.substr(0, newline);
    out.remove_prefix(newline == std::string_view::npos ? out.size() : newline + 1);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    auto bar = line.find('|');
    std::string_view text = line.substr(0, bar);
    std::string_view perf = bar == std::string_view::npos ? std::string_view{} : line.substr(bar + 1);
    if (first) {
      parts.message = std::string(trim(text));
      append_perf(parts.perfdata, perf);
      first = false;
    } else if (in_perf && bar == std::string_view::npos) {
      append_perf(parts.perfdata, line);
    } else {
      append_line(parts.long_output, text);
      append_perf(parts.perfdata, perf);
      in_perf = in_perf || bar != std::string_view::npos;
    }
  }
  while (!parts.long_output.empty() && is_space(parts.long_output.back())) {
    parts.long_output.pop_back();
  }
  return parts;
}

nlohmann::json perf_json(const PerfItem& item) {
  return nlohmann::json{
    {"value", number_or_null(item.value)},
    {"uom", item.uom},
    {"warn", threshold_json(item.warn)},
    {"crit", threshold_json(item.crit)},
    {"min", number_or_null(item.min)},
    {"max", number_or_null(item.max)},
  };
}

std::string perf_value_name(std::string_view label) {
  std::string out(label);
  for (char& c : out) {
    bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_';
    if (!keep) {
      c = '_';
    }
  }
  return out;
}

} // namespace has::probe
