#include <has/core/error.hpp>
#include <has/expr/syntax.hpp>

#include <doctest/doctest.h>

#include <string>

using has::core::Error;
using has::core::ExitCode;
using has::expr::clean_lua_message;
using has::expr::find_placeholders;
using has::expr::format_location;
using has::expr::rewrite_operators;
using has::expr::Source;

TEST_CASE("expr syntax: operators are rewritten outside literals only") {
  CHECK(rewrite_operators("a != b") == "a ~= b");
  CHECK(rewrite_operators("a && b || c") == "a  and  b  or  c");
  CHECK(rewrite_operators("!a") == " not a");
  CHECK(rewrite_operators("!(a != b)") == " not (a ~= b)");
  CHECK(rewrite_operators("s == \"a!=b&&c||!d\"") == "s == \"a!=b&&c||!d\"");
  CHECK(rewrite_operators("s == 'it\\'s != x'") == "s == 'it\\'s != x'");
  CHECK(rewrite_operators("s == [[a != b]] and t == [==[x]]!=]==]") ==
        "s == [[a != b]] and t == [==[x]]!=]==]");
  CHECK(rewrite_operators("a -- comment != b\n!= c") == "a -- comment != b\n~= c");
  CHECK(rewrite_operators("t[1] != t[2]") == "t[1] ~= t[2]");
  CHECK(rewrite_operators("a ~= b") == "a ~= b");
}

TEST_CASE("expr syntax: placeholders are found with braces and strings inside") {
  auto found = find_placeholders("a ${{ x }} b ${{ {k={1}} }} c ${{ \"}}\" }}", {});
  REQUIRE(found.size() == 3);
  CHECK(found[0].expression == "x");
  CHECK(found[0].begin == 2);
  CHECK(found[0].end == 10);
  CHECK(found[1].expression == "{k={1}}");
  CHECK(found[2].expression == "\"}}\"");
  CHECK(find_placeholders("no templates { } here", {}).empty());
}

TEST_CASE("expr syntax: an unterminated placeholder is a definitions error "
          "with its location") {
  try {
    find_placeholders("http://${{ target.address", Source{"hosts.yaml", 4, 9});
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::bad_definitions);
    CHECK(std::string(e.what()).find("hosts.yaml:4:9: unterminated `${{`") == 0);
    CHECK(e.help().find("}}") != std::string::npos);
  }
}

TEST_CASE("expr syntax: locations drop what is unknown") {
  CHECK(format_location({}) == "");
  CHECK(format_location({"a.yaml", 0, 0}) == "a.yaml");
  CHECK(format_location({"a.yaml", 3, 0}) == "a.yaml:3");
  CHECK(format_location({"a.yaml", 3, 7}) == "a.yaml:3:7");
  CHECK(format_location({"", 3, 7}) == "<expression>:3:7");
}

TEST_CASE("expr syntax: Lua chunk prefixes are cleaned from messages") {
  CHECK(clean_lua_message("expr:1: attempt to call a nil value", "f()") ==
        "attempt to call a nil value");
  CHECK(clean_lua_message("expr:2: unexpected symbol near ')'", "a ==") ==
        "unexpected symbol at the end of the expression");
  CHECK(clean_lua_message("expr:2: oops", "a or\nb") == "line 2: oops");
  CHECK(clean_lua_message("plain message", "x") == "plain message");
}
