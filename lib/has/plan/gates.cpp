#include <has/plan/gates.hpp>

namespace has::plan {

action::Answer answer_gate(bool approved_before, bool yes,
                           const std::function<action::Answer(const std::string& message)>& ask,
                           const std::string& message) {
  if (approved_before) {
    return {action::Answer::Verdict::approved, "an earlier approval"};
  }
  if (yes) {
    return {action::Answer::Verdict::approved, "--yes"};
  }
  if (ask) {
    return ask(message);
  }
  return {};
}

void Gates::open(Launch launch, Clock::time_point deadline) { m_open.push_back({std::move(launch), deadline}); }

std::vector<Gates::Closed> Gates::check(const std::function<bool(const std::string& key)>& approved, bool stopping,
                                        Clock::time_point now) {
  std::vector<Closed> out;
  for (auto it = m_open.begin(); it != m_open.end();) {
    Closed closed{it->launch, false, {}};
    if (approved(it->launch.unit.key)) {
      closed.approved = true;
      closed.message = "approved with `has plan approve`";
    } else if (stopping) {
      closed.message = "not approved before the run stopped";
    } else if (now > it->deadline) {
      closed.message = "not approved in time";
    } else {
      ++it;
      continue;
    }
    out.push_back(std::move(closed));
    it = m_open.erase(it);
  }
  return out;
}

} // namespace has::plan
