#include <has/core/error.hpp>
#include <has/core/redact.hpp>
#include <has/defs/env.hpp>

#include <doctest/doctest.h>

#include <cstdlib>

using has::defs::env_references;
using has::defs::resolve_env;

TEST_CASE("defs: ${env:NAME} resolves at use time and is redacted afterwards") {
  ::setenv("HAS_TEST_TOKEN", "s3cr3t-value", 1);
  auto text = resolve_env("Bearer ${env:HAS_TEST_TOKEN}");
  CHECK(text == "Bearer s3cr3t-value");
  CHECK(has::core::redact("got Bearer s3cr3t-value back") == "got Bearer [redacted] back");
  ::setenv("HAS_TEST_TOKEN", "changed-value", 1);
  CHECK(resolve_env("${env:HAS_TEST_TOKEN}") == "changed-value");
  ::unsetenv("HAS_TEST_TOKEN");
}

TEST_CASE("defs: a missing variable is an error naming it - never its neighbours' values") {
  ::unsetenv("HAS_TEST_MISSING");
  try {
    resolve_env("x ${env:HAS_TEST_MISSING} y", {"rules/a.yaml", 3, 7});
    FAIL("no error");
  } catch (const has::core::Error& e) {
    CHECK(std::string(e.what()) == "environment variable HAS_TEST_MISSING is not set");
    CHECK(e.reason() == "rules/a.yaml:3:7 refers to ${env:HAS_TEST_MISSING}");
    CHECK(e.help() == "export HAS_TEST_MISSING=... before running has");
  }
}

TEST_CASE("defs: malformed references are found by validation") {
  CHECK(env_references("a ${env:ONE} b ${env:TWO_2}") == std::vector<std::string>{"ONE", "TWO_2"});
  CHECK(env_references("no refs, ${{ expr }} is not one").empty());
  CHECK_THROWS_AS(env_references("${env:OPEN"), has::core::Error);
  CHECK_THROWS_AS(env_references("${env:1BAD}"), has::core::Error);
  CHECK_THROWS_AS(env_references("${env:}"), has::core::Error);
  CHECK_THROWS_AS(env_references("${env:A-B}"), has::core::Error);
}
