#pragma once

#include <has/core/provenance.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace has::state {

class Store;

// One invocation of a has command, as the `runs` table holds it. Timestamps
// are ISO-8601 UTC with milliseconds (see clock.hpp); summary is JSON.
struct Run {
  std::int64_t id = 0;
  std::string command;
  std::string name;
  std::string started_at;
  std::optional<std::string> finished_at;
  // running, ok, warning, critical, unknown, failed or interrupted.
  std::string status;
  std::optional<int> exit_code;
  std::optional<std::string> host;
  std::optional<std::string> user;
  std::optional<std::int64_t> pid;
  std::optional<std::string> workspace;
  std::optional<std::string> git_commit;
  std::optional<bool> git_dirty;
  std::optional<std::string> summary;
};

// Returns the run this process starts of command and name (a plan's or a
// tree's name): who and where from provenance, the pid, the workspace and
// its git commit.
Run new_run(std::string command, std::string name, const core::Provenance& provenance,
            const std::filesystem::path& workspace);

// Reads and writes runs; each call is one short transaction or one read.
class RunRepository {
public:
  // Keeps a reference: the store must outlive the repository.
  explicit RunRepository(Store& store) noexcept : m_store(store) {}

  // Records a run as "running" (ignoring run.id, run.status and the finish
  // fields; an empty started_at means now) and returns its id; throws
  // SqliteError if the state file cannot be written.
  std::int64_t start(const Run& run);

  // Marks the run finished now with a final status (any listed on Run::status
  // but "running"), the exit code and the JSON summary (none if empty); throws
  // core::Error(ExitCode::io) for an unknown status or id, SqliteError for
  // invalid JSON or a state file that cannot be written.
  void finish(std::int64_t id, std::string_view status, int exit_code,
              const std::string& summary_json = {});

  // Returns the run, or std::nullopt if there is none with this id; throws
  // SqliteError if the state file cannot be read.
  std::optional<Run> get(std::int64_t id);

  // Returns up to `limit` runs (all if limit <= 0), newest start first, only
  // of `command` when given; throws SqliteError if the state file cannot be
  // read.
  std::vector<Run> list(std::optional<std::string> command, int limit);

  // Returns how many runs there are; throws SqliteError if the state file
  // cannot be read.
  std::int64_t count();

private:
  Store& m_store;
};

} // namespace has::state
