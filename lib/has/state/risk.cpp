#include <has/state/risk.hpp>

#include <has/state/store.hpp>

namespace has::state {

std::optional<std::int64_t> last_plan_run_for_event(Store& store, std::int64_t event_id, std::string_view plan) {
  auto query = store.connection().prepare(
    "SELECT max(run_id) FROM plan_runs WHERE event_id = ? AND plan = ? AND parent_run IS NULL");
  query.bind(1, event_id).bind(2, plan);
  query.step();
  return query.column_optional_int64(0);
}

} // namespace has::state
