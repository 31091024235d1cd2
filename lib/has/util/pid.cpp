#include <has/util/pid.hpp>

#include <cerrno>
#include <fstream>
#include <signal.h>
#include <sstream>

namespace has::util {

std::optional<std::string> process_start_id(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!in || !std::getline(in, line)) {
    return std::nullopt;
  }
  // The command name (field 2) is in parentheses and may hold spaces.
  auto close = line.rfind(')');
  if (close == std::string::npos) {
    return std::nullopt;
  }
  std::istringstream fields(line.substr(close + 2));
  std::string field;
  // Fields from 3 on; starttime is field 22.
  for (int index = 3; fields >> field; ++index) {
    if (index == 22) {
      return field;
    }
  }
  return std::nullopt;
}

bool process_alive(pid_t pid, const std::optional<std::string>& start_id) {
  if (pid <= 0) {
    return false;
  }
  if (::kill(pid, 0) != 0 && errno == ESRCH) {
    return false;
  }
  // A process that ended but was not reaped yet still answers kill(2).
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (in && std::getline(in, line)) {
    auto close = line.rfind(')');
    if (close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z') {
      return false;
    }
  }
  if (start_id) {
    auto now = process_start_id(pid);
    if (now && *now != *start_id) {
      return false;
    }
  }
  return true;
}

} // namespace has::util
