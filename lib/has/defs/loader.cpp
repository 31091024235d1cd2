#include <has/defs/loader.hpp>

#include <has/core/log.hpp>
#include <has/defs/plan.hpp>
#include <has/defs/reader.hpp>
#include <has/defs/rule.hpp>
#include <has/defs/scenario.hpp>
#include <has/defs/silence.hpp>
#include <has/defs/tree.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

namespace has::defs {

namespace fs = std::filesystem;

namespace {

using ParseFn = void (*)(MapReader&, Header, Definitions&);

struct KindEntry {
  KindInfo info;
  ParseFn parse; // nullptr: not available in this version
};

void add_rule(MapReader& reader, Header header, Definitions& out) {
  out.rules.push_back(parse_rule(reader, std::move(header)));
}

void add_plan(MapReader& reader, Header header, Definitions& out) {
  out.plans.push_back(parse_plan(reader, std::move(header)));
}

void add_action(MapReader& reader, Header header, Definitions& out) {
  out.actions.push_back(parse_plan(reader, std::move(header)));
}

void add_tree(MapReader& reader, Header header, Definitions& out) {
  out.trees.push_back(parse_tree(reader, std::move(header)));
}

void add_scenario(MapReader& reader, Header header, Definitions& out) {
  out.scenarios.push_back(parse_scenario(reader, std::move(header)));
}

void add_silence(MapReader& reader, Header header, Definitions& out) {
  out.silences.push_back(parse_silence(reader, std::move(header)));
}

// Makes room for extra more items at once, growing geometrically: a large
// file's rules are not moved again and again as the vector grows.
template <class T>
void make_room(std::vector<T>& items, std::size_t extra) {
  if (items.capacity() - items.size() < extra) {
    items.reserve(std::max(items.size() + extra, 2 * items.capacity()));
  }
}

// Moves the documents of from to the end of to, kind by kind: every vector
// of documents in Definitions is listed here.
void append_documents(Definitions& to, Definitions&& from) {
  auto move_all = [](auto& target, auto& source) {
    if (target.empty()) {
      target = std::move(source);
      return;
    }
    make_room(target, source.size());
    std::move(source.begin(), source.end(), std::back_inserter(target));
  };
  move_all(to.rules, from.rules);
  move_all(to.silences, from.silences);
  move_all(to.plans, from.plans);
  move_all(to.actions, from.actions);
  move_all(to.trees, from.trees);
  move_all(to.scenarios, from.scenarios);
}

// The one table of document kinds.
const std::vector<KindEntry>& kind_table() {
  static const std::vector<KindEntry> table{
    {{"Rule", "an inspection rule: probe, expectations, thresholds, targets", true}, add_rule},
    {{"Tree", "a diagnosis decision tree: probes, questions, branches, diagnoses", true}, add_tree},
    {{"Plan", "an emergency plan: a DAG of actions with rollback", true}, add_plan},
    {{"Drill", "a fault drill: steady state, faults, guards, recovery", false}, nullptr},
    {{"Topology", "sites, layers and replication links for failover", false}, nullptr},
    {{"Scenario", "a risk scenario: matching events, tree, plans, impact, self-healing", true}, add_scenario},
    {{"Silence", "a maintenance window that mutes rules or targets", true}, add_silence},
    {{"Action", "an atomic operation template used by plan steps", true}, add_action},
  };
  return table;
}

// Returns whether name is 1 to 128 letters, digits, '.', '_' and '-',
// starting with a letter or digit (checked for every document, so without
// std::regex).
bool valid_name(std::string_view name) {
  auto alnum = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (name.empty() || name.size() > 128 || !alnum(name.front())) {
    return false;
  }
  return std::all_of(name.begin() + 1, name.end(),
                     [&](char c) { return alnum(c) || c == '.' || c == '_' || c == '-'; });
}

// Returns the YAML files below root in a stable order, skipping hidden
// directories (.git, .has) and has.yaml itself.
std::vector<fs::path> definition_files(const fs::path& root, Diagnostics& diagnostics) {
  std::vector<fs::path> files;
  std::error_code ec;
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
  if (ec) {
    diagnostics.error({core::display_path(root)}, fmt::format("cannot read directory: {}", ec.message()));
    return files;
  }
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) {
      diagnostics.error({core::display_path(it->path())}, fmt::format("cannot read: {}", ec.message()));
      break;
    }
    const auto& path = it->path();
    auto name = path.filename().string();
    if (it->is_directory(ec)) {
      if (!name.empty() && name.front() == '.') {
        it.disable_recursion_pending();
      }
      continue;
    }
    auto ext = path.extension().string();
    if ((ext == ".yaml" || ext == ".yml") && !(it.depth() == 0 && name == "has.yaml") &&
        name.front() != '.') {
      files.push_back(path);
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Files at least this large are loaded in two halves at once.
constexpr std::size_t k_split_bytes = 32 * 1024;

// Returns the offset of a document start ("---" and a blank at the start of
// a line) at or after the middle of a large text, or npos. yaml-cpp reads
// such a line as a document start wherever it stands: a scalar ends before
// it (or is an error), so the text before it holds whole documents.
std::size_t middle_document_start(const std::string& text) {
  if (text.size() < k_split_bytes || std::thread::hardware_concurrency() < 2) {
    return std::string::npos;
  }
  // A directive (%YAML, %TAG) belongs to the document after it: load such a
  // file whole.
  if (text.starts_with('%') || text.find("\n%") != std::string::npos) {
    return std::string::npos;
  }
  for (auto pos = text.find("\n---", text.size() / 2); pos != std::string::npos; pos = text.find("\n---", pos + 1)) {
    auto after = pos + 4;
    if (after == text.size() || text[after] == ' ' || text[after] == '\t' || text[after] == '\r' ||
        text[after] == '\n') {
      return pos + 1;
    }
  }
  return std::string::npos;
}

// Returns the whole text of path, or reports that it cannot be opened or
// read (as file) and returns nothing.
std::optional<std::string> read_text(const fs::path& path, const std::string& file, Diagnostics& diagnostics) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    diagnostics.error({file}, "cannot open file");
    return std::nullopt;
  }
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) {
    diagnostics.error({file}, "cannot read file");
    return std::nullopt;
  }
  return text;
}

struct Loaded {
  Header header;
  std::size_t index; // into the kind's vector in Definitions
};

class Loader {
public:
  Loader(Definitions& out, Diagnostics& diagnostics) : m_out(out), m_diagnostics(diagnostics) {}

  void load_file(const fs::path& path, Origin origin, const fs::path& library_dir = {}) {
    const auto file = core::display_path(path);
    auto read = read_text(path, file, m_diagnostics);
    if (!read) {
      return;
    }
    const std::string& text = *read;
    if (auto split = middle_document_start(text); split != std::string::npos &&
                                                  load_halves(file, text, split, origin, library_dir)) {
      return;
    }
    yaml::Documents documents;
    try {
      documents = yaml::load_all(text);
    } catch (const yaml::ParseError& e) {
      m_diagnostics.error({file, e.mark().line + 1, e.mark().column + 1},
                          fmt::format("YAML syntax error: {}", e.what()));
      return;
    }
    ++m_out.files;
    FileContext context(file, m_diagnostics);
    make_room(m_out.rules, documents.all().size());
    for (const auto& document : documents) {
      if (document.is_null()) {
        continue;
      }
      load_document(context, document, origin, library_dir);
    }
  }

  // Loads text in two halves at once, split at a document start: each half
  // is parsed and checked by a loader of its own, then what they found is
  // added in order. Returns false, having added nothing, when a half has a
  // syntax error: the caller parses the whole file, which reports it where
  // it is (and loads nothing of the file, as for any syntax error).
  bool load_halves(const std::string& file, const std::string& text, std::size_t split, Origin origin,
                   const fs::path& library_dir) {
    struct Half {
      Definitions out;
      Diagnostics diagnostics;
      Seen seen;
      bool parsed = false;
    };
    auto load_half = [&](Half& half, std::size_t begin, std::size_t end) {
      yaml::Documents documents;
      try {
        documents = yaml::load_all(std::string_view(text).substr(begin, end - begin));
      } catch (const yaml::ParseError&) {
        return;
      }
      half.parsed = true;
      const auto first_line = static_cast<int>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(begin), '\n'));
      FileContext context(file, half.diagnostics, first_line);
      Loader loader(half.out, half.diagnostics);
      make_room(half.out.rules, documents.all().size());
      for (const auto& document : documents) {
        if (!document.is_null()) {
          loader.load_document(context, document, origin, library_dir);
        }
      }
      half.seen = std::move(loader.m_seen);
    };
    Half first, second;
    std::exception_ptr error;
    std::thread worker([&] {
      try {
        load_half(second, split, text.size());
      } catch (...) {
        error = std::current_exception();
      }
    });
    try {
      load_half(first, 0, split);
    } catch (...) {
      worker.join();
      throw;
    }
    worker.join();
    if (error) {
      std::rethrow_exception(error);
    }
    if (!first.parsed || !second.parsed) {
      return false;
    }
    ++m_out.files;
    for (Half* half : {&first, &second}) {
      m_out.documents += half->out.documents;
      append_documents(m_out, std::move(half->out));
      for (const auto& d : half->diagnostics.all()) {
        if (d.severity == Severity::error) {
          m_diagnostics.error(d.where, d.message);
        } else if (d.severity == Severity::warning) {
          m_diagnostics.warning(d.where, d.message);
        } else {
          m_diagnostics.note(d.where, d.message);
        }
      }
      for (auto& [key, places] : half->seen) {
        auto& all = m_seen[key];
        all.insert(all.end(), places.begin(), places.end());
      }
    }
    return true;
  }

  void load_document(const FileContext& context, const yaml::Node& node, Origin origin,
                     const fs::path& library_dir) {
    ++m_out.documents;
    MapReader reader(context, node, "a document");
    if (!reader.valid()) {
      return;
    }
    Header header;
    header.where = context.at(node);
    header.origin = origin;
    header.library_dir = library_dir;
    auto kind = reader.string("kind", Need::required);
    auto name = reader.string("name", Need::required);
    header.description = reader.string("description").value_or("");
    header.labels = reader.string_map("labels");
    if (!kind || !name) {
      return;
    }
    header.kind = *kind;
    header.name = *name;
    if (!valid_name(*name)) {
      context.error(reader.get("name"),
                    fmt::format("invalid name '{}': use letters, digits, '.', '_' and '-', "
                                "starting with a letter or digit", *name));
    }
    const KindEntry* entry = nullptr;
    for (const auto& candidate : kind_table()) {
      if (candidate.info.name == *kind) {
        entry = &candidate;
      }
    }
    if (entry == nullptr) {
      std::vector<std::string> names;
      std::string list;
      for (const auto& candidate : kind_table()) {
        names.emplace_back(candidate.info.name);
        list += list.empty() ? "" : ", ";
        list += candidate.info.name;
      }
      auto hint = closest(*kind, names);
      context.error(reader.get("kind"),
                    fmt::format("unknown kind '{}'{}", *kind,
                                hint ? fmt::format(" (did you mean '{}'?)", *hint)
                                     : fmt::format(" (kinds: {})", list)));
      return;
    }
    if (entry->parse == nullptr) {
      context.error(reader.get("kind"),
                    fmt::format("kind '{}' is not available in this version of has", *kind));
      return;
    }
    auto where = header.where;
    auto key = std::make_pair(header.kind, header.name);
    entry->parse(reader, std::move(header), m_out);
    reader.finish();
    m_seen[key].push_back({where, origin});
  }

  // Reports duplicate names per kind; a workspace document may shadow a
  // library one of the same name, which is then dropped.
  void check_names() {
    for (const auto& [key, places] : m_seen) {
      std::vector<Location> workspace;
      for (const auto& [where, origin] : places) {
        if (origin == Origin::workspace) {
          workspace.push_back(where);
        }
      }
      for (std::size_t i = 1; i < workspace.size(); ++i) {
        m_diagnostics.error(workspace[i],
                            fmt::format("duplicate {} '{}': also defined at {}", key.first,
                                        key.second, workspace[0].str()));
      }
      if (!workspace.empty() && workspace.size() < places.size()) {
        HAS_LOG("{} '{}' of the workspace replaces the library's", key.first, key.second);
        auto drop = [&](auto& documents) {
          documents.erase(std::remove_if(documents.begin(), documents.end(),
                                         [&](const auto& d) {
                                           return d.header.kind == key.first && d.header.name == key.second &&
                                                  d.header.origin == Origin::builtin;
                                         }),
                          documents.end());
        };
        drop(m_out.rules);
        drop(m_out.plans);
        drop(m_out.actions);
        drop(m_out.trees);
        drop(m_out.scenarios);
      }
    }
  }

private:
  // Where each (kind, name) was defined, in the order of loading.
  using Seen = std::map<std::pair<std::string, std::string>, std::vector<std::pair<Location, Origin>>>;

  Definitions& m_out;
  Diagnostics& m_diagnostics;
  Seen m_seen;
};

} // namespace

const std::vector<KindInfo>& kinds() {
  static const std::vector<KindInfo> list = [] {
    std::vector<KindInfo> out;
    for (const auto& entry : kind_table()) {
      out.push_back(entry.info);
    }
    return out;
  }();
  return list;
}

const Rule* Definitions::find_rule(std::string_view name) const {
  for (const auto& rule : rules) {
    if (rule.header.name == name) {
      return &rule;
    }
  }
  return nullptr;
}

Config load_config(const core::Workspace& workspace, Diagnostics& diagnostics) {
  Config config;
  config.file = workspace.config_file;
  FileContext context(core::display_path(workspace.config_file), diagnostics);
  auto text = read_text(workspace.config_file, context.file(), diagnostics);
  if (!text) {
    return config;
  }
  try {
    auto documents = yaml::load_all(*text);
    config = parse_config(context, documents.all().empty() ? yaml::Node() : documents.all().front());
    config.file = workspace.config_file;
  } catch (const yaml::ParseError& e) {
    diagnostics.error({context.file(), e.mark().line + 1, e.mark().column + 1},
                      fmt::format("YAML syntax error: {}", e.what()));
  }
  return config;
}

Definitions load(const core::Workspace& workspace, const LoadOptions& options,
                 Diagnostics& diagnostics) {
  Definitions out;
  out.root = workspace.root;
  out.config = load_config(workspace, diagnostics);
  Loader loader(out, diagnostics);
  if (out.config.builtin_library) {
    out.library_dirs = options.plugin_dirs;
    for (const auto& dir : options.plugin_dirs) {
      for (const auto& file : definition_files(dir, diagnostics)) {
        loader.load_file(file, Origin::builtin, dir);
      }
    }
  }
  for (const auto& file : definition_files(workspace.root, diagnostics)) {
    loader.load_file(file, Origin::workspace);
  }
  loader.check_names();
  resolve_rules(out, diagnostics);
  resolve_silences(out, diagnostics);
  resolve_plans(out, diagnostics);
  resolve_trees(out, diagnostics);
  resolve_scenarios(out, diagnostics);
  HAS_LOG("loaded {} documents from {} files", out.documents, out.files);
  return out;
}

} // namespace has::defs
