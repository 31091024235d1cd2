#include <has/expr/convert.hpp>

#include <has/core/error.hpp>
#include <has/expr/sandbox.hpp>
#include <has/expr/syntax.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace has::expr {

namespace {

using nlohmann::json;

// JSON deeper than this is refused instead of exhausting the C stack.
constexpr int k_max_depth = 200;

enum Upvalue { env_meta = 1, object_meta = 2, array_meta = 3, paths = 4 };

// The functions below run inside Lua (under lua_pcall) and may be left by a
// longjmp at any Lua call, so they hold no object with a destructor.

void push_value(lua_State* L, const json& value, int depth);

// Gives the table on top of the stack its metatable and records the path
// string at path_index for error messages.
void mark_table(lua_State* L, Upvalue meta, int path_index) {
  lua_pushvalue(L, lua_upvalueindex(meta));
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_pushvalue(L, path_index);
  lua_rawset(L, lua_upvalueindex(paths));
}

// Pushes value; when it is an object or array, its path string is on top of
// the stack (and stays there).
void push_structured(lua_State* L, const json& value, int depth) {
  if (depth > k_max_depth) {
    luaL_error(L, "values are nested deeper than %d levels", k_max_depth);
  }
  luaL_checkstack(L, 8, "values are nested too deeply");
  int path_index = lua_gettop(L);
  const char* path = lua_tostring(L, path_index);
  if (value.is_object()) {
    const auto& object = value.get_ref<const json::object_t&>();
    lua_createtable(L, 0, static_cast<int>(object.size()));
    mark_table(L, object_meta, path_index);
    int table = lua_gettop(L);
    for (const auto& [key, child] : object) {
      lua_pushlstring(L, key.data(), key.size());
      if (child.is_structured()) {
        if (is_name(key)) {
          lua_pushfstring(L, "%s.%s", path, key.c_str());
        } else {
          lua_pushfstring(L, "%s[\"%s\"]", path, key.c_str());
        }
        push_structured(L, child, depth + 1);
        lua_remove(L, -2);
      } else {
        push_value(L, child, depth + 1);
      }
      lua_rawset(L, table);
    }
  } else {
    const auto& array = value.get_ref<const json::array_t&>();
    lua_createtable(L, static_cast<int>(array.size()), 0);
    mark_table(L, array_meta, path_index);
    int table = lua_gettop(L);
    for (std::size_t i = 0; i < array.size(); ++i) {
      auto index = static_cast<lua_Integer>(i + 1);
      if (array[i].is_structured()) {
        lua_pushfstring(L, "%s[%I]", path, index);
        push_structured(L, array[i], depth + 1);
        lua_remove(L, -2);
      } else {
        push_value(L, array[i], depth + 1);
      }
      lua_rawseti(L, table, index);
    }
  }
}

void push_value(lua_State* L, const json& value, int depth) {
  switch (value.type()) {
  case json::value_t::null:
    lua_pushlightuserdata(L, null_sentinel());
    break;
  case json::value_t::boolean:
    lua_pushboolean(L, value.get<bool>() ? 1 : 0);
    break;
  case json::value_t::number_integer:
    lua_pushinteger(L, static_cast<lua_Integer>(value.get<std::int64_t>()));
    break;
  case json::value_t::number_unsigned: {
    auto number = value.get<std::uint64_t>();
    if (number <= static_cast<std::uint64_t>(std::numeric_limits<lua_Integer>::max())) {
      lua_pushinteger(L, static_cast<lua_Integer>(number));
    } else {
      lua_pushnumber(L, static_cast<lua_Number>(number));
    }
    break;
  }
  case json::value_t::number_float:
    lua_pushnumber(L, value.get<double>());
    break;
  case json::value_t::string: {
    const auto& text = value.get_ref<const std::string&>();
    lua_pushlstring(L, text.data(), text.size());
    break;
  }
  case json::value_t::object:
  case json::value_t::array:
    lua_pushliteral(L, "value");
    push_structured(L, value, depth);
    lua_remove(L, -2);
    break;
  default:
    luaL_error(L, "values of JSON type '%s' cannot be used in expressions", value.type_name());
  }
}

[[noreturn]] void refuse(const std::string& reason) {
  throw core::Error(core::ExitCode::failure, reason);
}

const char* kind(lua_State* L, int index) {
  if (lua_touserdata(L, index) == null_sentinel()) {
    return "null";
  }
  return lua_typename(L, lua_type(L, index));
}

// Returns whether the table at index has exactly the keys 1..n (n > 0).
bool is_sequence(lua_State* L, int index) {
  lua_Integer count = 0;
  lua_Integer largest = 0;
  bool integers = true;
  lua_pushnil(L);
  while (lua_next(L, index) != 0) {
    ++count;
    if (lua_isinteger(L, -2) && lua_tointeger(L, -2) >= 1) {
      largest = std::max(largest, lua_tointeger(L, -2));
    } else {
      integers = false;
    }
    lua_pop(L, 1);
  }
  return integers && count > 0 && largest == count;
}

// Returns whether the table at index carries the registry metatable at key.
bool has_metatable(lua_State* L, int index, const char* key) {
  if (lua_getmetatable(L, index) == 0) {
    return false;
  }
  lua_rawgetp(L, LUA_REGISTRYINDEX, key);
  bool same = lua_rawequal(L, -1, -2) != 0;
  lua_pop(L, 2);
  return same;
}

std::string key_text(lua_State* L, int index) {
  switch (lua_type(L, index)) {
  case LUA_TSTRING: {
    std::size_t size = 0;
    const char* text = lua_tolstring(L, index, &size);
    return {text, size};
  }
  case LUA_TNUMBER:
    if (lua_isinteger(L, index)) {
      return std::to_string(lua_tointeger(L, index));
    }
    return fmt::format("{}", lua_tonumber(L, index));
  case LUA_TBOOLEAN:
    return lua_toboolean(L, index) ? "true" : "false";
  default:
    refuse(fmt::format("a table key of type {} cannot become JSON", kind(L, index)));
  }
}

// These run in plain C++ (not called by Lua) and use only Lua API functions
// that cannot raise, so throwing is safe.
json to_json_at(lua_State* L, int index, int depth) {
  switch (lua_type(L, index)) {
  case LUA_TNIL:
    return nullptr;
  case LUA_TBOOLEAN:
    return lua_toboolean(L, index) != 0;
  case LUA_TNUMBER:
    if (lua_isinteger(L, index)) {
      return static_cast<std::int64_t>(lua_tointeger(L, index));
    }
    return lua_tonumber(L, index);
  case LUA_TSTRING: {
    std::size_t size = 0;
    const char* text = lua_tolstring(L, index, &size);
    return std::string(text, size);
  }
  case LUA_TLIGHTUSERDATA:
    if (lua_touserdata(L, index) == null_sentinel()) {
      return nullptr;
    }
    break;
  case LUA_TTABLE: {
    if (depth > k_max_depth) {
      refuse(fmt::format("the result is nested deeper than {} levels (or refers to itself)",
                         k_max_depth));
    }
    if (lua_checkstack(L, 4) == 0) {
      refuse("the Lua stack cannot grow to convert the result");
    }
    if (has_metatable(L, index, &registry::array_meta) ||
        (!has_metatable(L, index, &registry::object_meta) && is_sequence(L, index))) {
      json array = json::array();
      auto size = static_cast<lua_Integer>(lua_rawlen(L, index));
      for (lua_Integer i = 1; i <= size; ++i) {
        lua_rawgeti(L, index, i);
        array.push_back(to_json_at(L, lua_gettop(L), depth + 1));
        lua_pop(L, 1);
      }
      return array;
    }
    json object = json::object();
    lua_pushnil(L);
    while (lua_next(L, index) != 0) {
      int top = lua_gettop(L);
      object[key_text(L, top - 1)] = to_json_at(L, top, depth + 1);
      lua_pop(L, 1);
    }
    return object;
  }
  default:
    break;
  }
  refuse(fmt::format("the result is a {}, which has no JSON form", kind(L, index)));
}

} // namespace

int push_environment(lua_State* L) {
  auto* values = lua_touserdata(L, 1);
  auto* defaults = lua_gettop(L) >= 2 ? lua_touserdata(L, 2) : nullptr;
  lua_settop(L, 0);
  lua_pushlightuserdata(L, values);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &registry::values);
  lua_pushlightuserdata(L, defaults);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &registry::defaults);
  lua_newtable(L);
  lua_pushvalue(L, lua_upvalueindex(env_meta));
  lua_setmetatable(L, 1);
  return 1;
}

namespace {

// Returns the object of the running evaluation filed at key, if it is one.
const json* current_object(lua_State* L, const char* key) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, key);
  const auto* object = static_cast<const json*>(lua_touserdata(L, -1));
  lua_pop(L, 1);
  return object != nullptr && object->is_object() ? object : nullptr;
}

} // namespace

int lookup_value(lua_State* L) {
  if (lua_type(L, 1) != LUA_TSTRING) {
    lua_pushboolean(L, 0);
    return 1;
  }
  std::size_t size = 0;
  const char* name = lua_tolstring(L, 1, &size);
  const json* found = nullptr;
  for (const char* key : {&registry::values, &registry::defaults}) {
    if (const json* object = current_object(L, key)) {
      const auto& fields = object->get_ref<const json::object_t&>();
      if (auto it = fields.find(std::string_view(name, size)); it != fields.end()) {
        found = &it->second;
        break;
      }
    }
  }
  if (found == nullptr) {
    lua_pushboolean(L, 0);
    return 1;
  }
  luaL_checkstack(L, 8, "cannot grow the Lua stack");
  auto& sandbox = Sandbox::of(L);
  auto paused = sandbox.pause_cap();
  lua_pushboolean(L, 1);
  if (found->is_structured()) {
    lua_pushvalue(L, 1); // a top-level table's path is its name
    push_structured(L, *found, 1);
    lua_remove(L, -2);
  } else {
    push_value(L, *found, 1);
  }
  sandbox.resume_cap(paused);
  return 2;
}

int known_values(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  auto count = static_cast<lua_Integer>(lua_rawlen(L, 1));
  for (const char* key : {&registry::values, &registry::defaults}) {
    if (const json* object = current_object(L, key)) {
      for (const auto& item : object->get_ref<const json::object_t&>()) {
        const auto& name = item.first;
        lua_pushlstring(L, name.data(), name.size());
        lua_rawseti(L, 1, ++count);
      }
    }
  }
  return 0;
}

json to_json(lua_State* L, int index) { return to_json_at(L, lua_absindex(L, index), 0); }

std::string to_text(lua_State* L, int index) {
  index = lua_absindex(L, index);
  switch (lua_type(L, index)) {
  case LUA_TNIL:
    return {};
  case LUA_TBOOLEAN:
    return lua_toboolean(L, index) ? "true" : "false";
  case LUA_TNUMBER: {
    if (lua_isinteger(L, index)) {
      return std::to_string(lua_tointeger(L, index));
    }
    double number = lua_tonumber(L, index);
    if (std::isfinite(number) && number == std::trunc(number) && std::fabs(number) < 1e15) {
      return fmt::format("{:.0f}", number);
    }
    return fmt::format("{}", number);
  }
  case LUA_TSTRING: {
    std::size_t size = 0;
    const char* text = lua_tolstring(L, index, &size);
    return {text, size};
  }
  default:
    if (lua_touserdata(L, index) == null_sentinel()) {
      return "null";
    }
    return to_json(L, index).dump(-1, ' ', false, json::error_handler_t::replace);
  }
}

} // namespace has::expr
