#include "cli.hpp"

namespace has::cmd {

void register_inspect(CLI::App& command, Globals& globals) {
  not_yet_available(command, globals);
}

} // namespace has::cmd
