#pragma once

#include <has/defs/model.hpp>
#include <has/defs/reader.hpp>

namespace has::defs {

// Reads the window fields of reader's mapping: `starts` and `ends`
// (ISO-8601), and/or `daily: {from: "HH:MM", to: "HH:MM", days: [monday,
// ...]}`. Reports nothing when none is given (the caller decides whether a
// window is needed).
TimeWindow parse_window(MapReader& reader);

// Reads a `protection:` mapping; problems go to the context's diagnostics.
//   protection:
//     rate: {runs: 3, per: 1h}
//     cooldown: 10m
//     max_concurrent: 1
//     blast_radius: 5
//     windows: [{daily: {from: "09:00", to: "17:00"}, weekdays: [monday, friday]}]
//     freeze: [{starts: 2026-12-24T00:00:00Z, ends: 2026-12-27T00:00:00Z}]
//     breaker: {failures: 3}
Protection parse_protection(const FileContext& context, const yaml::Node& node);

} // namespace has::defs
