#include <has/probe/perfdata.hpp>

#include <doctest/doctest.h>

#include <random>

using has::probe::parse_perfdata;
using has::probe::perf_json;
using has::probe::perf_value_name;
using has::probe::PerfData;
using has::probe::split_plugin_output;

namespace {

// Returns the errors joined, so a failing CHECK shows them.
std::string joined(const PerfData& data) {
  std::string out;
  for (const auto& error : data.errors) {
    out += error + "\n";
  }
  return out;
}

} // namespace

TEST_CASE("probe perfdata: reads value / UOM / warn / crit / min and max") {
  auto data = parse_perfdata("time=0.5s;1;2;0;10");
  INFO(joined(data));
  REQUIRE(data.items.size() == 1);
  CHECK(data.errors.empty());
  const auto& item = data.items[0];
  CHECK(item.label == "time");
  CHECK(item.value == doctest::Approx(0.5));
  CHECK(item.uom == "s");
  CHECK(item.warn == "1");
  CHECK(item.crit == "2");
  CHECK(item.min == doctest::Approx(0));
  CHECK(item.max == doctest::Approx(10));
}

TEST_CASE("probe perfdata: reads several items with empty fields and trailing semicolons") {
  auto data = parse_perfdata(
    "load1=4.250;1000.000;2000.000;0; load5=4.150;;2000;; \t load15=2.320   bare=7");
  INFO(joined(data));
  CHECK(data.errors.empty());
  REQUIRE(data.items.size() == 4);
  CHECK(data.items[0].label == "load1");
  CHECK(data.items[0].warn == "1000.000");
  CHECK(data.items[0].min == doctest::Approx(0));
  CHECK_FALSE(data.items[0].max.has_value());
  CHECK(data.items[1].warn.empty());
  CHECK(data.items[1].crit == "2000");
  CHECK(data.items[2].value == doctest::Approx(2.32));
  CHECK(data.items[3].value == doctest::Approx(7));
  CHECK(data.items[3].uom.empty());
}

TEST_CASE("probe perfdata: quoted labels keep spaces / '=' and doubled quotes") {
  auto data = parse_perfdata("'rx bytes'=100B 'it''s'=1c 'a=b'=2 '/var/lib'=3GB");
  INFO(joined(data));
  CHECK(data.errors.empty());
  REQUIRE(data.items.size() == 4);
  CHECK(data.items[0].label == "rx bytes");
  CHECK(data.items[0].uom == "B");
  CHECK(data.items[1].label == "it's");
  CHECK(data.items[1].uom == "c");
  CHECK(data.items[2].label == "a=b");
  CHECK(data.items[3].label == "/var/lib");
  CHECK(data.items[3].value == doctest::Approx(3));
}

TEST_CASE("probe perfdata: negative / decimal / exponent and unknown values") {
  auto data = parse_perfdata("temp=-3.5 half=.5 big=1e3 gone=U plus=+2 neg=-.25");
  INFO(joined(data));
  CHECK(data.errors.empty());
  REQUIRE(data.items.size() == 6);
  CHECK(data.items[0].value == doctest::Approx(-3.5));
  CHECK(data.items[1].value == doctest::Approx(0.5));
  CHECK(data.items[2].value == doctest::Approx(1000));
  CHECK_FALSE(data.items[3].value.has_value());
  CHECK(data.items[4].value == doctest::Approx(2));
  CHECK(data.items[5].value == doctest::Approx(-0.25));
}

TEST_CASE("probe perfdata: reads every standard UOM") {
  for (std::string uom : {"s", "ms", "us", "%", "B", "KB", "MB", "GB", "TB", "c"}) {
    auto data = parse_perfdata("x=12" + uom + ";;;0;100");
    INFO(uom, " ", joined(data));
    REQUIRE(data.items.size() == 1);
    CHECK(data.errors.empty());
    CHECK(data.items[0].uom == uom);
    CHECK(data.items[0].value == doctest::Approx(12));
  }
}

TEST_CASE("probe perfdata: thresholds keep the range syntax - JSON gives plain numbers as numbers") {
  auto data = parse_perfdata("a=5;@10:20;~:30;0 b=1;3;4 c=1;5ms;;; d=2ms;5ms;10ms");
  INFO(joined(data));
  REQUIRE(data.items.size() == 4);
  CHECK(data.items[0].warn == "@10:20");
  CHECK(data.items[0].crit == "~:30");
  auto a = perf_json(data.items[0]);
  CHECK(a["warn"] == "@10:20");
  CHECK(a["max"].is_null());
  auto b = perf_json(data.items[1]);
  CHECK(b["warn"] == 3);
  CHECK(b["crit"] == 4);
  CHECK(b["value"] == 1);
  CHECK(b["uom"] == "");
  // A threshold may repeat the value's UOM; with another UOM it is dropped.
  CHECK(data.items[2].warn.empty());
  CHECK(data.items[3].warn == "5");
  CHECK(data.items[3].crit == "10");
  REQUIRE(data.errors.size() == 1);
  CHECK(data.errors[0].find("'c'") != std::string::npos);
}

TEST_CASE("probe perfdata: skips malformed items / keeps the good ones and says why") {
  auto data = parse_perfdata("novalue ok1=1 =5 empty= bad=abc comma=1,5 inf=inf ok2=2 'open=3 4");
  INFO(joined(data));
  REQUIRE(data.items.size() == 2);
  CHECK(data.items[0].label == "ok1");
  CHECK(data.items[1].label == "ok2");
  REQUIRE(data.errors.size() == 7);
  CHECK(data.errors[0].find("'novalue'") != std::string::npos);
  CHECK(data.errors[1].find("label is empty") != std::string::npos);
  CHECK(data.errors[2].find("value is empty") != std::string::npos);
  CHECK(data.errors[3].find("'abc'") != std::string::npos);
  CHECK(data.errors[4].find("'1,5'") != std::string::npos);
  CHECK(data.errors[5].find("'inf'") != std::string::npos);
  CHECK(data.errors[6].find("not closed") != std::string::npos);
}

TEST_CASE("probe perfdata: a bad min or max drops that field only") {
  auto data = parse_perfdata("a=1;;;x;9 b=50%;;;0%;100%");
  REQUIRE(data.items.size() == 2);
  CHECK_FALSE(data.items[0].min.has_value());
  CHECK(data.items[0].max == doctest::Approx(9));
  CHECK(data.items[1].min == doctest::Approx(0));
  CHECK(data.items[1].max == doctest::Approx(100));
  REQUIRE(data.errors.size() == 1);
  CHECK(data.errors[0].find("min") != std::string::npos);
}

TEST_CASE("probe perfdata: empty text has no items and no errors") {
  CHECK(parse_perfdata("").items.empty());
  CHECK(parse_perfdata("   \n\t ").errors.empty());
}

TEST_CASE("probe perfdata: never throws on arbitrary text") {
  std::mt19937 random(12345);
  const std::string alphabet = "ab'=;:.-+@~%U0123456789 \t\n|eE,x\xff";
  std::uniform_int_distribution<std::size_t> length(0, 40);
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
  std::size_t items = 0;
  for (int round = 0; round < 5000; ++round) {
    std::string text;
    for (auto n = length(random); n > 0; --n) {
      text += alphabet[pick(random)];
    }
    PerfData data;
    REQUIRE_NOTHROW(data = parse_perfdata(text));
    for (const auto& item : data.items) {
      CHECK_FALSE(item.label.empty());
      CHECK_NOTHROW(perf_json(item));
    }
    items += data.items.size();
  }
  // The generator does produce readable items, so this tested the good path too.
  CHECK(items > 100);
}

TEST_CASE("probe perfdata: splits plugin output per the Nagios long output format") {
  auto parts = split_plugin_output("DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\n"
                                   "/ 15272 MB (77%);\n"
                                   "/boot 68 MB (69%); | /boot=68MB;88;93;0;98\n"
                                   "/home=69357MB;253404;253409;0;253414\n"
                                   "/var/log=818MB;970;975;0;980\n");
  CHECK(parts.message == "DISK OK - free space: / 3326 MB (56%);");
  CHECK(parts.long_output == "/ 15272 MB (77%);\n/boot 68 MB (69%);");
  CHECK(parts.perfdata == "/=2643MB;5948;5958;0;5968 /boot=68MB;88;93;0;98 "
                          "/home=69357MB;253404;253409;0;253414 /var/log=818MB;970;975;0;980");
  auto data = parse_perfdata(parts.perfdata);
  CHECK(data.errors.empty());
  CHECK(data.items.size() == 4);
}

TEST_CASE("probe perfdata: splits one-line / CRLF and repeated '|' output") {
  auto one = split_plugin_output("  OK - fine  \n");
  CHECK(one.message == "OK - fine");
  CHECK(one.perfdata.empty());
  CHECK(one.long_output.empty());

  auto crlf = split_plugin_output("WARN | a=1\r\nmore\r\n");
  CHECK(crlf.message == "WARN");
  CHECK(crlf.perfdata == "a=1");
  CHECK(crlf.long_output == "more");

  auto repeated = split_plugin_output("OK\nfirst | a=1\nsecond | b=2\nc=3");
  CHECK(repeated.perfdata == "a=1 b=2 c=3");
  CHECK(repeated.long_output == "first\nsecond");

  CHECK(split_plugin_output("").message.empty());
}

TEST_CASE("probe perfdata: value names replace characters outside [A-Za-z0-9_]") {
  CHECK(perf_value_name("rx bytes") == "rx_bytes");
  CHECK(perf_value_name("/var/log") == "_var_log");
  CHECK(perf_value_name("load_1") == "load_1");
  CHECK(perf_value_name("a.b-c") == "a_b_c");
}
