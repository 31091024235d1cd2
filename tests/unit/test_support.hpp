#pragma once

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace has::test {

// Returns whether the suite runs under CI (CI=true), where a test may not
// skip for a missing service: ctest would count the skip as a pass.
inline bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string_view(ci) == "true";
}

// Ends the current test as skipped with the reason, or fails it under CI.
#define HAS_SKIP(reason)                                                                                       \
  do {                                                                                                         \
    if (has::test::in_ci()) {                                                                                  \
      FAIL("cannot run under CI=true: " << (reason));                                                          \
    }                                                                                                          \
    MESSAGE("skipped: " << (reason));                                                                          \
    return;                                                                                                    \
  } while (false)

// A fresh temporary directory for one test, removed when the test ends.
class TempDir {
public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "has-test-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed");
    }
    m_path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return m_path; }

  // Writes a file below the directory (creating parents) and returns its path.
  std::filesystem::path write(const std::string& relative, const std::string& content) const {
    auto file = m_path / relative;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary) << content;
    return file;
  }

private:
  std::filesystem::path m_path;
};

} // namespace has::test
