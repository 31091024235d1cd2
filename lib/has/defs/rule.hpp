#pragma once

#include <has/defs/model.hpp>
#include <has/defs/reader.hpp>

namespace has::defs {

// Reads the kind-specific fields of a Rule document; problems go to the
// reader's diagnostics.
Rule parse_rule(MapReader& reader, Header header);

// Checks the references of every rule (templates used, hosts named,
// parameters given) once all documents are loaded.
void resolve_rules(Definitions& definitions, Diagnostics& diagnostics);

// Reports bad ${{ }} and ${env:} references in every string below value, at
// where.
void check_templates(const FileContext& context, const nlohmann::json& value, const Location& where);

// Returns the probe written as {KIND: {fields}}, its fields checked against
// the kind's schema; reports problems and returns nullopt when it has none
// or several kinds, or an unknown one.
std::optional<ProbeSpec> parse_probe(const FileContext& context, const yaml::Node& node);

// Reads has.yaml.
Config parse_config(const FileContext& context, const yaml::Node& node);

} // namespace has::defs
