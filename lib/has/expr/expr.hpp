#pragma once

// The expression language used everywhere in has: `expect` conditions, tree
// branches, `when:` on plan steps, safety assertions and `${{ expr }}`
// templates. Expressions are single Lua 5.4 expressions run in a sandbox (no
// os, io, require, load, debug; an instruction budget and a memory cap).
// Beyond Lua they accept `!=`, `&&`, `||` and `!`, and offer `null`,
// `exists(t, "a.b.1")`, `get(t, "a.b", fallback)`, `len(x)` and
// `matches(s, lua_pattern)`. Reading an unknown name or a missing field is an
// error naming it, never a silent nil.

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace has::expr {

// Where an expression was written, so errors can point at it.
struct Source {
  std::string file;
  int line = 0;
  int column = 0;
};

// What one evaluation may use before it is stopped with an error.
struct Limits {
  // Lua VM instructions per evaluation (checked every 1000 instructions).
  // Time inside one library call, such as a pathological string pattern on a
  // large body, is not counted.
  std::uint64_t instructions = 1'000'000;
  // Bytes one evaluation may allocate beyond the state holding its values.
  std::size_t memory_bytes = 32u << 20;
};

// One sandboxed Lua state that evaluates expressions; compiled expressions are
// cached by text, so evaluating the same conditions again is cheap. Not
// thread-safe: use one Engine per thread. A moved-from Engine may only be
// destroyed or assigned to.
class Engine {
public:
  // Starts the sandboxed Lua state; throws core::Error(failure) if Lua cannot start.
  explicit Engine(Limits limits = {});
  ~Engine();
  Engine(Engine&&) noexcept;
  Engine& operator=(Engine&&) noexcept;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Returns the Lua truth of expression evaluated with the keys of values (a
  // JSON object) as names (nil and false are false; note that `null` is
  // true); throws core::Error(bad_definitions) on a syntax error and
  // core::Error(failure) on a runtime error, an unknown name, a missing field
  // or an exceeded limit, naming the expression, where and the Lua message.
  bool condition(std::string_view expression, const nlohmann::json& values,
                 const Source& where = {});

  // As condition() above, with the keys of defaults (a JSON object) that
  // values lacks added to the names, as if values were merged with them.
  bool condition(std::string_view expression, const nlohmann::json& values,
                 const nlohmann::json& defaults, const Source& where = {});

  // Returns the value of expression as JSON (nil and null -> null, integers
  // stay integers, tables with keys 1..n -> arrays, other tables -> objects);
  // throws like condition(), and core::Error(failure) for values JSON cannot
  // hold (functions, cyclic tables).
  nlohmann::json evaluate(std::string_view expression, const nlohmann::json& values,
                          const Source& where = {});

  // As evaluate() above, with the keys of defaults (a JSON object, or null)
  // that values lacks added to the names.
  nlohmann::json evaluate(std::string_view expression, const nlohmann::json& values,
                          const nlohmann::json& defaults, const Source& where = {});

  // Returns text with every `${{ expr }}` replaced by its value as text
  // (strings as-is, 3.0 as "3", booleans as true/false, tables as compact
  // JSON, null as "null", nil as ""); text without `${{` comes back
  // unchanged; throws core::Error(bad_definitions) for an unterminated `${{`
  // and otherwise like evaluate().
  std::string interpolate(std::string_view text, const nlohmann::json& values,
                          const Source& where = {});

private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

// Returns normally when expression compiles (after the operator rewrite);
// throws core::Error(bad_definitions) naming where, the expression and the
// Lua message otherwise. For `has validate`, which finds broken expressions
// at load time.
void check_syntax(std::string_view expression, const Source& where = {});

// Returns the trimmed expression of every `${{ ... }}` in text, in order;
// throws core::Error(bad_definitions) for an unterminated `${{`.
std::vector<std::string> template_expressions(std::string_view text, const Source& where = {});

} // namespace has::expr
