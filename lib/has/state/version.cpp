#include <has/state/version.hpp>

#include <sqlite3.h>

namespace has::state {

std::pair<std::string, std::string> library_version() { return {"SQLite", sqlite3_libversion()}; }

} // namespace has::state
