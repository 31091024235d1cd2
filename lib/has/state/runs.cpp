#include <has/state/runs.hpp>

#include <unistd.h>

#include <has/state/clock.hpp>
#include <has/state/store.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>

namespace has::state {

namespace {

constexpr std::array<std::string_view, 6> k_final_statuses = {
  "ok", "warning", "critical", "unknown", "failed", "interrupted"};

constexpr const char* k_columns =
  "id, command, name, started_at, finished_at, status, exit_code, host, user, pid, workspace, "
  "git_commit, git_dirty, summary";

Run read_run(const Statement& row) {
  Run run;
  run.id = row.column_int64(0);
  run.command = row.column_text(1);
  run.name = row.column_text(2);
  run.started_at = row.column_text(3);
  run.finished_at = row.column_optional_text(4);
  run.status = row.column_text(5);
  if (auto code = row.column_optional_int64(6)) {
    run.exit_code = static_cast<int>(*code);
  }
  run.host = row.column_optional_text(7);
  run.user = row.column_optional_text(8);
  run.pid = row.column_optional_int64(9);
  run.workspace = row.column_optional_text(10);
  run.git_commit = row.column_optional_text(11);
  if (auto dirty = row.column_optional_int64(12)) {
    run.git_dirty = *dirty != 0;
  }
  run.summary = row.column_optional_text(13);
  return run;
}

} // namespace

std::int64_t RunRepository::start(const Run& run) {
  Connection& connection = m_store.connection();
  return m_store.transaction([&] {
    auto insert = connection.prepare(
      "INSERT INTO runs (command, name, started_at, status, host, user, pid, workspace, "
      "git_commit, git_dirty) VALUES (:command, :name, :started_at, 'running', :host, :user, "
      ":pid, :workspace, :git_commit, :git_dirty)");
    insert.bind(":command", run.command)
      .bind(":name", run.name)
      .bind(":started_at", run.started_at.empty() ? now_iso8601() : run.started_at)
      .bind(":host", run.host)
      .bind(":user", run.user)
      .bind(":pid", run.pid)
      .bind(":workspace", run.workspace)
      .bind(":git_commit", run.git_commit)
      .bind(":git_dirty", run.git_dirty);
    insert.step();
    return connection.last_insert_rowid();
  });
}

void RunRepository::finish(std::int64_t id, std::string_view status, int exit_code,
                           const std::string& summary_json) {
  if (std::find(k_final_statuses.begin(), k_final_statuses.end(), status) ==
      k_final_statuses.end()) {
    throw core::Error(core::ExitCode::io, fmt::format("cannot finish run {}", id),
                      fmt::format("\"{}\" is not a final run status", status),
                      "use ok, warning, critical, unknown, failed or interrupted");
  }
  Connection& connection = m_store.connection();
  m_store.transaction([&] {
    auto update = connection.prepare(
      "UPDATE runs SET finished_at = :finished_at, status = :status, exit_code = :exit_code, "
      "summary = :summary WHERE id = :id");
    update.bind(":finished_at", now_iso8601())
      .bind(":status", status)
      .bind(":exit_code", exit_code)
      .bind(":id", id);
    if (summary_json.empty()) {
      update.bind(":summary", std::nullopt);
    } else {
      update.bind(":summary", summary_json);
    }
    update.step();
    if (connection.changes() == 0) {
      throw core::Error(core::ExitCode::io, fmt::format("cannot finish run {}", id),
                        fmt::format("state file {} has no run {}", m_store.path().string(), id),
                        {});
    }
  });
}

std::optional<Run> RunRepository::get(std::int64_t id) {
  auto select =
    m_store.connection().prepare(fmt::format("SELECT {} FROM runs WHERE id = ?", k_columns));
  select.bind(1, id);
  if (!select.step()) {
    return std::nullopt;
  }
  return read_run(select);
}

std::vector<Run> RunRepository::list(std::optional<std::string> command, int limit) {
  auto select = m_store.connection().prepare(
    fmt::format("SELECT {} FROM runs WHERE (:command IS NULL OR command = :command) "
                "ORDER BY started_at DESC, id DESC LIMIT :limit",
                k_columns));
  // SQLite reads a negative LIMIT as no limit.
  select.bind(":command", command).bind(":limit", limit > 0 ? limit : -1);
  std::vector<Run> runs;
  while (select.step()) {
    runs.push_back(read_run(select));
  }
  return runs;
}

std::int64_t RunRepository::count() {
  auto query = m_store.connection().prepare("SELECT count(*) FROM runs");
  query.step();
  return query.column_int64(0);
}

Run new_run(std::string command, std::string name, const core::Provenance& provenance,
            const std::filesystem::path& workspace) {
  Run run;
  run.command = std::move(command);
  run.name = std::move(name);
  run.host = provenance.host;
  run.user = provenance.user;
  run.pid = static_cast<std::int64_t>(::getpid());
  run.workspace = workspace.string();
  run.git_commit = provenance.git_commit;
  run.git_dirty = provenance.git_dirty;
  return run;
}

} // namespace has::state
