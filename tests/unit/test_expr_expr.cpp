#include <has/core/error.hpp>
#include <has/expr/expr.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <string>

using has::core::Error;
using has::core::ExitCode;
using has::expr::Engine;
using has::expr::Limits;
using has::expr::Source;
using nlohmann::json;

namespace {

const json k_values = json::parse(R"({
  "status": 200,
  "elapsed_ms": 12.5,
  "body": "all OK here",
  "json": {
    "status": "UP",
    "data": {"replicas": 3, "tags": ["a", "b"]},
    "items": [{"name": "x", "size": 1}, {"name": "y", "size": 2}],
    "missing": null,
    "content-type": "text/plain"
  }
})");

// Returns the error thrown by f (failing the test when none is).
template <typename F> Error error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  FAIL("expected has::core::Error");
  return Error(ExitCode::ok, "");
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

TEST_CASE("expr: comparisons and arithmetic") {
  Engine engine;
  CHECK(engine.condition("status == 200", k_values));
  CHECK_FALSE(engine.condition("status == 201", k_values));
  CHECK(engine.condition("status >= 200 and status < 300", k_values));
  CHECK(engine.condition("elapsed_ms < 100", k_values));
  CHECK(engine.condition("json.status == \"UP\"", k_values));
  CHECK(engine.condition("body:find(\"OK\")", k_values));
  CHECK_FALSE(engine.condition("body:find(\"FAIL\")", k_values));
  CHECK(engine.condition("#body == 11 and body:upper() == \"ALL OK HERE\"", k_values));
  CHECK(engine.evaluate("status + 1", k_values) == 201);
  CHECK_FALSE(engine.condition("nil", k_values));
  CHECK_FALSE(engine.condition("false", k_values));
  CHECK(engine.condition("0", k_values)); // Lua truthiness: 0 is true
}

TEST_CASE("expr: != is rewritten but not inside strings") {
  Engine engine;
  json values = {{"s", "a!=b"}, {"n", 1}};
  CHECK(engine.condition("n != 2", values));
  CHECK_FALSE(engine.condition("n != 1", values));
  CHECK(engine.condition("s == \"a!=b\"", values));
  CHECK(engine.condition("s == 'a!=b'", values));
  CHECK(engine.condition("s == [[a!=b]]", values));
  CHECK(engine.condition("n ~= 2", values));
}

TEST_CASE("expr: && || and ! are accepted") {
  Engine engine;
  json values = {{"a", true}, {"b", false}};
  CHECK_FALSE(engine.condition("a && b", values));
  CHECK(engine.condition("a || b", values));
  CHECK(engine.condition("!b", values));
  CHECK_FALSE(engine.condition("!a", values));
  CHECK(engine.condition("!(a && b) && (b || a)", values));
  CHECK(engine.condition("!b != false", values));
  CHECK(engine.condition("a and not b", values));
}

TEST_CASE("expr: nested JSON / arrays and null") {
  Engine engine;
  CHECK(engine.condition("json.data.replicas == 3", k_values));
  CHECK(engine.condition("json.data.tags[1] == \"a\" and #json.data.tags == 2", k_values));
  CHECK(engine.condition("json.items[2].name == \"y\"", k_values));
  CHECK(engine.condition("json[\"content-type\"] == \"text/plain\"", k_values));
  CHECK(engine.condition("json.missing == null", k_values));
  CHECK(engine.condition("json.status != null", k_values));
  CHECK(engine.condition("tostring(json.missing) == \"null\"", k_values));
  CHECK(
      engine.evaluate("json.data.tags[3]", k_values).is_null()); // past the end of an array is nil
  CHECK(engine.evaluate("(function() local n = 0 for _, item in "
                        "ipairs(json.items) do n = n + item.size end "
                        "return n end)()",
                        k_values) == 3);
  CHECK(engine.evaluate("json.missing", k_values).is_null());
}

TEST_CASE("expr: evaluate converts Lua values back to JSON") {
  Engine engine;
  CHECK(engine.evaluate("json.data", k_values) == k_values["json"]["data"]);
  CHECK(engine.evaluate("json.items", k_values) == k_values["json"]["items"]);
  CHECK(engine.evaluate("{1, 2, 3}", k_values) == json::array({1, 2, 3}));
  CHECK(engine.evaluate("{a = 1, b = {true, \"x\"}}", k_values) ==
        json::parse(R"({"a":1,"b":[true,"x"]})"));
  CHECK(engine.evaluate("{[1] = 1, [3] = 3}", k_values) == json::parse(R"({"1":1,"3":3})"));
  json integer = engine.evaluate("7 // 2", k_values);
  CHECK(integer.is_number_integer());
  CHECK(integer == 3);
  CHECK(engine.evaluate("7 / 2", k_values) == 3.5);
  CHECK(engine.evaluate("nil", k_values).is_null());
  CHECK(engine.evaluate("\"text\"", json::object()) == "text");
  CHECK(engine.evaluate("1 + 1", nullptr) == 2);

  Error function = error_of([&] { engine.evaluate("print or string.len", k_values); });
  CHECK(contains(function.what(), "unknown value 'print'"));
  Error cyclic = error_of(
      [&] { engine.evaluate("(function() local t = {} t.t = t return t end)()", k_values); });
  CHECK(cyclic.code() == ExitCode::failure);
  CHECK(contains(cyclic.what(), "refers to itself"));
  Error not_json = error_of([&] { engine.evaluate("string.len", k_values); });
  CHECK(contains(not_json.what(), "the result is a function, which has no JSON form"));
}

TEST_CASE("expr: an unknown name is an error listing the known values") {
  Engine engine;
  json values = {{"b", 1}, {"a", 2}, {"c", 3}};
  Error e = error_of([&] { engine.condition("foo == 1", values, Source{"rules.yaml", 7, 5}); });
  CHECK(e.code() == ExitCode::failure);
  CHECK(std::string(e.what()) ==
        "rules.yaml:7:5: expression `foo == 1` failed: unknown value 'foo'; "
        "known values: a, b, c");
  Error none = error_of([&] { engine.condition("foo", json::object()); });
  CHECK(contains(none.what(), "unknown value 'foo'; known values: (none)"));
}

TEST_CASE("expr: a missing nested field is an error naming its path") {
  Engine engine;
  Error e = error_of([&] { engine.condition("json.data.ready == true", k_values); });
  CHECK(e.code() == ExitCode::failure);
  CHECK(contains(e.what(), "json.data has no field 'ready'"));
  CHECK(contains(e.help(), "exists("));
  Error in_array = error_of([&] { engine.condition("json.items[1].colour", k_values); });
  CHECK(contains(in_array.what(), "json.items[1] has no field 'colour'"));
  Error odd_key = error_of([&] {
    engine.condition("json.nope", json{{"json", {{"a-b", {{"c", 1}}}}}});
  });
  CHECK(contains(odd_key.what(), "json has no field 'nope'"));
  Error quoted = error_of([&] {
    engine.condition("json[\"a-b\"].d", json{{"json", {{"a-b", {{"c", 1}}}}}});
  });
  CHECK(contains(quoted.what(), "json[\"a-b\"] has no field 'd'"));
  Error of_null = error_of([&] { engine.condition("json.missing.x", k_values); });
  CHECK(contains(of_null.what(), "cannot read field 'x' of null"));
}

TEST_CASE("expr: exists / get / len and matches") {
  Engine engine;
  CHECK(engine.condition("exists(json, \"data.replicas\")", k_values));
  CHECK_FALSE(engine.condition("exists(json, \"data.ready\")", k_values));
  CHECK(engine.condition("exists(json, \"items.2.name\")", k_values));
  CHECK_FALSE(engine.condition("exists(json, \"items.3.name\")", k_values));
  CHECK_FALSE(engine.condition("exists(json, \"status.deeper\")", k_values));
  CHECK(engine.condition("exists(json, \"missing\")", k_values));
  CHECK(engine.evaluate("get(json, \"data.ready\", false)", k_values) == false);
  CHECK(engine.evaluate("get(json, \"items.1.size\", 0)", k_values) == 1);
  CHECK(engine.evaluate("get(json, \"missing\", \"none\")", k_values) == "none");
  CHECK(engine.evaluate("len(body)", k_values) == 11);
  CHECK(engine.evaluate("len(json.data.tags)", k_values) == 2);
  CHECK(engine.evaluate("len(json.data)", k_values) == 2);
  CHECK(engine.condition("matches(body, \"^all %u+\")", k_values));
  CHECK_FALSE(engine.condition("matches(body, \"^OK\")", k_values));
  CHECK(contains(error_of([&] { engine.evaluate("len(5)", k_values); }).what(),
                 "len: expected a string or a table, got number"));
  CHECK(
      contains(error_of([&] { engine.evaluate("matches(json.missing, \"x\")", k_values); }).what(),
               "matches: expected a string, got null"));
  CHECK(contains(error_of([&] { engine.evaluate("exists(json, 3)", k_values); }).what(),
                 "exists: the path must be a string"));
}

TEST_CASE("expr: interpolate replaces every placeholder") {
  Engine engine;
  json values = {{"host", "db1"}, {"port", 5432},   {"ratio", 2.5},      {"whole", 3.0},
                 {"on", true},    {"list", {1, 2}}, {"nothing", nullptr}};
  CHECK(engine.interpolate("postgres://${{ host }}:${{port}}/x", values) ==
        "postgres://db1:5432/x");
  CHECK(engine.interpolate("${{ ratio }} ${{ whole }} ${{ port / 2 }} ${{ port * 2 }}", values) ==
        "2.5 3 2716 10864");
  CHECK(engine.interpolate("${{ on }}/${{ not on }}", values) == "true/false");
  CHECK(engine.interpolate("${{ list }} ${{ {a = \"}}\"} }}", values) == "[1,2] {\"a\":\"}}\"}");
  CHECK(engine.interpolate("[${{ nothing }}][${{ nil }}]", values) == "[null][]");
  CHECK(engine.interpolate("plain text, no placeholders {{ }}", values) ==
        "plain text, no placeholders {{ }}");
  CHECK(engine.interpolate("${{ host .. \"-\" .. port }}", values) == "db1-5432");

  Error unterminated = error_of([&] {
    engine.interpolate("x ${{ host ", values, Source{"a.yaml", 2, 3});
  });
  CHECK(unterminated.code() == ExitCode::bad_definitions);
  CHECK(contains(unterminated.what(), "a.yaml:2:3: unterminated `${{`"));
  Error unknown = error_of([&] { engine.interpolate("x ${{ hots }}", values); });
  CHECK(contains(unknown.what(), "expression `hots` failed: unknown value 'hots'"));
}

TEST_CASE("expr: interpolate reads plain paths exactly as an expression would") {
  Engine engine;
  json values = {{"target", {{"name", "web-1"}, {"address", "10.0.0.5"}, {"port", 8080},
                             {"labels", {{"role", "web"}}}, {"none", nullptr}}},
                 {"string", "shadowed"},
                 {"_x1", "under"}};
  CHECK(engine.interpolate("http://${{ target.address }}:${{ target.port }}/?n=${{target.name}}", values) ==
        "http://10.0.0.5:8080/?n=web-1");
  CHECK(engine.interpolate("${{ target.labels.role }} ${{ _x1 }}", values) == "web under");
  // A value named like a built-in wins over it, in both ways of reading.
  CHECK(engine.interpolate("${{ string }}", values) == "shadowed");
  CHECK(engine.interpolate("${{ true }} ${{ target.none }} ${{ target.labels }}", values) ==
        "true null {\"role\":\"web\"}");
  Error missing = error_of([&] { engine.interpolate("${{ target.adress }}", values); });
  CHECK(contains(missing.what(), "has no field 'adress'"));
  // A reserved word is no Lua name: the path in a message quotes it.
  json words = {{"cfg", {{"end", {{"x", 1}}}}}};
  Error reserved = error_of([&] { engine.interpolate("${{ cfg[\"end\"].y }}", words); });
  CHECK(contains(reserved.what(), "cfg[\"end\"] has no field 'y'"));
  // A field of a string is Lua's to read: the string library has no 'first'.
  CHECK(engine.interpolate("[${{ target.name.first }}]", values) == "[]");
  Error unknown = error_of([&] { engine.interpolate("${{ targets.name }}", values); });
  CHECK(contains(unknown.what(), "unknown value 'targets'"));
}

TEST_CASE("expr: evaluate reads plain paths exactly as an expression would") {
  Engine engine;
  json values = {{"target", {{"address", "10.0.0.5"}, {"port", 8080}, {"tls", true}, {"weight", 0.5},
                             {"big", 18446744073709551615ULL}, {"tags", json::array({"a"})}, {"none", nullptr}}},
                 {"string", "shadowed"}};
  // Read without Lua where JSON and Lua hold the value alike, with Lua otherwise:
  // each answer is the one the expression gives.
  for (const char* path : {"target.address", "target.port", "target.tls", "target.weight", "target.big",
                           "target.tags", "target.none", "string", "target.port + 1"}) {
    CAPTURE(path);
    json direct = engine.evaluate(path, values);
    json through_lua = engine.evaluate(std::string("(") + path + ")", values);
    CHECK(direct == through_lua);
    CHECK(direct.type() == through_lua.type());
  }
  CHECK(engine.evaluate("target.port", values).is_number_integer());
  CHECK(engine.evaluate(" target.port ", values) == 8080); // as written inside ${{ }}
  CHECK(engine.evaluate("string", values) == "shadowed"); // a value named like a built-in wins
  CHECK(engine.interpolate("${{ target.port }}/${{ target.tls }}/${{ target.big }}", values) ==
        engine.interpolate("${{ (target.port) }}/${{ (target.tls) }}/${{ (target.big) }}", values));
  Error missing = error_of([&] { engine.evaluate("target.adress", values); });
  CHECK(contains(missing.what(), "has no field 'adress'"));
}

TEST_CASE("expr: template_expressions lists what interpolate would run") {
  CHECK(has::expr::template_expressions("a ${{ x.y }} b ${{z}}") ==
        std::vector<std::string>{"x.y", "z"});
  CHECK(has::expr::template_expressions("nothing here").empty());
  CHECK(error_of([] { has::expr::template_expressions("${{ x"); }).code() ==
        ExitCode::bad_definitions);
}

TEST_CASE("expr: syntax errors name the file / line / column and expression") {
  Engine engine;
  Source where{"checks/api.yaml", 12, 7};
  Error e = error_of([&] { engine.condition("status ==", k_values, where); });
  CHECK(e.code() == ExitCode::bad_definitions);
  CHECK(std::string(e.what()) == "checks/api.yaml:12:7: syntax error in expression `status ==`: "
                                 "unexpected symbol at the end of the expression");
  CHECK_FALSE(e.help().empty());

  Error checked = error_of([&] { has::expr::check_syntax("a = = b", where); });
  CHECK(checked.code() == ExitCode::bad_definitions);
  CHECK(contains(checked.what(), "checks/api.yaml:12:7: syntax error in expression `a = = b`:"));
  CHECK(contains(checked.what(), "near '='"));
  CHECK(error_of([] { has::expr::check_syntax("a, b"); }).code() == ExitCode::bad_definitions);
  CHECK(error_of([] { has::expr::check_syntax("1) os.exit(("); }).code() ==
        ExitCode::bad_definitions);
  CHECK(
      contains(error_of([] { has::expr::check_syntax("   "); }).what(), "the expression is empty"));
  CHECK_NOTHROW(has::expr::check_syntax("status != 200 && !json.ok || x -- comment"));
  CHECK_NOTHROW(has::expr::check_syntax("a or\n b"));
}

TEST_CASE("expr: defaults add the names that the values lack") {
  Engine engine;
  nlohmann::json values = {{"status", 200}, {"target", "from values"}};
  nlohmann::json defaults = {{"target", {{"name", "web-1"}}}, {"rule", {{"name", "r"}}}};
  CHECK(engine.condition("status == 200 and rule.name == 'r'", values, defaults));
  // The values win over a default of the same name.
  CHECK(engine.evaluate("target", values, defaults) == "from values");
  CHECK(engine.evaluate("rule.name", values, defaults) == "r");
  CHECK(error_of([&] { engine.evaluate("status", nullptr, defaults); }).code() == ExitCode::failure);
  CHECK(engine.evaluate("rule.name", nullptr, defaults) == "r");
  // A missing name lists every known one, as with the names merged.
  Error e = error_of([&] { engine.condition("statuz == 200", values, defaults); });
  CHECK(contains(e.what(), "unknown value 'statuz'; known values: rule, status, target"));
  e = error_of([&] { engine.evaluate("rule.nope", values, defaults); });
  CHECK(contains(e.what(), "rule has no field 'nope'"));
  // Without defaults, nothing else is known.
  CHECK(error_of([&] { engine.condition("rule.name == 'r'", values); }).code() == ExitCode::failure);
}

TEST_CASE("expr: a syntax check remembers texts that compile - never failures") {
  // The same text checked again is still accepted; a broken one is still an
  // error, each time at the location it is checked from.
  for (int i = 0; i < 3; ++i) {
    CHECK_NOTHROW(has::expr::check_syntax("status == 200"));
  }
  Error first = error_of([] { has::expr::check_syntax("status == = 200", Source{"a.yaml", 1, 2}); });
  Error second = error_of([] { has::expr::check_syntax("status == = 200", Source{"b.yaml", 3, 4}); });
  CHECK(contains(first.what(), "a.yaml:1:2: syntax error in expression `status == = 200`"));
  CHECK(contains(second.what(), "b.yaml:3:4: syntax error in expression `status == = 200`"));
  // A text that differs from a remembered one only in white space or a
  // character is checked on its own.
  CHECK(error_of([] { has::expr::check_syntax("status == 200 )"); }).code() == ExitCode::bad_definitions);
  CHECK(error_of([] { has::expr::check_syntax("status === 200"); }).code() == ExitCode::bad_definitions);
  CHECK(contains(error_of([] { has::expr::check_syntax(" "); }).what(), "the expression is empty"));
  // More distinct texts than the memory holds are all still checked.
  for (int i = 0; i < 10'100; ++i) {
    CHECK_NOTHROW(has::expr::check_syntax("x == " + std::to_string(i)));
  }
  CHECK_NOTHROW(has::expr::check_syntax("status == 200"));
  CHECK(error_of([] { has::expr::check_syntax("x == 1 +"); }).code() == ExitCode::bad_definitions);
}

TEST_CASE("expr: runtime errors name the expression and the Lua message") {
  Engine engine;
  Error e = error_of([&] { engine.condition("status < \"x\"", k_values, Source{"r.yaml", 3, 1}); });
  CHECK(e.code() == ExitCode::failure);
  CHECK(std::string(e.what()) == "r.yaml:3:1: expression `status < \"x\"` failed: "
                                 "attempt to compare number with string");
  CHECK(contains(error_of([&] { engine.condition("error('custom')", k_values); }).what(),
                 "failed: custom"));
  CHECK(contains(error_of([&] { engine.condition("error({})", k_values); }).what(),
                 "(error object is a table value)"));
}

TEST_CASE("expr: forbidden globals are not reachable") {
  Engine engine;
  for (const char* name : {"os", "io", "require", "load", "loadstring", "dofile", "loadfile",
                           "debug", "package", "collectgarbage", "rawset", "setmetatable",
                           "getmetatable", "print", "coroutine", "_G", "module", "xpcall"}) {
    CAPTURE(name);
    Error e = error_of([&] { engine.evaluate(name, k_values); });
    CHECK(contains(e.what(), std::string("unknown value '") + name + "'"));
    CHECK_FALSE(engine.condition(std::string("rawget(_ENV, \"") + name + "\")", k_values));
  }
  CHECK(contains(error_of([&] { engine.condition("os.execute(\"true\")", k_values); }).what(),
                 "unknown value 'os'"));
  CHECK(contains(error_of([&] { engine.condition("io.open(\"/etc/passwd\")", k_values); }).what(),
                 "unknown value 'io'"));
  CHECK(contains(error_of([&] { engine.condition("require(\"os\")", k_values); }).what(),
                 "unknown value 'require'"));
  CHECK(contains(error_of([&] { engine.condition("_ENV.load(\"return 1\")", k_values); }).what(),
                 "unknown value 'load'"));
  CHECK(contains(error_of([&] { engine.condition("dofile(\"/etc/passwd\")", k_values); }).what(),
                 "unknown value 'dofile'"));
  CHECK(contains(error_of([&] { engine.condition("debug.getregistry()", k_values); }).what(),
                 "unknown value 'debug'"));
  CHECK(contains(error_of([&] { engine.condition("collectgarbage(\"count\")", k_values); }).what(),
                 "unknown value 'collectgarbage'"));
}

TEST_CASE("expr: the string library is safe and cannot be changed") {
  Engine engine;
  CHECK(engine.condition("string.dump == nil and (\"\").dump == nil", k_values));
  CHECK(engine.condition("(\"\").__index == nil", k_values));
  CHECK(contains(
      error_of([&] { engine.condition("getmetatable(\"\").__index.dump", k_values); }).what(),
      "unknown value 'getmetatable'"));
  Error write =
      error_of([&] { engine.condition("(function() string.find = nil end)()", k_values); });
  CHECK(contains(write.what(), "string is read-only (cannot set 'find')"));
  CHECK(engine.condition("pcall(function() string.rep = nil end) == false", k_values));
  CHECK(
      engine.condition("pcall(function() math.pi = 3 end) == false and math.pi > 3.14", k_values));
  CHECK(engine.condition("body:find(\"OK\") and string.rep(\"a\", 3) == \"aaa\"", k_values));
  CHECK(engine.condition("next(string) == nil",
                         k_values)); // only a read-only proxy is visible
  CHECK(engine.condition("math.floor(2.5) == 2 and table.concat({1, 2}, \",\") == \"1,2\"",
                         k_values));
  CHECK(engine.condition("utf8.len(\"héllo\") == 5", k_values));
}

TEST_CASE("expr: values do not leak between evaluations") {
  Engine engine;
  CHECK(engine.evaluate("(function() leaked = 1 return 1 end)()", json{{"a", 1}}) == 1);
  CHECK(contains(error_of([&] {
                   engine.condition("leaked", json{{"a", 1}});
                 }).what(),
                 "unknown value 'leaked'"));
  CHECK(engine.condition("a == 1", json{{"a", 1}}));
  CHECK(engine.condition("a == 2", json{{"a", 2}}));
}

TEST_CASE("expr: the instruction budget stops runaway expressions") {
  Engine engine(Limits{10'000, 32u << 20});
  Error e = error_of([&] { engine.condition("(function() while true do end end)()", k_values); });
  CHECK(e.code() == ExitCode::failure);
  CHECK(contains(e.what(), "exceeded its instruction budget of 10000 instructions"));
  // A pcall inside the expression cannot swallow the budget error and go on.
  Error swallowed = error_of([&] {
    engine.condition("(function() while true do pcall(function() while true do "
                     "end end) end end)()",
                     k_values);
  });
  CHECK(contains(swallowed.what(), "instruction budget"));
  CHECK(engine.condition("status == 200", k_values));
  // Each evaluation gets the whole budget again.
  for (int i = 0; i < 5; ++i) {
    CHECK(engine.evaluate("(function() local n = 0 for i = 1, 1000 do n = n + "
                          "i end return n end)()",
                          k_values) == 500500);
  }
}

TEST_CASE("expr: the memory cap stops huge allocations with an error") {
  Engine engine;
  Error e = error_of([&] { engine.condition("(\"x\"):rep(1e9)", k_values); });
  CHECK(e.code() == ExitCode::failure);
  CHECK(contains(e.what(), "exceeded its memory limit of 32 MiB"));

  Engine small(Limits{1'000'000, 1u << 20});
  CHECK(small.evaluate("#(\"x\"):rep(100000)", k_values) == 100000);
  CHECK(contains(error_of([&] { small.evaluate("#(\"x\"):rep(2000000)", k_values); }).what(),
                 "memory limit"));
  Error tables = error_of([&] {
    small.evaluate("(function() local t = {} for i = 1, 1e7 do t[i] = {i} end "
                   "return #t end)()",
                   k_values);
  });
  CHECK(contains(tables.what(), "memory limit"));
  CHECK(small.condition("#(\"x\"):rep(1000) == 1000", k_values));
}

TEST_CASE("expr: values larger than the memory cap are read without counting against it") {
  Engine small(Limits{1'000'000, 1u << 20});
  json values = {{"body", std::string(3u << 20, 'x')}, {"nested", {{"big", std::string(2u << 20, 'y')}}}};
  CHECK(small.condition("#body == 3 * 1024 * 1024 and #nested.big == 2 * 1024 * 1024", values));
  // What the expression itself allocates still counts.
  CHECK(contains(error_of([&] { small.evaluate("#(body .. body)", values); }).what(), "memory limit"));
  CHECK(small.condition("#body > 0", values));
}

TEST_CASE("expr: the engine keeps working after errors") {
  Engine engine;
  CHECK_THROWS_AS(engine.condition("status ==", k_values), Error);
  CHECK_THROWS_AS(engine.condition("nope", k_values), Error);
  CHECK_THROWS_AS(engine.condition("error('x')", k_values), Error);
  CHECK_THROWS_AS(engine.condition("(\"x\"):rep(1e9)", k_values), Error);
  CHECK_THROWS_AS(engine.evaluate("string.len", k_values), Error);
  CHECK(engine.condition("status == 200 and json.status == \"UP\"", k_values));
  CHECK(engine.interpolate("${{ status }}", k_values) == "200");

  Engine moved = std::move(engine);
  CHECK(moved.condition("status == 200", k_values));
}

TEST_CASE("expr: thousands of conditions on one engine") {
  Engine engine;
  json values = {{"status", 0}, {"json", {{"ok", true}}}};
  int passed = 0;
  for (int i = 0; i < 10'000; ++i) {
    values["status"] = i;
    if (engine.condition(i % 2 == 0 ? "status % 2 == 0 && json.ok" : "status != 3 and json.ok",
                         values)) {
      ++passed;
    }
  }
  CHECK(passed == 9'999);
}
