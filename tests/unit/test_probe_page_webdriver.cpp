#include <has/probe/webdriver.hpp>

#include <doctest/doctest.h>

#include <stdexcept>

using has::probe::webdriver::base64_decode;

TEST_CASE("probe page webdriver: base64 screenshots decode to their bytes") {
  CHECK(base64_decode("") == "");
  CHECK(base64_decode("TQ==") == "M");
  CHECK(base64_decode("TWE=") == "Ma");
  CHECK(base64_decode("TWFu") == "Man");
  CHECK(base64_decode("TWFu\nTWE") == "ManMa"); // line breaks and missing padding
  CHECK(base64_decode("iVBORw0KGgo=") == std::string("\x89PNG\r\n\x1a\n", 8));
  CHECK(base64_decode("/+/+") == std::string("\xff\xef\xfe", 3));
}

TEST_CASE("probe page webdriver: broken base64 is rejected") {
  CHECK_THROWS_AS(base64_decode("TW!u"), std::invalid_argument);
  CHECK_THROWS_AS(base64_decode("TQ==TQ=="), std::invalid_argument);
  CHECK_THROWS_AS(base64_decode("T"), std::invalid_argument);
}
