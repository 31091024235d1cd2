#include <has/defs/probe_schema.hpp>

namespace has::defs {

const std::vector<ProbeSchema>& probe_schemas() {
  static const std::vector<ProbeSchema> table{
    {"http",
     {"url"},
     {"method", "headers", "body", "timeout", "verify_tls", "ca_file", "client_cert", "client_key",
      "follow_redirects", "max_redirects", "max_body", "expect_status"}},
    {"tcp", {"port"}, {"host", "timeout", "send", "expect"}},
    {"dns", {"name"}, {"type", "server", "expect", "timeout"}},
    {"exec", {}, {"command", "shell", "env", "cwd", "timeout", "max_output"}},
    {"system", {}, {"disk", "memory", "load", "process", "zombies", "file", "cert", "fds", "timeout"}},
    {"page",
     {"url"},
     {"engine", "expect_text", "expect_element", "login", "cookies", "steps", "timeout",
      "screenshot", "verify_tls"}},
    {"container", {"image"}, {"engine", "args", "env", "timeout", "pull"}},
    {"sql", {"query"}, {"driver", "dsn", "database", "timeout"}},
    {"prometheus", {"url", "query"}, {"timeout", "headers"}},
  };
  return table;
}

const ProbeSchema* find_probe_schema(std::string_view kind) {
  for (const auto& schema : probe_schemas()) {
    if (schema.kind == kind) {
      return &schema;
    }
  }
  return nullptr;
}

} // namespace has::defs
