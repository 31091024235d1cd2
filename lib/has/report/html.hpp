#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace has::report {

// Returns a self-contained HTML page (inline CSS and SVG, no scripts, no
// network fetches) for an inspection document (see inspect/document.hpp):
// provenance, summary tiles, a pass/fail grid of rules by target,
// response-time bars, the trend of recent runs per rule, and the details of
// every failure with the values that failed it. Screenshots named in a
// result's values.screenshot are embedded as data: URLs. extra may hold
// "trend": {rule: ["ok", "critical", ...] oldest first}, "diff": {new,
// recovered, still} lists of "rule on target", and "title".
std::string render_html(const nlohmann::json& document, const nlohmann::json& extra);

// Returns a Markdown report of the same document and extras.
std::string render_markdown_report(const nlohmann::json& document, const nlohmann::json& extra);

} // namespace has::report
