// confirm: a gate. The run goes on once a person approves: an approval in
// the journal (`has plan approve RUN STEP`), --yes, or an answer at the
// terminal. Nobody to ask (no terminal, --no-input) leaves it pending, and
// the engine either keeps the gate open or ends the run as waiting.

#include <has/action/kinds.hpp>
#include <has/action/support.hpp>

#include <fmt/format.h>

namespace has::action {

namespace {

std::string message_of(const Spec& spec) {
  auto text = text_field(spec, "message", false);
  return text.empty() ? std::string("continue?") : text;
}

std::string describe(const Spec& spec, const Context&) { return "confirm: " + message_of(spec); }

Outcome run(const Spec& spec, const Context& context) {
  Outcome outcome;
  auto answer = context.approve ? context.approve(message_of(spec)) : Answer{};
  switch (answer.verdict) {
  case Answer::Verdict::approved:
    outcome.ok = true;
    outcome.message = "approved by " + answer.by;
    outcome.outputs = {{"approved_by", answer.by}};
    break;
  case Answer::Verdict::rejected:
    outcome.message = answer.by.empty() ? std::string("rejected by the operator") : "rejected by " + answer.by;
    break;
  case Answer::Verdict::pending:
    outcome.pending = true;
    outcome.message = message_of(spec);
    break;
  }
  return outcome;
}

} // namespace

// A gate waits for a person, not for a program: 15 minutes unless the step
// says otherwise (has.yaml defaults.gate_timeout).
const Kind k_confirm{"confirm", describe, run, Flow::gate, nullptr, false, std::chrono::minutes(15)};

} // namespace has::action
