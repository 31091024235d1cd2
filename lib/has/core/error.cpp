#include <has/core/error.hpp>

namespace has::core {

Error::Error(ExitCode code, std::string what, std::string reason, std::string help)
  : std::runtime_error(std::move(what)), m_code(code), m_reason(std::move(reason)),
    m_help(std::move(help)) {}

std::string Error::render() const {
  std::string out = what();
  if (!m_reason.empty()) {
    out += "\n  reason: " + m_reason;
  }
  if (!m_help.empty()) {
    out += "\n  help: " + m_help;
  }
  return out;
}

} // namespace has::core
