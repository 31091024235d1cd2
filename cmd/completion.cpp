#include "cli.hpp"

#include <has/core/error.hpp>

#include <fmt/format.h>

#include <map>

namespace has::cmd {

namespace {

// Collects, for each command path ("has", "has plan", ...), the words that
// may follow it: subcommands and flags.
void collect(const CLI::App& app, const std::string& path,
             std::map<std::string, std::vector<std::string>>& words) {
  auto& list = words[path];
  for (const auto* option : app.get_options()) {
    for (const auto& name : option->get_lnames()) {
      list.push_back("--" + name);
    }
    for (const auto& name : option->get_snames()) {
      list.push_back("-" + name);
    }
  }
  for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    list.push_back(sub->get_name());
    collect(*sub, path + " " + sub->get_name(), words);
  }
}

std::string bash_script(const CLI::App& root) {
  std::map<std::string, std::vector<std::string>> words;
  collect(root, "has", words);
  std::string cases;
  for (const auto& [path, list] : words) {
    std::string joined;
    for (const auto& word : list) {
      joined += joined.empty() ? "" : " ";
      joined += word;
    }
    cases += fmt::format("    \"{}\") words=\"{}\" ;;\n", path, joined);
  }
  return fmt::format(R"(# bash completion for has; load with: source <(has completion bash)
_has() {{
  local cur prev path word i words
  cur="${{COMP_WORDS[COMP_CWORD]}}"
  prev="${{COMP_WORDS[COMP_CWORD-1]}}"
  case "$prev" in
    -C) COMPREPLY=($(compgen -d -- "$cur")); return ;;
    --state) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    -o|--format) COMPREPLY=($(compgen -W "table json ndjson yaml markdown html junit" -- "$cur")); return ;;
  esac
  path="has"
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="${{COMP_WORDS[i]}}"
    case "$word" in
      -C|--state|-o|--format) ((i++)); continue ;;
      -*) continue ;;
    esac
    if _has_words "$path $word" >/dev/null; then path="$path $word"; fi
  done
  words=$(_has_words "$path")
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}}
_has_words() {{
  local words=""
  case "$1" in
{}    *) return 1 ;;
  esac
  printf '%s\n' "$words"
}}
complete -F _has has
)",
                     cases);
}

} // namespace

void register_completion(CLI::App& command, Globals& globals) {
  static std::string shell;
  command.description("Print a completion script for the shell. Load it with "
                      "'source <(has completion bash)', or install it as "
                      "/usr/share/bash-completion/completions/has.");
  command.add_option("SHELL", shell, "the shell (bash)")->required()->check(CLI::IsMember({"bash"}));
  command.callback([&command, &globals] {
    (void)globals;
    const CLI::App* root = &command;
    while (root->get_parent() != nullptr) {
      root = root->get_parent();
    }
    out(bash_script(*root));
  });
}

} // namespace has::cmd
