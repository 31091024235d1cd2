#pragma once

// Internal to has::expr: the sandboxed lua_State with its memory cap and
// instruction budget.

#include <has/expr/expr.hpp>

#include <lua.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>

namespace has::expr {

// Registry keys (only their addresses matter) for what setup leaves in the
// state; read with lua_rawgetp(L, LUA_REGISTRYINDEX, &registry::...).
namespace registry {
inline const char object_meta = 0;      // metatable of tables made from JSON objects
inline const char array_meta = 0;       // metatable of tables made from JSON arrays
inline const char push_environment = 0; // C closure: (values*) -> environment table
inline const char chunks = 0;           // compiled expressions by id
inline const char dead_environment = 0; // empty _ENV parked in idle chunks
inline const char values = 0;           // light userdata: the values of the running evaluation
inline const char defaults = 0;         // light userdata: its defaults, or none
} // namespace registry

// Returns the light userdata that stands for JSON null inside Lua.
void* null_sentinel() noexcept;

// What stopped an evaluation besides an ordinary error.
enum class Exhausted { nothing, instructions, memory };

// One sandboxed Lua state: only safe base functions and the string, math,
// table and utf8 libraries are reachable from expressions.
class Sandbox {
public:
  // Creates and seals the state; throws core::Error(failure) if Lua cannot
  // start.
  explicit Sandbox(Limits limits);
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  lua_State* lua() const noexcept { return m_lua.get(); }
  const Limits& limits() const noexcept { return m_limits; }

  // Starts the instruction budget and the memory cap of one evaluation.
  void arm() noexcept;
  // Stops them again and returns which one ran out, if any.
  Exhausted disarm() noexcept;

  // Returns the sandbox that owns L.
  static Sandbox& of(lua_State* L) noexcept;

  // Lifts the memory cap while the values an evaluation reads are turned
  // into Lua: they belong to the state holding the values, not to what the
  // evaluation allocates. Returns what resume_cap() needs.
  std::size_t pause_cap() noexcept;
  // Puts the cap back, moved up by what was allocated since pause_cap().
  void resume_cap(std::size_t paused) noexcept;

private:
  struct Closer {
    void operator()(lua_State* state) const noexcept { lua_close(state); }
  };
  static void* allocate(void* self, void* block, std::size_t old_size,
                        std::size_t new_size) noexcept;
  static void count_hook(lua_State* state, lua_Debug* debug);

  Limits m_limits;
  int m_hook_step = 1;
  std::uint64_t m_executed = 0;
  bool m_out_of_instructions = false;
  std::size_t m_used = 0;
  std::size_t m_cap = SIZE_MAX;
  std::size_t m_paused_cap = SIZE_MAX;
  bool m_out_of_memory = false;
  std::unique_ptr<lua_State, Closer> m_lua; // last: closed before the counters above go away
};

} // namespace has::expr
