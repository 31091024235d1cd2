#include <has/core/error.hpp>
#include <has/defs/template.hpp>
#include <has/expr/expr.hpp>

#include <doctest/doctest.h>

#include <cstdlib>

using has::defs::resolve_template;

TEST_CASE("defs: resolve_template fills in values and keeps a whole expression's type") {
  has::expr::Engine engine;
  const nlohmann::json values{{"event", {{"labels", {{"host", "web1"}}}, {"count", 3}}}, {"list", {1, 2}}};
  CHECK(resolve_template(engine, "restart ${{ event.labels.host }}", values, {}) == "restart web1");
  CHECK(resolve_template(engine, "${{ event.count }}", values, {}) == 3);
  CHECK(resolve_template(engine, " ${{ list }} ", values, {}) == nlohmann::json{1, 2});
  CHECK(resolve_template(engine, "plain", values, {}) == "plain");
  CHECK(resolve_template(engine, nlohmann::json{{"a", {"${{ event.count }}", "x"}}, {"n", 5}}, values, {}) ==
        nlohmann::json{{"a", {3, "x"}}, {"n", 5}});
}

TEST_CASE("defs: resolve_template reads the environment only from the definition's own text") {
  ::setenv("HAS_TEMPLATE_TEST_SECRET", "s3cret", 1);
  has::expr::Engine engine;
  // A value that holds an ${env:} reference or a template is inserted as text.
  const nlohmann::json values{{"out", "${env:HAS_TEMPLATE_TEST_SECRET} ${{ 6 * 7 }}"}};
  CHECK(resolve_template(engine, "got ${{ out }}", values, {}) == "got ${env:HAS_TEMPLATE_TEST_SECRET} ${{ 6 * 7 }}");
  CHECK(resolve_template(engine, "${{ out }}", values, {}) == "${env:HAS_TEMPLATE_TEST_SECRET} ${{ 6 * 7 }}");
  // The definition's own reference is resolved.
  CHECK(resolve_template(engine, "token ${env:HAS_TEMPLATE_TEST_SECRET}", values, {}) == "token s3cret");
  ::unsetenv("HAS_TEMPLATE_TEST_UNSET");
  CHECK_THROWS_AS(resolve_template(engine, "${env:HAS_TEMPLATE_TEST_UNSET}", values, {}), has::core::Error);
  ::unsetenv("HAS_TEMPLATE_TEST_SECRET");
}
