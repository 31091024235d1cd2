#include <has/expr/syntax.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <iterator>

namespace has::expr {

namespace {

constexpr std::size_t k_max_quoted_expression = 160;

// Returns the level of the long bracket ("[[", "[=[", ...) opening at pos, or
// -1.
int long_bracket_level(std::string_view text, std::size_t pos) {
  if (pos >= text.size() || text[pos] != '[') {
    return -1;
  }
  std::size_t i = pos + 1;
  while (i < text.size() && text[i] == '=') {
    ++i;
  }
  if (i < text.size() && text[i] == '[') {
    return static_cast<int>(i - pos - 1);
  }
  return -1;
}

// Returns the offset just past the long bracket of this level opening at pos
// (the end of text when it is never closed).
std::size_t skip_long_bracket(std::string_view text, std::size_t pos, int level) {
  std::string closing = "]" + std::string(static_cast<std::size_t>(level), '=') + "]";
  std::size_t end = text.find(closing, pos + static_cast<std::size_t>(level) + 2);
  return end == std::string_view::npos ? text.size() : end + closing.size();
}

// Returns the offset just past the string literal or comment starting at pos,
// or pos when none starts there. Mirrors the Lua lexer, so operators are
// rewritten exactly where Lua would read them as operators.
std::size_t skip_literal(std::string_view text, std::size_t pos) {
  char c = text[pos];
  if (c == '"' || c == '\'') {
    std::size_t i = pos + 1;
    while (i < text.size() && text[i] != c) {
      i += text[i] == '\\' ? 2 : 1;
    }
    return std::min(i + 1, text.size());
  }
  if (int level = long_bracket_level(text, pos); level >= 0) {
    return skip_long_bracket(text, pos, level);
  }
  if (text.compare(pos, 2, "--") == 0) {
    if (int level = long_bracket_level(text, pos + 2); level >= 0) {
      return skip_long_bracket(text, pos + 2, level);
    }
    std::size_t end = text.find('\n', pos);
    return end == std::string_view::npos ? text.size() : end;
  }
  return pos;
}

std::string_view trim(std::string_view text) {
  auto is_space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!text.empty() && is_space(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && is_space(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

std::string quote(std::string_view expression) {
  expression = trim(expression);
  if (expression.size() > k_max_quoted_expression) {
    return fmt::format("`{}...`", expression.substr(0, k_max_quoted_expression));
  }
  return fmt::format("`{}`", expression);
}

std::string with_location(const Source& where, std::string message) {
  std::string location = format_location(where);
  return location.empty() ? message : location + ": " + message;
}

} // namespace

bool is_name(std::string_view text) {
  auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (text.empty() || !letter(text.front())) {
    return false;
  }
  for (char c : text) {
    if (!letter(c) && !(c >= '0' && c <= '9')) {
      return false;
    }
  }
  static constexpr std::string_view k_reserved[] = {
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if",
    "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while"};
  return std::find(std::begin(k_reserved), std::end(k_reserved), text) == std::end(k_reserved);
}

std::string rewrite_operators(std::string_view expression) {
  std::string out;
  out.reserve(expression.size() + 16);
  std::size_t i = 0;
  while (i < expression.size()) {
    if (std::size_t end = skip_literal(expression, i); end != i) {
      out.append(expression.substr(i, end - i));
      i = end;
      continue;
    }
    char c = expression[i];
    char next = i + 1 < expression.size() ? expression[i + 1] : '\0';
    if (c == '!' && next == '=') {
      out += "~=";
      i += 2;
    } else if (c == '!') {
      out += " not ";
      i += 1;
    } else if (c == '&' && next == '&') {
      out += " and ";
      i += 2;
    } else if (c == '|' && next == '|') {
      out += " or ";
      i += 2;
    } else {
      out += c;
      i += 1;
    }
  }
  return out;
}

std::string chunk_code(std::string_view expression, const Source& where) {
  if (trim(expression).empty()) {
    throw syntax_error(expression, where, "the expression is empty");
  }
  // The newline keeps a trailing `-- comment` from swallowing the parenthesis;
  // the parentheses make a list like `a, b` a syntax error.
  return "return (" + rewrite_operators(expression) + "\n)";
}

std::vector<Placeholder> find_placeholders(std::string_view text, const Source& where) {
  std::vector<Placeholder> found;
  std::size_t pos = 0;
  while ((pos = text.find("${{", pos)) != std::string_view::npos) {
    std::size_t i = pos + 3;
    int depth = 0; // braces of table constructors inside the expression
    bool closed = false;
    while (i < text.size()) {
      if (std::size_t end = skip_literal(text, i); end != i) {
        i = end;
        continue;
      }
      if (text[i] == '{') {
        ++depth;
      } else if (text[i] == '}') {
        if (depth == 0 && i + 1 < text.size() && text[i + 1] == '}') {
          closed = true;
          break;
        }
        depth = std::max(depth - 1, 0);
      }
      ++i;
    }
    if (!closed) {
      throw core::Error(
          core::ExitCode::bad_definitions,
          with_location(where, fmt::format("unterminated `${{{{` in {}", quote(text))), {},
          "close the expression with `}}`");
    }
    found.push_back({pos, i + 2, std::string(trim(text.substr(pos + 3, i - pos - 3)))});
    pos = i + 2;
  }
  return found;
}

std::string format_location(const Source& where) {
  if (where.file.empty() && where.line <= 0) {
    return {};
  }
  std::string out = where.file.empty() ? "<expression>" : where.file;
  if (where.line > 0) {
    out += fmt::format(":{}", where.line);
    if (where.column > 0) {
      out += fmt::format(":{}", where.column);
    }
  }
  return out;
}

std::string clean_lua_message(std::string_view message, std::string_view expression) {
  constexpr std::string_view prefix = "expr:";
  if (message.substr(0, prefix.size()) != prefix) {
    return std::string(message);
  }
  std::size_t digits_end = prefix.size();
  while (digits_end < message.size() &&
         std::isdigit(static_cast<unsigned char>(message[digits_end]))) {
    ++digits_end;
  }
  if (digits_end == prefix.size() || message.compare(digits_end, 2, ": ") != 0) {
    return std::string(message);
  }
  long line = std::strtol(
      std::string(message.substr(prefix.size(), digits_end - prefix.size())).c_str(), nullptr, 10);
  std::string rest(message.substr(digits_end + 2));
  auto lines = static_cast<long>(std::count(expression.begin(), expression.end(), '\n')) + 1;
  if (line > lines) {
    // The error sits on the closing parenthesis chunk_code() added.
    constexpr std::string_view near_paren = " near ')'";
    if (rest.size() >= near_paren.size() &&
        rest.compare(rest.size() - near_paren.size(), near_paren.size(), near_paren) == 0) {
      rest.replace(rest.size() - near_paren.size(), near_paren.size(),
                   " at the end of the expression");
    }
    return rest;
  }
  return lines == 1 ? rest : fmt::format("line {}: {}", line, rest);
}

core::Error syntax_error(std::string_view expression, const Source& where,
                         std::string_view message) {
  return core::Error(core::ExitCode::bad_definitions,
                     with_location(where, fmt::format("syntax error in expression {}: {}",
                                                      quote(expression), message)),
                     {},
                     "write one Lua 5.4 expression, e.g. `status == 200 and "
                     "body:find(\"OK\")` "
                     "(also accepted: !=, &&, ||, !)");
}

core::Error evaluation_error(std::string_view expression, const Source& where,
                             std::string_view message, std::string help) {
  return core::Error(
      core::ExitCode::failure,
      with_location(where, fmt::format("expression {} failed: {}", quote(expression), message)), {},
      std::move(help));
}

} // namespace has::expr
