#include <has/expr/sandbox.hpp>

#include <has/core/error.hpp>
#include <has/expr/convert.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

namespace has::expr {

namespace {

const char k_null = 0;

constexpr std::uint64_t k_max_hook_step = 1000;

// Runs once with the full standard library in reach and builds the sandbox:
// everything expressions may touch is captured here as locals, then the
// global table is emptied so nothing else stays reachable.
// Receives: null. Returns: env_meta, object_meta, array_meta, paths, null_meta
// and a function that hands the prelude the host's lookup(name) -> found,
// value and known(names) (fills names with every value's name).
constexpr char k_prelude[] = R"lua(
local null = ...
local G = _G
local assert, error, ipairs, next, pairs, pcall, rawequal, rawget, rawlen, select, setmetatable,
      tonumber, tostring, type =
      assert, error, ipairs, next, pairs, pcall, rawequal, rawget, rawlen, select, setmetatable,
      tonumber, tostring, type
local rawset = rawset
local string, math, table, utf8 = string, math, table, utf8
local sort, concat = table.sort, table.concat
local mtype, tointeger = math.type, math.tointeger
local find, gmatch, format = string.find, string.gmatch, string.format

-- string.dump would hand out bytecode; strings' methods use this same table.
string.dump = nil

local function kind(value)
  if value == null then return "null" end
  return type(value)
end

local function read_only(name, library)
  return setmetatable({}, {
    __index = library,
    __newindex = function(_, key)
      error(format("%s is read-only (cannot set '%s')", name, tostring(key)), 2)
    end,
    __metatable = false,
  })
end

-- The path each table made from JSON was found at, for error messages.
local paths = setmetatable({}, {__mode = "k"})

local object_meta = {__metatable = false}
object_meta.__index = function(t, key)
  error(format("%s has no field '%s'", paths[t] or "table", tostring(key)), 2)
end

local array_meta = {__metatable = false}
array_meta.__index = function(t, key)
  -- ipairs and loops read one past the end: that is nil, not an error.
  if mtype(key) == "integer" then return nil end
  error(format("%s has no field '%s'", paths[t] or "array", tostring(key)), 2)
end

local null_meta = {
  __name = "null",
  __metatable = false,
  __tostring = function() return "null" end,
  __index = function(_, key)
    error(format("cannot read field '%s' of null", tostring(key)), 2)
  end,
}

-- Follows a dot-separated path with raw reads; returns found, value.
local function walk(value, path, caller)
  if type(path) ~= "string" then
    error(format("%s: the path must be a string like \"a.b.1\", got %s", caller, kind(path)), 3)
  end
  local current = value
  for segment in gmatch(path, "[^.]+") do
    if type(current) ~= "table" then return false end
    local found = rawget(current, segment)
    if found == nil then
      local number = tonumber(segment)
      local index = number and tointeger(number)
      if index then found = rawget(current, index) end
    end
    if found == nil then return false end
    current = found
  end
  return true, current
end

local function exists(value, path)
  return (walk(value, path, "exists"))
end

local function get(value, path, fallback)
  local found, result = walk(value, path, "get")
  if not found or result == null then return fallback end
  return result
end

local function len(value)
  local t = type(value)
  if t == "string" then return #value end
  if t == "table" then
    local count = 0
    for _ in next, value do count = count + 1 end
    return count
  end
  error(format("len: expected a string or a table, got %s", kind(value)), 2)
end

local function matches(text, pattern)
  if type(text) ~= "string" and type(text) ~= "number" then
    error(format("matches: expected a string, got %s", kind(text)), 2)
  end
  if type(pattern) ~= "string" then
    error(format("matches: the pattern must be a string, got %s", kind(pattern)), 2)
  end
  return find(text, pattern) ~= nil
end

local builtins = {
  assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs, pcall = pcall,
  rawequal = rawequal, rawget = rawget, rawlen = rawlen, select = select, tonumber = tonumber,
  tostring = tostring, type = type,
  string = read_only("string", string), math = read_only("math", math),
  table = read_only("table", table), utf8 = read_only("utf8", utf8),
  null = null, exists = exists, get = get, len = len, matches = matches,
}

-- An expression's _ENV starts empty: a value is made into Lua the first time
-- the expression reads its name (most read one or two of many), and kept.
local lookup, known
local env_meta = {__metatable = false}
env_meta.__index = function(env, name)
  local found, value = lookup(name)
  if found then
    rawset(env, name, value)
    return value
  end
  value = builtins[name]
  if value ~= nil then return value end
  local all, names, seen = {}, {}, {}
  known(all)
  for key in next, env do all[#all + 1] = tostring(key) end
  for _, text in ipairs(all) do
    if not seen[text] then
      seen[text] = true
      names[#names + 1] = text
    end
  end
  sort(names)
  error(format("unknown value '%s'; known values: %s", tostring(name),
               #names > 0 and concat(names, ", ") or "(none)"), 2)
end

local globals = {}
for key in next, G do globals[#globals + 1] = key end
for _, key in ipairs(globals) do G[key] = nil end

return env_meta, object_meta, array_meta, paths, null_meta, function(host_lookup, host_known)
  lookup, known = host_lookup, host_known
end
)lua";

// Opens the safe libraries, runs the prelude and files its results in the
// registry. Runs under lua_pcall, so every raised error comes back as a status.
int setup(lua_State* L) {
  luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
  luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
  luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
  luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
  luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
  lua_settop(L, 0);

  if (luaL_loadbufferx(L, k_prelude, sizeof k_prelude - 1, "=has", "t") != LUA_OK) {
    return lua_error(L);
  }
  lua_pushlightuserdata(L, null_sentinel());
  lua_call(L, 1,
           6); // 1 env_meta, 2 object_meta, 3 array_meta, 4 paths, 5 null_meta, 6 set host functions

  // Light userdata share one metatable; the sentinel is the only one Lua sees.
  lua_pushlightuserdata(L, null_sentinel());
  lua_pushvalue(L, 5);
  lua_setmetatable(L, -2);
  lua_pop(L, 1);

  lua_pushvalue(L, 2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &registry::object_meta);
  lua_pushvalue(L, 3);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &registry::array_meta);
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 3);
  lua_pushvalue(L, 4);
  lua_pushcclosure(L, push_environment, 4);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &registry::push_environment);
  lua_pushvalue(L, 6);
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 3);
  lua_pushvalue(L, 4);
  lua_pushcclosure(L, lookup_value, 4);
  lua_pushcfunction(L, known_values);
  lua_call(L, 2, 0);
  lua_newtable(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &registry::chunks);
  lua_newtable(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &registry::dead_environment);
  return 0;
}

} // namespace

void* null_sentinel() noexcept { return const_cast<char*>(&k_null); }

Sandbox::Sandbox(Limits limits)
  : m_limits(limits), m_hook_step(static_cast<int>(
                          std::clamp<std::uint64_t>(limits.instructions, 1, k_max_hook_step))) {
  lua_State* L = lua_newstate(&Sandbox::allocate, this);
  if (L == nullptr) {
    throw core::Error(core::ExitCode::failure, "cannot start the expression engine",
                      "Lua could not allocate its state");
  }
  m_lua.reset(L);
  Sandbox* self = this;
  std::memcpy(lua_getextraspace(L), &self, sizeof self);

  lua_pushcfunction(L, setup);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    std::string message = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "unknown error";
    throw core::Error(core::ExitCode::failure, "cannot start the expression engine", message);
  }
}

Sandbox& Sandbox::of(lua_State* L) noexcept {
  Sandbox* self = nullptr;
  std::memcpy(&self, lua_getextraspace(L), sizeof self);
  return *self;
}

std::size_t Sandbox::pause_cap() noexcept {
  m_paused_cap = m_cap;
  m_cap = SIZE_MAX;
  return m_used;
}

void Sandbox::resume_cap(std::size_t paused) noexcept {
  std::size_t grown = m_used > paused ? m_used - paused : 0;
  m_cap = m_paused_cap == SIZE_MAX || SIZE_MAX - m_paused_cap < grown ? m_paused_cap : m_paused_cap + grown;
}

void Sandbox::arm() noexcept {
  m_executed = 0;
  m_out_of_instructions = false;
  m_out_of_memory = false;
  m_cap = m_used + std::min(m_limits.memory_bytes, SIZE_MAX - m_used);
  lua_sethook(m_lua.get(), &Sandbox::count_hook, LUA_MASKCOUNT, m_hook_step);
}

Exhausted Sandbox::disarm() noexcept {
  lua_sethook(m_lua.get(), nullptr, 0, 0);
  m_cap = SIZE_MAX;
  if (m_out_of_instructions) {
    return Exhausted::instructions;
  }
  return m_out_of_memory ? Exhausted::memory : Exhausted::nothing;
}

void* Sandbox::allocate(void* self, void* block, std::size_t old_size,
                        std::size_t new_size) noexcept {
  auto* sandbox = static_cast<Sandbox*>(self);
  // Without a block, old_size carries the kind of object being created.
  std::size_t old_bytes = block == nullptr ? 0 : old_size;
  if (new_size == 0) {
    std::free(block);
    sandbox->m_used -= old_bytes;
    return nullptr;
  }
  if (new_size > old_bytes) {
    std::size_t room = sandbox->m_cap > sandbox->m_used ? sandbox->m_cap - sandbox->m_used : 0;
    if (new_size - old_bytes > room) {
      // Lua answers with an emergency collection and, failing that, a memory
      // error.
      sandbox->m_out_of_memory = true;
      return nullptr;
    }
  }
  void* resized = std::realloc(block, new_size);
  if (resized != nullptr) {
    sandbox->m_used = sandbox->m_used - old_bytes + new_size;
  }
  return resized;
}

void Sandbox::count_hook(lua_State* L, lua_Debug* /*debug*/) {
  Sandbox* self = nullptr;
  std::memcpy(&self, lua_getextraspace(L), sizeof self);
  self->m_executed += static_cast<std::uint64_t>(self->m_hook_step);
  if (self->m_executed < self->m_limits.instructions && !self->m_out_of_instructions) {
    return;
  }
  self->m_out_of_instructions = true;
  // From now on every instruction fails, so a pcall inside the expression
  // cannot swallow the error and keep running.
  lua_sethook(L, &Sandbox::count_hook, LUA_MASKCOUNT, 1);
  lua_pushliteral(L, "instruction budget exceeded");
  lua_error(L);
}

} // namespace has::expr
