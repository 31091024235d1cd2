#include <has/core/error.hpp>

#include <doctest/doctest.h>

using has::core::Error;
using has::core::ExitCode;

TEST_CASE("core::Error renders reason and help lines") {
  Error e(ExitCode::io, "cannot open state file", "permission denied", "check --state");
  CHECK(e.code() == ExitCode::io);
  CHECK(e.render() == "cannot open state file\n  reason: permission denied\n  help: check --state");
}

TEST_CASE("core::Error without reason or help is one line") {
  Error e(ExitCode::usage, "bad flag");
  CHECK(e.render() == "bad flag");
  CHECK(has::core::to_int(e.code()) == 64);
}
