#include <has/action/action.hpp>
#include <has/action/kinds.hpp>

#include <array>

namespace has::action {

namespace {

// The one table of action kinds: a new kind is a file and a line here.
const std::array<const Kind*, 12>& table() {
  static const std::array<const Kind*, 12> kinds{&k_exec,    &k_ssh,    &k_http,   &k_systemd,
                                                 &k_signal,  &k_wait,   &k_kubectl, &k_docker,
                                                 &k_confirm, &k_notify, &k_plan,    &k_use};
  return kinds;
}

} // namespace

const Kind* find_kind(std::string_view name) {
  for (const auto* kind : table()) {
    if (kind->name == name) {
      return kind;
    }
  }
  return nullptr;
}

std::vector<std::string_view> kind_names() {
  std::vector<std::string_view> out;
  for (const auto* kind : table()) {
    out.push_back(kind->name);
  }
  return out;
}

} // namespace has::action
