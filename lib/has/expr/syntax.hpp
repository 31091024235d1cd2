#pragma once

// Internal to has::expr: the text-level part of the expression language
// (operator rewrite, ${{ }} scanning) and the shape of its error messages.

#include <has/core/error.hpp>
#include <has/expr/expr.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace has::expr {

// Returns the expression with `!=` as `~=`, `&&` as `and`, `||` as `or` and
// `!` as `not`, leaving string literals and comments untouched; never fails.
std::string rewrite_operators(std::string_view expression);

// Returns whether text is a Lua name: ASCII letters, digits and '_', not
// starting with a digit, and not a reserved word (`end`, `true`, ...).
bool is_name(std::string_view text);

// Returns the Lua chunk that evaluates the expression (after the operator
// rewrite); throws core::Error(bad_definitions) for an empty expression.
std::string chunk_code(std::string_view expression, const Source& where);

// One `${{ expression }}` inside a template text.
struct Placeholder {
  std::size_t begin = 0;  // offset of "${{"
  std::size_t end = 0;    // offset just past "}}"
  std::string expression; // trimmed text between the braces
};

// Returns every placeholder of text in order; throws
// core::Error(bad_definitions) for a `${{` without its `}}`.
std::vector<Placeholder> find_placeholders(std::string_view text, const Source& where);

// Returns "file:line:col" for where, dropping the parts that are unknown
// (empty when nothing is known).
std::string format_location(const Source& where);

// Returns a Lua message without the "expr:N:" chunk prefix, mentioning the
// line only for multi-line expressions; never fails.
std::string clean_lua_message(std::string_view message, std::string_view expression);

// Returns the error for a syntax error in expression: "<where>: syntax error
// in expression `<expression>`: <message>", exit code bad_definitions.
core::Error syntax_error(std::string_view expression, const Source& where,
                         std::string_view message);

// Returns the error for an expression that failed while running:
// "<where>: expression `<expression>` failed: <message>", exit code failure.
core::Error evaluation_error(std::string_view expression, const Source& where,
                             std::string_view message, std::string help = {});

} // namespace has::expr
