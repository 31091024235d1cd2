#pragma once

#include <span>
#include <string_view>

namespace has::state {

class Store;

// One forward step of the state file's schema. The SQL runs inside the
// migration transaction and must not change PRAGMA user_version itself.
struct Migration {
  int version;
  std::string_view description;
  std::string_view sql;
};

// Returns every migration, oldest first; versions run 1, 2, 3, ... without
// gaps. Domains append their tables here; a released entry never changes.
std::span<const Migration> migrations() noexcept;

// Returns the newest schema version this has knows (the last migration's).
int latest_schema_version() noexcept;

// Applies the migrations newer than the file's user_version, all in one
// BEGIN IMMEDIATE transaction that re-reads the version, so processes racing
// to migrate apply each step once. Throws core::Error(ExitCode::io) if the
// file's schema is newer than this has knows, or if an unversioned file
// already holds tables (another program's database); throws SqliteError if a
// step fails (nothing of the transaction is kept).
void migrate(Store& store);

} // namespace has::state
