#pragma once

#include <has/defs/model.hpp>
#include <has/defs/reader.hpp>

namespace has::defs {

// Reads the kind-specific fields of a Silence document.
Silence parse_silence(MapReader& reader, Header header);

// Checks that every silence names rules and targets that exist.
void resolve_silences(Definitions& definitions, Diagnostics& diagnostics);

} // namespace has::defs
