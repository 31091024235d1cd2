#include <has/report/render.hpp>

#include <doctest/doctest.h>

TEST_CASE("report: graph labels escape what would end the quoted label") {
  CHECK(has::report::mermaid_label("plan \"a\" <br/>b") == "plan #quot;a#quot; <br/>b");
  CHECK(has::report::dot_label("say \"hi\"\\now\nnext") == "say \\\"hi\\\"\\\\now\\nnext");
  CHECK(has::report::dot_label("plain") == "plain");
}

TEST_CASE("report: a table renders aligned with a header line") {
  has::report::Table table{{{"NAME"}, {"N", has::report::Align::right}}, {{"a", "1"}, {"long-name", "10"}}};
  auto text = has::report::render_text(table);
  CHECK(text.find("NAME        N\n") != std::string::npos);
  CHECK(text.find("long-name  10\n") != std::string::npos);
}
