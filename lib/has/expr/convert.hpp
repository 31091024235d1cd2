#pragma once

// Internal to has::expr: moving values between JSON and Lua.

#include <nlohmann/json.hpp>

#include <lua.hpp>

#include <string>

namespace has::expr {

// lua_CFunction closure (upvalues: env_meta, object_meta, array_meta, paths)
// taking a light userdata pointing at a JSON object, and optionally a second
// one pointing at an object of defaults (or NULL); returns a fresh, empty
// _ENV table whose names resolve to the keys of the first and then to those
// of the defaults, through lookup_value. Both objects must outlive the
// evaluation.
int push_environment(lua_State* L);

// lua_CFunction closure (the same upvalues) taking a name: returns true and
// the value of that name in the running evaluation's values (or defaults),
// or false. JSON null becomes null_sentinel(), objects and arrays become
// tables whose metatables report missing fields by path; what it makes does
// not count against the memory cap. Raises a Lua error for values nested too
// deeply.
int lookup_value(lua_State* L);

// lua_CFunction taking a table: appends the name of every value and default
// of the running evaluation to it (a name in both appears twice).
int known_values(lua_State* L);

// Returns the Lua value at index as JSON, reading tables raw; throws
// core::Error(failure) for functions, userdata, cyclic or too deep tables.
nlohmann::json to_json(lua_State* L, int index);

// Returns the Lua value at index as template text (strings as-is, integral
// numbers without ".0", booleans, tables as compact JSON, null as "null",
// nil as ""); throws like to_json().
std::string to_text(lua_State* L, int index);

} // namespace has::expr
