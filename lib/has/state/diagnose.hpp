#pragma once

// Diagnosis runs: how each walk of a tree ended, its path with the evidence
// of every node, and the risk event it was run for.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace has::state {

class Store;

// A walk of a tree (its row in runs holds who, where, when and the exit code).
struct DiagnoseRun {
  std::int64_t run_id = 0;
  std::string tree;
  std::optional<std::int64_t> event_id;
  std::string outcome;  // diagnosis, inconclusive or needs_input
  std::string node;     // the leaf, or where the walk stopped
  std::string severity; // ok, warning, critical or unknown
  std::optional<std::string> cause;
  std::string conclusion = "{}"; // JSON
  std::string path = "[]";       // JSON: the steps with their evidence
  std::string started_at;        // from runs, when read
};

// Reads and writes diagnosis runs; each call is one short transaction or
// one read; throws SqliteError when the state file cannot be read or
// written (or a JSON field is invalid).
class DiagnoseRepository {
public:
  // Keeps a reference: the store must outlive the repository.
  explicit DiagnoseRepository(Store& store) noexcept : m_store(store) {}

  // Records how the walk of run.run_id (already in runs) ended.
  void record(const DiagnoseRun& run);

  // Returns the walk of this run, or std::nullopt.
  std::optional<DiagnoseRun> get(std::int64_t run_id);

  // Returns up to limit walks (all if limit <= 0), newest first, of one tree
  // and of one event when given.
  std::vector<DiagnoseRun> list(const std::optional<std::string>& tree, const std::optional<std::int64_t>& event_id,
                                int limit);

private:
  Store& m_store;
};

} // namespace has::state
