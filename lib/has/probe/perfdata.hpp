#pragma once

// The output format of Nagios Monitoring Plugins, which the exec probe reads:
//
//   TEXT OUTPUT | OPTIONAL PERFDATA
//   LONG TEXT LINE 1
//   LONG TEXT LINE 2 | PERFDATA LINE 2
//   PERFDATA LINE 3
//
// Perfdata is a space-separated list of 'label'=value[UOM];[warn];[crit];[min];[max]
// items. Plugins in the wild bend the format, so reading it never throws: an
// item that cannot be read is skipped and described instead.

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace has::probe {

// One perfdata item.
struct PerfItem {
  std::string label;
  // nullopt for the value "U" (the plugin could not measure).
  std::optional<double> value;
  // As written: s ms us % B KB MB GB TB c are standard; others are kept.
  std::string uom;
  // Thresholds in the plugin range syntax, as written ("" when absent).
  std::string warn, crit;
  std::optional<double> min, max;
};

// What parse_perfdata() read.
struct PerfData {
  std::vector<PerfItem> items;
  // One line per item skipped (or field dropped), quoting the text.
  std::vector<std::string> errors;
};

// Returns the items of text, in order; never throws. An item that cannot be
// read (no '=', a value that is not a number, an unterminated quote, an empty
// label) is skipped and reported in errors; a bad warn/crit/min/max drops
// only that field, also reported.
PerfData parse_perfdata(std::string_view text);

// A plugin's stdout split into its parts.
struct PluginOutput {
  // The first line up to '|', trimmed.
  std::string message;
  // The lines after the first, up to the '|' that starts their perfdata.
  std::string long_output;
  // All perfdata text, items separated by spaces.
  std::string perfdata;
};

// Returns out split per the format above; never throws. Once perfdata has
// begun on a later line, every following line is perfdata, except that a
// line holding another '|' contributes only what follows it (some plugins
// print "text | perf" on several lines).
PluginOutput split_plugin_output(std::string_view out);

// Returns item as {value, uom, warn, crit, min, max}: value, min and max are
// numbers or null; warn and crit are numbers when written as plain numbers,
// otherwise the range text, or null when absent.
nlohmann::json perf_json(const PerfItem& item);

// Returns label with every character outside [A-Za-z0-9_] replaced by '_',
// so it can be used as a name in expressions ("rx bytes" -> "rx_bytes").
std::string perf_value_name(std::string_view label);

} // namespace has::probe
