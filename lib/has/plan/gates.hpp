#pragma once

// Gates (confirm steps): a run goes on past one only once a person
// approves. The answer comes from the journal (`has plan approve`), --yes,
// or a terminal; with nobody to ask, the gate either stays open while the
// run polls the journal for an approval until its timeout, or — without
// input (--no-input, or stdin not a terminal) — the run ends at once as
// waiting, its lock released, to be continued by `has plan approve`.

#include <has/action/action.hpp>
#include <has/plan/schedule.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace has::plan {

// Returns the answer at a gate: approved when approved_before (an approval
// in the journal, by "an earlier approval") or yes ("--yes"); else what ask
// returns when given (a person at a terminal, by user); else pending.
action::Answer answer_gate(bool approved_before, bool yes,
                           const std::function<action::Answer(const std::string& message)>& ask,
                           const std::string& message);

// The gates a run keeps open while it polls for approvals.
class Gates {
public:
  using Clock = std::chrono::steady_clock;

  // How an open gate ended.
  struct Closed {
    Launch launch;
    bool approved = false;
    std::string message;
  };

  void open(Launch launch, Clock::time_point deadline);
  bool empty() const noexcept { return m_open.empty(); }

  // Closes the gates that are decided: approved (approved(key) is true),
  // past their deadline, or every one when the run stops. Returns them in
  // the order they were opened.
  std::vector<Closed> check(const std::function<bool(const std::string& key)>& approved, bool stopping,
                            Clock::time_point now);

private:
  struct Open {
    Launch launch;
    Clock::time_point deadline;
  };
  std::vector<Open> m_open;
};

} // namespace has::plan
