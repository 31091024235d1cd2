#pragma once

// Stand-ins for programs that cannot run on test machines (systemctl without
// systemd, kubectl without a cluster, docker without an engine): each records
// the argv it was given, so a test checks the exact invocation.

#include "test_support.hpp"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace has::test {

class FakePrograms {
public:
  // Puts the fakes' directory first in PATH (or makes PATH exactly path_tail
  // after it, when given) until the object goes away.
  explicit FakePrograms(std::optional<std::string> path_tail = std::nullopt) {
    const char* old = std::getenv("PATH");
    if (old != nullptr) {
      m_old_path = old;
    }
    auto tail = path_tail ? *path_tail : m_old_path.value_or("/usr/bin:/bin");
    ::setenv("PATH", (bin().string() + ":" + tail).c_str(), 1);
  }
  ~FakePrograms() {
    if (m_old_path) {
      ::setenv("PATH", m_old_path->c_str(), 1);
    } else {
      ::unsetenv("PATH");
    }
  }
  FakePrograms(const FakePrograms&) = delete;
  FakePrograms& operator=(const FakePrograms&) = delete;

  // Adds a program name that records its argv (NUL-separated, argv[0] as its
  // bare name) and its stdin, then runs script (a sh fragment; exit 0 if empty).
  void add(const std::string& name, const std::string& script = {}) {
    std::filesystem::create_directories(bin());
    auto file = m_dir.write("bin/" + name, "#!/bin/sh\n"
                                           "{ printf '%s\\0' \"$(basename \"$0\")\"; printf '%s\\0' \"$@\"; } > '" +
                                             record(name).string() + "'\n" +
                                             "cat > '" + record(name).string() + ".stdin'\n" + script + "\n");
    ::chmod(file.c_str(), 0755);
  }

  // Returns the argv of the last run of name (empty if it never ran).
  std::vector<std::string> argv(const std::string& name) const {
    std::ifstream in(record(name), std::ios::binary);
    std::vector<std::string> out;
    std::string word;
    while (std::getline(in, word, '\0')) {
      out.push_back(word);
    }
    return out;
  }

  // Returns what the last run of name read on stdin.
  std::string stdin_of(const std::string& name) const {
    std::ifstream in(record(name).string() + ".stdin", std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  std::filesystem::path bin() const { return m_dir.path() / "bin"; }

private:
  std::filesystem::path record(const std::string& name) const { return m_dir.path() / (name + ".argv"); }

  TempDir m_dir;
  std::optional<std::string> m_old_path;
};

} // namespace has::test
