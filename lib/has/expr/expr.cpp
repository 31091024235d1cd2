#include <has/expr/expr.hpp>

#include <has/core/error.hpp>
#include <has/core/log.hpp>
#include <has/expr/convert.hpp>
#include <has/expr/sandbox.hpp>
#include <has/expr/syntax.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <limits>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace has::expr {

namespace {

using nlohmann::json;

// Definitions hold a bounded set of expressions; a template generator that
// does not should not grow the cache without end.
constexpr std::size_t k_max_cached_chunks = 10'000;

constexpr const char* k_chunk_name = "=expr";

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const noexcept {
    return std::hash<std::string_view>{}(text);
  }
};

// Returns the error object on top of the stack as text.
std::string error_text(lua_State* L) {
  if (lua_type(L, -1) == LUA_TSTRING) {
    std::size_t size = 0;
    const char* text = lua_tolstring(L, -1, &size);
    return {text, size};
  }
  if (lua_touserdata(L, -1) == null_sentinel()) {
    return "(error object is null)";
  }
  return fmt::format("(error object is a {} value)", luaL_typename(L, -1));
}

// Stores the function at stack index 1 as chunks[id] (argument 2).
int store_chunk(lua_State* L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &registry::chunks);
  lua_pushvalue(L, 1);
  lua_rawseti(L, -2, lua_tointeger(L, 2));
  return 0;
}

// Replaces the chunk table with an empty one.
int clear_chunks(lua_State* L) {
  lua_newtable(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &registry::chunks);
  return 0;
}

std::string format_bytes(std::size_t bytes) {
  if (bytes != 0 && bytes % (1u << 20) == 0) {
    return fmt::format("{} MiB", bytes >> 20);
  }
  if (bytes != 0 && bytes % 1024 == 0) {
    return fmt::format("{} KiB", bytes >> 10);
  }
  return fmt::format("{} bytes", bytes);
}

std::string help_for(std::string_view message) {
  if (message.find(" has no field '") != std::string_view::npos) {
    return "test optional fields with exists(value, \"a.b\") or get(value, "
           "\"a.b\", fallback)";
  }
  return {};
}

} // namespace

struct Engine::Impl {
  explicit Impl(Limits limits) : sandbox(limits) {}

  // Pushes the compiled chunk of expression; throws the syntax error.
  void push_chunk(std::string_view expression, const Source& where);
  // Runs expression with values (and the defaults values lacks) and leaves
  // its result on top of the stack.
  void run(std::string_view expression, const json& values, const Source& where,
           const json* defaults = nullptr);

  Sandbox sandbox;
  std::unordered_map<std::string, lua_Integer, StringHash, std::equal_to<>> chunk_ids;
  lua_Integer next_chunk_id = 1;
};

void Engine::Impl::push_chunk(std::string_view expression, const Source& where) {
  lua_State* L = sandbox.lua();
  if (auto found = chunk_ids.find(expression); found != chunk_ids.end()) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &registry::chunks);
    lua_rawgeti(L, -1, found->second);
    lua_remove(L, -2);
    return;
  }

  if (chunk_ids.size() >= k_max_cached_chunks) {
    lua_pushcfunction(L, clear_chunks);
    if (int status = lua_pcall(L, 0, 0, 0); status != LUA_OK) {
      throw evaluation_error(expression, where,
                             "cannot reset the expression cache: " + error_text(L));
    }
    chunk_ids.clear();
  }

  std::string code = chunk_code(expression, where);
  if (int status = luaL_loadbufferx(L, code.data(), code.size(), k_chunk_name, "t");
      status != LUA_OK) {
    std::string message = error_text(L);
    lua_pop(L, 1);
    if (status == LUA_ERRSYNTAX) {
      throw syntax_error(expression, where, clean_lua_message(message, expression));
    }
    throw evaluation_error(expression, where, "cannot compile: " + message);
  }
  lua_Integer id = next_chunk_id++;
  lua_pushcfunction(L, store_chunk);
  lua_pushvalue(L, -2);
  lua_pushinteger(L, id);
  if (int status = lua_pcall(L, 2, 0, 0); status != LUA_OK) {
    throw evaluation_error(expression, where,
                           "cannot cache the compiled expression: " + error_text(L));
  }
  chunk_ids.emplace(expression, id);
  HAS_DEBUG("expr: compiled `{}` as chunk {}", expression, id);
}

void Engine::Impl::run(std::string_view expression, const json& values, const Source& where,
                       const json* defaults) {
  lua_State* L = sandbox.lua();
  lua_settop(L, 0);
  if (!values.is_object() && !values.is_null()) {
    throw evaluation_error(
        expression, where,
        fmt::format("the values must be a JSON object, not {}", values.type_name()));
  }
  push_chunk(expression, where); // 1

  lua_rawgetp(L, LUA_REGISTRYINDEX, &registry::push_environment);
  lua_pushlightuserdata(L, const_cast<json*>(&values));
  lua_pushlightuserdata(L, const_cast<json*>(defaults));
  if (int status = lua_pcall(L, 2, 1, 0); status != LUA_OK) {
    throw evaluation_error(expression, where, "cannot pass the values: " + error_text(L));
  }
  if (lua_setupvalue(L, 1, 1) == nullptr) { // pops the environment into _ENV
    throw evaluation_error(expression, where, "the compiled expression has no _ENV");
  }

  lua_pushvalue(L, 1);
  sandbox.arm();
  int status = lua_pcall(L, 0, 1, 0); // 2: result or error
  Exhausted exhausted = sandbox.disarm();

  // Park an empty _ENV in the cached chunk so it does not keep these values
  // alive.
  lua_rawgetp(L, LUA_REGISTRYINDEX, &registry::dead_environment);
  if (lua_setupvalue(L, 1, 1) == nullptr) {
    lua_pop(L, 1);
  }

  if (exhausted == Exhausted::instructions) {
    throw evaluation_error(expression, where,
                           fmt::format("exceeded its instruction budget of {} instructions",
                                       sandbox.limits().instructions),
                           "look for a loop that never ends, or simplify the expression");
  }
  if (status == LUA_ERRMEM || (status != LUA_OK && exhausted == Exhausted::memory)) {
    throw evaluation_error(expression, where,
                           "exceeded its memory limit of " +
                               format_bytes(sandbox.limits().memory_bytes),
                           "the expression builds values too large to keep; simplify it");
  }
  if (status != LUA_OK) {
    std::string message = clean_lua_message(error_text(L), expression);
    std::string help = help_for(message);
    throw evaluation_error(expression, where, message, std::move(help));
  }
}

Engine::Engine(Limits limits) : m_impl(std::make_unique<Impl>(limits)) {}
Engine::~Engine() = default;
Engine::Engine(Engine&&) noexcept = default;
Engine& Engine::operator=(Engine&&) noexcept = default;

bool Engine::condition(std::string_view expression, const json& values, const Source& where) {
  m_impl->run(expression, values, where);
  bool truth = lua_toboolean(m_impl->sandbox.lua(), -1) != 0;
  lua_settop(m_impl->sandbox.lua(), 0);
  return truth;
}

bool Engine::condition(std::string_view expression, const json& values, const json& defaults,
                       const Source& where) {
  m_impl->run(expression, values, where, &defaults);
  bool truth = lua_toboolean(m_impl->sandbox.lua(), -1) != 0;
  lua_settop(m_impl->sandbox.lua(), 0);
  return truth;
}

namespace {

// Returns the value that a plain path of names (`target.address`) reads in
// values when it is a string, a whole number or a boolean, which JSON and Lua
// hold alike; nullptr for any other expression, a path that is missing, or
// another value. Those run in Lua, which reads a path the same way (values
// before built-in names) and words every error; templates over thousands of
// targets are mostly such paths.
const json* scalar_at_path(std::string_view expression, const json& values) {
  // As written inside ${{ }}: with the spaces around it.
  auto first = expression.find_first_not_of(" \t");
  auto last = expression.find_last_not_of(" \t");
  expression = first == std::string_view::npos ? std::string_view() : expression.substr(first, last - first + 1);
  const json* current = &values;
  std::size_t pos = 0;
  while (true) {
    auto dot = expression.find('.', pos);
    auto name = expression.substr(pos, dot == std::string_view::npos ? std::string_view::npos : dot - pos);
    if (!current->is_object() || !is_name(name)) {
      return nullptr;
    }
    const auto& fields = current->get_ref<const json::object_t&>();
    auto it = fields.find(name);
    if (it == fields.end()) {
      return nullptr;
    }
    current = &it->second;
    if (dot == std::string_view::npos) {
      break;
    }
    pos = dot + 1;
  }
  // Lua integers are 64-bit signed: a larger unsigned one becomes a float there.
  bool whole = current->is_number_integer() &&
               (!current->is_number_unsigned() ||
                current->get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()));
  return current->is_string() || current->is_boolean() || whole ? current : nullptr;
}

} // namespace

json Engine::evaluate(std::string_view expression, const json& values, const Source& where) {
  if (const json* value = scalar_at_path(expression, values)) {
    return *value;
  }
  return evaluate(expression, values, json(), where);
}

json Engine::evaluate(std::string_view expression, const json& values, const json& defaults,
                      const Source& where) {
  m_impl->run(expression, values, where, defaults.is_null() ? nullptr : &defaults);
  try {
    json result = to_json(m_impl->sandbox.lua(), -1);
    lua_settop(m_impl->sandbox.lua(), 0);
    return result;
  } catch (const core::Error& e) {
    throw evaluation_error(expression, where, e.what());
  }
}


std::string Engine::interpolate(std::string_view text, const json& values, const Source& where) {
  if (text.find("${{") == std::string_view::npos) {
    return std::string(text);
  }
  std::string out;
  std::size_t done = 0;
  for (const Placeholder& placeholder : find_placeholders(text, where)) {
    out.append(text.substr(done, placeholder.begin - done));
    done = placeholder.end;
    if (const json* value = scalar_at_path(placeholder.expression, values)) {
      out += value->is_string() ? value->get_ref<const std::string&>() : value->dump();
      continue;
    }
    m_impl->run(placeholder.expression, values, where);
    try {
      out += to_text(m_impl->sandbox.lua(), -1);
    } catch (const core::Error& e) {
      throw evaluation_error(placeholder.expression, where, e.what());
    }
    lua_settop(m_impl->sandbox.lua(), 0);
  }
  out.append(text.substr(done));
  return out;
}

void check_syntax(std::string_view expression, const Source& where) {
  struct Closer {
    void operator()(lua_State* state) const noexcept { lua_close(state); }
  };
  // Definitions repeat their expressions (`status == 200` in every rule), and
  // whether a text compiles depends on the text alone: each distinct text is
  // compiled once. Only successes are kept; a failure is reported, with its
  // location, every time.
  thread_local std::unordered_set<std::string, StringHash, std::equal_to<>> compiled;
  if (compiled.find(expression) != compiled.end()) {
    return;
  }
  // Compiling needs no libraries and no sandbox: one bare state per thread.
  thread_local std::unique_ptr<lua_State, Closer> compiler(luaL_newstate());
  lua_State* L = compiler.get();
  if (L == nullptr) {
    throw core::Error(core::ExitCode::failure, "cannot start the expression checker",
                      "Lua could not allocate its state");
  }
  std::string code = chunk_code(expression, where);
  int status = luaL_loadbufferx(L, code.data(), code.size(), k_chunk_name, "t");
  std::string message = status == LUA_OK ? std::string() : error_text(L);
  lua_settop(L, 0);
  if (status == LUA_ERRSYNTAX) {
    throw syntax_error(expression, where, clean_lua_message(message, expression));
  }
  if (status != LUA_OK) {
    throw core::Error(core::ExitCode::failure, "cannot check expression syntax", message);
  }
  if (compiled.size() >= k_max_cached_chunks) {
    compiled.clear();
  }
  compiled.emplace(expression);
}

std::vector<std::string> template_expressions(std::string_view text, const Source& where) {
  std::vector<std::string> expressions;
  for (Placeholder& placeholder : find_placeholders(text, where)) {
    expressions.push_back(std::move(placeholder.expression));
  }
  return expressions;
}

} // namespace has::expr
