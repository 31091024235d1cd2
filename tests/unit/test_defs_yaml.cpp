#include <has/defs/yaml.hpp>

#include <doctest/doctest.h>

#include <string>
#include <vector>

using has::defs::yaml::load_all;
using has::defs::yaml::Node;
using has::defs::yaml::NodeType;
using has::defs::yaml::ParseError;

TEST_CASE("yaml: every document of a stream in order with its marks") {
  auto documents = load_all("kind: Rule\nname: a\n---\nkind: Plan\nname: b\n");
  REQUIRE(documents.all().size() == 2);
  const Node& second = documents.all()[1];
  REQUIRE(second.is_map());
  CHECK(second.size() == 2);
  std::vector<std::string> keys;
  for (const auto& item : second) {
    keys.push_back(item.first.text());
    CHECK(item.second.is_scalar());
  }
  CHECK(keys == std::vector<std::string>{"kind", "name"});
  // Marks are from 0: "name" of the second document is on line 4.
  auto it = second.begin();
  ++it;
  CHECK((*it).first.mark().line == 4);
  CHECK((*it).first.mark().column == 0);
  CHECK((*it).second.mark().column == 6);
}

TEST_CASE("yaml: sequences nested in mappings and flow collections") {
  auto documents = load_all("expect: [status == 200, 'body:find(\"OK\")']\nprobe: {http: {url: u}}\nempty: []\n");
  const Node& doc = documents.all().front();
  auto it = doc.begin();
  Node expect = (*it).second;
  REQUIRE(expect.is_sequence());
  CHECK(expect.size() == 2);
  CHECK(expect[0].text() == "status == 200");
  CHECK(expect[1].text() == "body:find(\"OK\")");
  CHECK_FALSE(expect[2].is_defined());
  std::vector<std::string> items;
  for (const auto& item : expect) {
    items.push_back(item.text());
  }
  CHECK(items.size() == 2);
  ++it;
  Node probe = (*it).second;
  REQUIRE(probe.is_map());
  Node http = (*probe.begin()).second;
  REQUIRE(http.is_map());
  CHECK((*http.begin()).second.text() == "u");
  ++it;
  CHECK((*it).second.is_sequence());
  CHECK((*it).second.size() == 0);
  CHECK((*it).second.begin() == (*it).second.end());
}

TEST_CASE("yaml: null values and empty documents") {
  auto documents = load_all("a:\nb: ~\nc: null\nd: 'null'\n---\n");
  REQUIRE(documents.all().size() == 2);
  std::vector<NodeType> types;
  for (const auto& item : documents.all().front()) {
    types.push_back(item.second.type());
  }
  CHECK(types == std::vector<NodeType>{NodeType::null, NodeType::null, NodeType::null, NodeType::scalar});
  CHECK(documents.all()[1].is_null());
  CHECK(documents.all()[1].is_defined());
  CHECK(load_all("").all().empty());
}

TEST_CASE("yaml: plain and quoted scalars keep their tags") {
  auto documents = load_all("a: 1\nb: \"1\"\nc: !!str 1\n");
  std::vector<std::string> tags;
  for (const auto& item : documents.all().front()) {
    tags.push_back(item.second.tag());
  }
  CHECK(tags == std::vector<std::string>{"?", "!", "tag:yaml.org,2002:str"});
}

TEST_CASE("yaml: an alias is the anchored node") {
  auto documents = load_all("base: &b {timeout: 5s}\nuse: *b\n");
  const Node& doc = documents.all().front();
  auto it = doc.begin();
  Node base = (*it).second;
  ++it;
  Node use = (*it).second;
  REQUIRE(use.is_map());
  CHECK((*use.begin()).first.text() == "timeout");
  CHECK(use.mark().line == base.mark().line);
}

TEST_CASE("yaml: duplicate keys are kept for the reader to report") {
  auto documents = load_all("a: 1\na: 2\n");
  CHECK(documents.all().front().size() == 2);
}

TEST_CASE("yaml: a syntax error carries where it is") {
  try {
    load_all("a: 1\nb: [1, 2\nc: 3\n");
    FAIL("no error");
  } catch (const ParseError& e) {
    CHECK(e.mark().line >= 1);
    CHECK(std::string(e.what()).size() > 0);
  }
}

TEST_CASE("yaml: nodes outlive a move of their documents") {
  auto documents = load_all("a: [x, y]\n");
  Node doc = documents.all().front();
  auto moved = std::move(documents);
  CHECK((*doc.begin()).second[1].text() == "y");
  CHECK(moved.all().front().is_map());
}

TEST_CASE("yaml: undefined nodes answer every question safely") {
  Node none;
  CHECK_FALSE(none.is_defined());
  CHECK(none.type() == NodeType::undefined);
  CHECK(none.text().empty());
  CHECK(none.size() == 0);
  CHECK(none.begin() == none.end());
  CHECK(none.mark().is_null());
}

TEST_CASE("yaml: a large stream of small documents") {
  std::string text;
  for (int i = 0; i < 3000; ++i) {
    text += "kind: Rule\nname: r" + std::to_string(i) + "\nexpect: [status == 200]\n---\n";
  }
  auto documents = load_all(text);
  REQUIRE(documents.all().size() == 3001);
  CHECK((*documents.all()[2999].begin()).first.mark().line == 2999 * 4);
  auto it = documents.all()[2999].begin();
  ++it;
  CHECK((*it).second.text() == "r2999");
}
