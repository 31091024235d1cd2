#include <has/core/version.hpp>

#include <curl/curlver.h>
#include <fmt/format.h>
#include <libxml/xmlversion.h>
#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
extern "C" {
#include <lua.h>
}

namespace has::core {

const char* version() { return HAS_VERSION; }

std::vector<std::pair<std::string, std::string>> library_versions() {
  return {
    {"Lua", LUA_VERSION_MAJOR "." LUA_VERSION_MINOR "." LUA_VERSION_RELEASE},
    {"yaml-cpp", HAS_YAML_CPP_VERSION},
    {"libcurl", LIBCURL_VERSION},
    {"nlohmann-json", fmt::format("{}.{}.{}", NLOHMANN_JSON_VERSION_MAJOR,
                                  NLOHMANN_JSON_VERSION_MINOR, NLOHMANN_JSON_VERSION_PATCH)},
    {"fmt", fmt::format("{}.{}.{}", FMT_VERSION / 10000, FMT_VERSION / 100 % 100, FMT_VERSION % 100)},
    {"libxml2", LIBXML_DOTTED_VERSION},
    {"OpenSSL", OpenSSL_version(OPENSSL_VERSION_STRING)},
  };
}

} // namespace has::core
