#include <has/report/render.hpp>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>

namespace has::report {

namespace {

constexpr std::array<std::pair<std::string_view, Format>, 7> k_formats{{
  {"table", Format::table},
  {"json", Format::json},
  {"ndjson", Format::ndjson},
  {"yaml", Format::yaml},
  {"markdown", Format::markdown},
  {"html", Format::html},
  {"junit", Format::junit},
}};

std::size_t display_width(std::string_view text) {
  std::size_t width = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) {
      ++width;
    }
  }
  return width;
}

void emit(YAML::Emitter& out, const nlohmann::json& value) {
  switch (value.type()) {
  case nlohmann::json::value_t::object:
    out << YAML::BeginMap;
    for (const auto& item : value.items()) {
      out << YAML::Key << item.key() << YAML::Value;
      emit(out, item.value());
    }
    out << YAML::EndMap;
    break;
  case nlohmann::json::value_t::array:
    out << YAML::BeginSeq;
    for (const auto& item : value) {
      emit(out, item);
    }
    out << YAML::EndSeq;
    break;
  case nlohmann::json::value_t::string: {
    const auto& text = value.get_ref<const std::string&>();
    // Quote strings that YAML would otherwise read as another type.
    bool ambiguous = text.empty() || text == "true" || text == "false" || text == "null" ||
                     text == "~" || text == "yes" || text == "no" ||
                     text.find_first_not_of("0123456789.-+eE") == std::string::npos;
    if (ambiguous) {
      out << YAML::DoubleQuoted << text;
    } else {
      out << text;
    }
    break;
  }
  case nlohmann::json::value_t::boolean:
    out << (value.get<bool>() ? "true" : "false");
    break;
  case nlohmann::json::value_t::null:
  case nlohmann::json::value_t::discarded:
    out << YAML::Null;
    break;
  default:
    out << value.dump();
    break;
  }
}

} // namespace

std::optional<Format> parse_format(std::string_view text) {
  for (auto [name, format] : k_formats) {
    if (name == text) {
      return format;
    }
  }
  return std::nullopt;
}

std::string_view format_name(Format format) {
  for (auto [name, f] : k_formats) {
    if (f == format) {
      return name;
    }
  }
  return "table";
}

std::string render_text(const Table& table) {
  std::vector<std::size_t> widths(table.columns.size());
  for (std::size_t i = 0; i < table.columns.size(); ++i) {
    widths[i] = display_width(table.columns[i].title);
  }
  for (const auto& row : table.rows) {
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], display_width(row[i]));
    }
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (std::size_t i = 0; i < widths.size(); ++i) {
      std::string_view cell = i < cells.size() ? std::string_view(cells[i]) : std::string_view();
      auto pad = std::string(widths[i] - std::min(widths[i], display_width(cell)), ' ');
      if (i > 0) {
        text += "  ";
      }
      if (table.columns[i].align == Align::right) {
        text += pad;
        text += cell;
      } else {
        text += cell;
        if (i + 1 < widths.size()) {
          text += pad;
        }
      }
    }
    while (!text.empty() && text.back() == ' ') {
      text.pop_back();
    }
    out += text + "\n";
  };
  std::vector<std::string> titles;
  for (const auto& column : table.columns) {
    titles.push_back(column.title);
  }
  line(titles);
  for (const auto& row : table.rows) {
    line(row);
  }
  return out;
}

std::string render_markdown(const Table& table) {
  auto escape = [](std::string_view cell) {
    std::string out;
    for (char c : cell) {
      if (c == '|') {
        out += "\\|";
      } else if (c == '\n') {
        out += "<br>";
      } else {
        out += c;
      }
    }
    return out;
  };
  std::string out = "|";
  for (const auto& column : table.columns) {
    out += " " + escape(column.title) + " |";
  }
  out += "\n|";
  for (const auto& column : table.columns) {
    out += column.align == Align::right ? " ---: |" : " --- |";
  }
  out += "\n";
  for (const auto& row : table.rows) {
    out += "|";
    for (std::size_t i = 0; i < table.columns.size(); ++i) {
      out += " " + (i < row.size() ? escape(row[i]) : std::string()) + " |";
    }
    out += "\n";
  }
  return out;
}

std::string render_yaml(const nlohmann::json& value) {
  YAML::Emitter out;
  emit(out, value);
  std::string text = out.c_str();
  if (text.empty() || text.back() != '\n') {
    text += '\n';
  }
  return text;
}

std::string render_ndjson(const nlohmann::json& value) {
  std::string out;
  if (value.is_array()) {
    for (const auto& item : value) {
      out += item.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    }
  } else {
    out = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }
  return out;
}

std::string render_json(const nlohmann::json& value) {
  return value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string mermaid_label(std::string_view text) {
  std::string out;
  for (char c : text) {
    out += c == '"' ? std::string("#quot;") : std::string(1, c);
  }
  return out;
}

std::string dot_label(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    out += c == '\n' ? std::string("\\n") : std::string(1, c);
  }
  return out;
}

} // namespace has::report
