#pragma once

// Internal to has::expr: moving values between JSON and Lua.

#include <nlohmann/json.hpp>

#include <lua.hpp>

#include <string>

namespace has::expr {

// lua_CFunction closure (upvalues: env_meta, object_meta, array_meta, paths)
// taking a light userdata pointing at a JSON object, and optionally a second
// one pointing at an object of defaults (or NULL); returns a fresh _ENV
// table holding the keys of the first and those of the defaults it lacks. JSON null becomes null_sentinel(), objects and
// arrays become tables whose metatables report missing fields by path.
// Raises a Lua error for values nested too deeply; call it under lua_pcall.
int push_environment(lua_State* L);

// Returns the Lua value at index as JSON, reading tables raw; throws
// core::Error(failure) for functions, userdata, cyclic or too deep tables.
nlohmann::json to_json(lua_State* L, int index);

// Returns the Lua value at index as template text (strings as-is, integral
// numbers without ".0", booleans, tables as compact JSON, null as "null",
// nil as ""); throws like to_json().
std::string to_text(lua_State* L, int index);

} // namespace has::expr
