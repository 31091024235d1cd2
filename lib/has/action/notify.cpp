// notify: sends a message through a notifier of has.yaml (a chat robot,
// a webhook, email) and succeeds when the service accepted it.

#include <has/action/kinds.hpp>
#include <has/action/support.hpp>
#include <has/core/error.hpp>
#include <has/notify/deliver.hpp>
#include <has/probe/probe.hpp>

#include <fmt/format.h>

namespace has::action {

namespace {

const defs::NotifierConfig& notifier_of(const Spec& spec, const Context& context) {
  auto name = text_field(spec, "notifier");
  if (context.definitions != nullptr) {
    for (const auto& candidate : context.definitions->config.notifiers) {
      if (candidate.name == name) {
        return candidate;
      }
    }
  }
  throw core::Error(core::ExitCode::bad_definitions, fmt::format("no notifier named '{}' in has.yaml", name));
}

// The title when the step gives none: the plan and run it comes from.
std::string default_title(const Context& context) {
  return context.plan.empty() ? std::string("has") : fmt::format("plan {} (run {})", context.plan, context.run_id);
}

std::string describe(const Spec& spec, const Context&) {
  return fmt::format("notify {}: {}", text_field(spec, "notifier"), text_field(spec, "text", false));
}

Outcome run(const Spec& spec, const Context& context) {
  const auto& config = notifier_of(spec, context);
  notify::Message message;
  auto title = text_field(spec, "title", false);
  message.title = title.empty() ? default_title(context) : title;
  message.text = text_field(spec, "text", false);
  auto severity = text_field(spec, "severity", false);
  message.status = probe::parse_status(severity.empty() ? "warning" : severity).value_or(probe::Status::warning);
  notify::SystemClock clock;
  auto sent = notify::send_now(config, message, clock);
  Outcome outcome;
  outcome.ok = sent.ok;
  outcome.message = sent.ok ? fmt::format("{} accepted the message", config.name)
                            : fmt::format("{}: {}", config.name, sent.error);
  outcome.outputs = {{"http_status", sent.http_status}, {"body", sent.body}};
  return outcome;
}

} // namespace

const Kind k_notify{"notify", describe, run};

} // namespace has::action
