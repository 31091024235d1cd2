#include <has/defs/action_schema.hpp>

namespace has::defs {

const std::vector<ActionSchema>& action_schemas() {
  static const std::vector<ActionSchema> table{
    {"exec", {}, {"command", "shell", "env", "cwd", "stdin", "max_output"},
     "run a local program by argv (a shell only with 'shell:')"},
    {"ssh", {"host"},
     {"command", "script", "user", "port", "identity", "host_key", "known_hosts", "options", "stdin",
      "max_output"},
     "run a command on a remote host through the OpenSSH client"},
    {"http", {"url"},
     {"method", "headers", "body", "json", "verify_tls", "ca_file", "client_cert", "client_key",
      "follow_redirects", "max_body"},
     "call an HTTP API; success by expectation (default: a 2xx status)"},
    {"systemd", {"unit", "action"}, {"host", "user_unit"},
     "start, stop, restart or reload a systemd unit, or check it is active"},
    {"signal", {}, {"signal", "pid", "pidfile", "process"},
     "send a signal to a process by pid, pid file or name"},
    {"wait", {}, {"rule", "target", "probe", "condition", "expect", "interval"},
     "poll a rule, a probe or a condition until it passes or the step times out"},
    {"confirm", {}, {"message"}, "wait for a human to approve"},
    {"notify", {"notifier", "text"}, {"title", "severity"}, "send a message through a notifier"},
    {"plan", {"name"}, {"params"}, "run another plan with parameters"},
    {"kubectl", {"args"}, {"context", "namespace", "kubeconfig", "stdin"},
     "run kubectl with the right context and namespace"},
    {"docker", {"args"}, {"engine", "host"}, "run docker (or podman) with arguments"},
  };
  return table;
}

const ActionSchema* find_action_schema(std::string_view kind) {
  for (const auto& schema : action_schemas()) {
    if (schema.kind == kind) {
      return &schema;
    }
  }
  return nullptr;
}

} // namespace has::defs
