#include <has/report/html.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <iterator>
#include <map>
#include <set>

namespace has::report {

namespace {

const nlohmann::json k_empty = nlohmann::json::array();

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
    case '<': out += "&lt;"; break;
    case '>': out += "&gt;"; break;
    case '&': out += "&amp;"; break;
    case '"': out += "&quot;"; break;
    case '\'': out += "&#39;"; break;
    default: out += c;
    }
  }
  return out;
}

// Returns whether object[key] is the boolean true (absent and null are false).
bool is_true(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

std::string text_of(const nlohmann::json& value) {
  if (value.is_string()) {
    return value.get<std::string>();
  }
  if (value.is_null()) {
    return "";
  }
  return value.dump();
}

std::string colour(std::string_view status) {
  if (status == "ok") return "#2e7d32";
  if (status == "warning") return "#f9a825";
  if (status == "critical") return "#c62828";
  if (status == "muted") return "#9e9e9e";
  return "#6a1b9a";
}

std::string base64(std::string_view data) {
  static constexpr char k_table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    auto n = (static_cast<unsigned char>(data[i]) << 16) | (static_cast<unsigned char>(data[i + 1]) << 8) |
             static_cast<unsigned char>(data[i + 2]);
    out += k_table[(n >> 18) & 63];
    out += k_table[(n >> 12) & 63];
    out += k_table[(n >> 6) & 63];
    out += k_table[n & 63];
  }
  if (i < data.size()) {
    auto n = static_cast<unsigned char>(data[i]) << 16;
    if (i + 1 < data.size()) {
      n |= static_cast<unsigned char>(data[i + 1]) << 8;
    }
    out += k_table[(n >> 18) & 63];
    out += k_table[(n >> 12) & 63];
    out += i + 1 < data.size() ? k_table[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string status_of(const nlohmann::json& r) {
  if (r.contains("muted_by") || is_true(r, "muted")) {
    return "muted";
  }
  return r.value("status", "unknown");
}

constexpr std::string_view k_style = R"(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#212121;background:#fafafa}
header{background:#263238;color:#fff;padding:16px 24px}header h1{margin:0 0 4px;font-size:20px}
header .meta{color:#b0bec5;font-size:12px}main{padding:16px 24px;max-width:1200px}
.tiles{display:flex;gap:12px;flex-wrap:wrap;margin:8px 0 20px}.tile{background:#fff;border-radius:6px;
padding:10px 16px;min-width:110px;box-shadow:0 1px 2px rgba(0,0,0,.15);border-top:4px solid #90a4ae}
.tile .n{font-size:26px;font-weight:600}.tile .l{color:#607d8b;font-size:12px;text-transform:uppercase}
h2{font-size:16px;margin:24px 0 8px}table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px rgba(0,0,0,.1)}
th,td{padding:6px 10px;border-bottom:1px solid #eceff1;text-align:left;vertical-align:top}
th{background:#eceff1;font-weight:600}.st{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px}
.fail{background:#fff;border-left:4px solid #c62828;padding:8px 12px;margin:8px 0;box-shadow:0 1px 2px rgba(0,0,0,.1)}
.fail h3{margin:0 0 4px;font-size:14px}code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
pre{background:#f5f5f5;padding:8px;overflow:auto;max-height:240px}.diff li{margin:2px 0}
img.shot{max-width:100%;border:1px solid #cfd8dc;margin-top:6px}footer{color:#90a4ae;font-size:12px;padding:16px 24px}
)";

} // namespace

std::string render_html(const nlohmann::json& document, const nlohmann::json& extra) {
  const auto& run = document.at("run");
  const auto& results = document.at("results");
  std::map<std::string, int> counts{{"ok", 0}, {"warning", 0}, {"critical", 0}, {"unknown", 0}, {"muted", 0}};
  std::vector<std::string> rules, targets;
  std::map<std::pair<std::string, std::string>, const nlohmann::json*> cell;
  double slowest = 1;
  for (const auto& r : results) {
    ++counts[status_of(r)];
    auto rule = r.value("rule", "");
    auto target = r.value("target", "");
    if (std::find(rules.begin(), rules.end(), rule) == rules.end()) rules.push_back(rule);
    if (std::find(targets.begin(), targets.end(), target) == targets.end()) targets.push_back(target);
    cell[{rule, target}] = &r;
    slowest = std::max(slowest, r.value("elapsed_ms", 0.0));
  }

  std::string html = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
  auto title = extra.contains("title") ? extra["title"].get<std::string>()
                                       : fmt::format("Inspection run #{}", text_of(run.value("id", nlohmann::json())));
  html += fmt::format("<title>{}</title><style>{}</style></head><body>\n", escape(title), k_style);
  html += fmt::format("<header><h1>{}</h1><div class=\"meta\">status <b>{}</b> · started {} · finished {} · host {} · "
                      "user {} · workspace commit {}{} · has {}</div></header>\n<main>\n",
                      escape(title), escape(text_of(run.value("status", nlohmann::json()))),
                      escape(text_of(run.value("started_at", nlohmann::json()))),
                      escape(text_of(run.value("finished_at", nlohmann::json()))),
                      escape(text_of(run.value("host", nlohmann::json()))),
                      escape(text_of(run.value("user", nlohmann::json()))),
                      escape(run.value("git_commit", nlohmann::json()).is_string() ? run["git_commit"].get<std::string>().substr(0, 12) : "none"),
                      is_true(run, "git_dirty") ? " (dirty)" : "", escape(text_of(run.value("has_version", nlohmann::json(HAS_VERSION)))));

  // Summary tiles.
  html += "<section class=\"tiles\">";
  html += fmt::format("<div class=\"tile\"><div class=\"n\">{}</div><div class=\"l\">checks</div></div>", results.size());
  for (auto status : {"ok", "warning", "critical", "unknown", "muted"}) {
    html += fmt::format("<div class=\"tile\" style=\"border-top-color:{}\"><div class=\"n\">{}</div><div class=\"l\">{}</div></div>",
                        colour(status), counts[status], status);
  }
  html += "</section>\n";

  // Changes against the previous run.
  if (extra.contains("diff")) {
    html += "<h2>Changes since the previous run</h2><ul class=\"diff\">";
    for (auto [key, label] : {std::pair{"new", "newly failing"}, std::pair{"still", "still failing"},
                              std::pair{"recovered", "recovered"}}) {
      const auto& list = extra["diff"].contains(key) ? extra["diff"][key] : k_empty;
      for (const auto& item : list) {
        html += fmt::format("<li><b>{}</b>: {}</li>", label, escape(text_of(item)));
      }
    }
    html += "</ul>\n";
  }

  // Pass/fail by rule and target.
  html += "<h2>Rules by target</h2><table><tr><th>rule</th>";
  for (const auto& target : targets) html += fmt::format("<th>{}</th>", escape(target));
  html += "</tr>";
  for (const auto& rule : rules) {
    html += fmt::format("<tr><td>{}</td>", escape(rule));
    for (const auto& target : targets) {
      auto it = cell.find({rule, target});
      if (it == cell.end()) {
        html += "<td></td>";
        continue;
      }
      auto status = status_of(*it->second);
      html += fmt::format("<td><span class=\"st\" style=\"background:{}\">{}</span></td>", colour(status), status);
    }
    html += "</tr>";
  }
  html += "</table>\n";

  // Response times as SVG bars.
  constexpr int bar_width = 520, row_height = 18, label_width = 260;
  html += "<h2>Response times</h2>";
  html += fmt::format("<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"response times\" width=\"{}\" "
                      "height=\"{}\" font-size=\"11\" font-family=\"sans-serif\">",
                      label_width + bar_width + 80, row_height * static_cast<int>(results.size()) + 4);
  int y = 2;
  for (const auto& r : results) {
    double ms = r.value("elapsed_ms", 0.0);
    int w = std::max(1, static_cast<int>(bar_width * ms / slowest));
    auto label = fmt::format("{} @ {}", r.value("rule", ""), r.value("target", ""));
    html += fmt::format("<text x=\"0\" y=\"{}\">{}</text><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>"
                        "<text x=\"{}\" y=\"{}\">{:.0f} ms</text>",
                        y + 12, escape(label.substr(0, 40)), label_width, y + 2, w, row_height - 5,
                        colour(status_of(r)), label_width + w + 4, y + 12, ms);
    y += row_height;
  }
  html += "</svg>\n";

  // Trend of recent runs per rule.
  if (extra.contains("trend") && !extra["trend"].empty()) {
    html += "<h2>Recent runs per rule</h2><table><tr><th>rule</th><th>oldest → newest</th></tr>";
    for (const auto& item : extra["trend"].items()) {
      html += fmt::format("<tr><td>{}</td><td><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"14\">",
                          escape(item.key()), 12 * item.value().size() + 2);
      int x = 1;
      for (const auto& status : item.value()) {
        html += fmt::format("<rect x=\"{}\" y=\"1\" width=\"10\" height=\"12\" rx=\"2\" fill=\"{}\"><title>{}</title></rect>",
                            x, colour(text_of(status)), escape(text_of(status)));
        x += 12;
      }
      html += "</svg></td></tr>";
    }
    html += "</table>\n";
  }

  // Failure details.
  std::string failures;
  for (const auto& r : results) {
    auto status = status_of(r);
    if (status == "ok") continue;
    failures += fmt::format("<div class=\"fail\" style=\"border-left-color:{}\"><h3>{} on {} — {}</h3><div>{}</div>",
                            colour(status), escape(r.value("rule", "")), escape(r.value("target", "")), status,
                            escape(r.value("message", "")));
    const auto& findings = r.contains("findings") ? r["findings"] : k_empty;
    for (const auto& f : findings) {
      if (is_true(f, "passed")) continue;
      std::string values;
      const auto& named = f.contains("values") ? f["values"] : k_empty;
      for (const auto& v : named.items()) {
        values += fmt::format("{}{} = {}", values.empty() ? "" : ", ", v.key(), text_of(v.value()));
      }
      failures += fmt::format("<div><code>{}</code>{}{}</div>", escape(f.value("text", "")),
                              values.empty() ? "" : " with <code>" + escape(values) + "</code>",
                              f.contains("error") ? " — " + escape(text_of(f["error"])) : "");
    }
    if (r.contains("evidence") && !text_of(r["evidence"]).empty()) {
      failures += fmt::format("<pre>{}</pre>", escape(text_of(r["evidence"]).substr(0, 4000)));
    }
    if (r.contains("values") && r["values"].is_object() && r["values"].contains("screenshot")) {
      std::ifstream in(text_of(r["values"]["screenshot"]), std::ios::binary);
      std::string png((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (png.size() > 8 && png.compare(1, 3, "PNG") == 0) {
        failures += fmt::format("<img class=\"shot\" alt=\"screenshot of the failed page\" src=\"data:image/png;base64,{}\">",
                                base64(png));
      }
    }
    failures += "</div>\n";
  }
  if (!failures.empty()) {
    html += "<h2>Failures</h2>" + failures;
  }
  html += "</main><footer>Written by has. Self-contained: no scripts, no network fetches.</footer></body></html>\n";
  return html;
}

std::string render_markdown_report(const nlohmann::json& document, const nlohmann::json& extra) {
  const auto& run = document.at("run");
  std::string md = fmt::format("# Inspection run #{}\n\n", text_of(run.value("id", nlohmann::json())));
  md += fmt::format("- status: **{}**\n- started: {}\n- finished: {}\n- host: {}, user: {}\n- workspace commit: {}{}\n\n",
                    text_of(run.value("status", nlohmann::json())), text_of(run.value("started_at", nlohmann::json())),
                    text_of(run.value("finished_at", nlohmann::json())), text_of(run.value("host", nlohmann::json())),
                    text_of(run.value("user", nlohmann::json())),
                    run.value("git_commit", nlohmann::json()).is_string() ? run["git_commit"].get<std::string>() : "none",
                    is_true(run, "git_dirty") ? " (dirty)" : "");
  if (extra.contains("diff")) {
    md += "## Changes since the previous run\n\n";
    for (auto [key, label] : {std::pair{"new", "newly failing"}, std::pair{"still", "still failing"},
                              std::pair{"recovered", "recovered"}}) {
      const auto& list = extra["diff"].contains(key) ? extra["diff"][key] : k_empty;
      for (const auto& item : list) {
        md += fmt::format("- {}: {}\n", label, text_of(item));
      }
    }
    md += "\n";
  }
  md += "## Results\n\n| rule | target | status | elapsed | detail |\n| --- | --- | --- | ---: | --- |\n";
  for (const auto& r : document.at("results")) {
    auto detail = r.value("message", "");
    std::replace(detail.begin(), detail.end(), '\n', ' ');
    std::string escaped;
    for (char c : detail) {
      escaped += c == '|' ? std::string("\\|") : std::string(1, c);
    }
    md += fmt::format("| {} | {} | {} | {:.0f} ms | {} |\n", r.value("rule", ""), r.value("target", ""), status_of(r),
                      r.value("elapsed_ms", 0.0), escaped);
  }
  return md;
}

} // namespace has::report
