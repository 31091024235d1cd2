#pragma once

// Fields of a definition resolved at use time: ${env:NAME} and ${{ }}.

#include <has/defs/diagnostics.hpp>

#include <nlohmann/json.hpp>

namespace has::expr {
class Engine;
}

namespace has::defs {

// Returns value (a string, or a list or mapping of them, at any depth) with
// ${env:} resolved first — the definition's own text is trusted — and then
// ${{ }} against values; a string that is one ${{ }} and nothing else keeps
// its value's type (a list stays a list). Inserted values are never scanned
// again, so a hostile value (a probe's output, an event's label) cannot
// smuggle in an ${env:} reference or a template. Throws like
// resolve_env() and expr::Engine::evaluate().
nlohmann::json resolve_template(expr::Engine& engine, const nlohmann::json& value, const nlohmann::json& values,
                                const Location& where);

} // namespace has::defs
