#include "cli.hpp"

namespace has::cmd {

void register_diagnose(CLI::App& command, Globals& globals) {
  not_yet_available(command, globals);
}

} // namespace has::cmd
