#include <has/protect/protect.hpp>

#include <has/core/error.hpp>
#include <has/defs/units.hpp>
#include <has/state/clock.hpp>
#include <has/state/store.hpp>
#include <has/util/pid.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <set>

namespace has::protect {

namespace {

using std::chrono::milliseconds;

// Finished runs are kept at least this long, so listings have something to
// show for scopes without a rate limit.
constexpr milliseconds k_keep_finished = std::chrono::hours(24);
// Back-to-back freezes are followed this many times before giving up.
constexpr int k_freeze_hops = 64;

std::int64_t to_ms(Clock::time_point time) {
  return std::chrono::duration_cast<milliseconds>(time.time_since_epoch()).count();
}

Clock::time_point from_ms(std::int64_t ms) {
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(milliseconds(ms)));
}

std::string at_text(Clock::time_point time) { return state::format_iso8601(time); }

void require_scope(std::string_view scope) {
  if (scope.empty()) {
    throw core::Error(core::ExitCode::usage, "protection rules need a scope",
                      "the scope names what the counters are kept for", "pass a scope such as \"plan:NAME\"");
  }
}

bool alive_on(std::string_view this_host, std::string_view host, std::int64_t pid,
              const std::optional<std::string>& pid_start) {
  // Another host's processes cannot be checked from here; they count as alive.
  return host != this_host || util::process_alive(static_cast<pid_t>(pid), pid_start);
}

// The open runs of a scope, split by whether their process still lives.
struct OpenRuns {
  std::vector<std::int64_t> alive;
  std::vector<std::int64_t> dead;
};

OpenRuns open_runs(state::Connection& db, std::string_view scope, std::string_view this_host,
                   std::optional<std::int64_t> except_run) {
  auto query = db.prepare("SELECT run_id, host, pid, pid_start FROM protect_runs "
                          "WHERE scope = ?1 AND finished_ms IS NULL AND (?2 IS NULL OR run_id != ?2) "
                          "ORDER BY run_id");
  query.bind(1, scope).bind(2, except_run);
  OpenRuns out;
  while (query.step()) {
    const auto run_id = query.column_int64(0);
    if (alive_on(this_host, query.column_text(1), query.column_int64(2), query.column_optional_text(3))) {
      out.alive.push_back(run_id);
    } else {
      out.dead.push_back(run_id);
    }
  }
  return out;
}

std::optional<Pause> read_pause(state::Connection& db, std::string_view key) {
  auto query = db.prepare("SELECT reason, by_user, at_ms FROM protect_pauses WHERE scope = ?");
  query.bind(1, key);
  if (!query.step()) {
    return std::nullopt;
  }
  Pause pause;
  if (!key.empty()) {
    pause.scope = std::string(key);
  }
  pause.reason = query.column_text(0);
  pause.by = query.column_optional_text(1);
  pause.at = from_ms(query.column_int64(2));
  return pause;
}

// The pause that stops scope: its own, else the global one.
std::optional<Pause> pause_of(state::Connection& db, std::string_view scope) {
  if (auto own = read_pause(db, scope)) {
    return own;
  }
  return read_pause(db, "");
}

struct Counters {
  std::optional<std::int64_t> last_start_ms;
  std::optional<std::int64_t> last_finish_ms;
  std::optional<bool> last_succeeded;
  int consecutive_failures = 0;
  std::optional<std::int64_t> rate_window_ms;
  std::optional<int> breaker_failures;
};

Counters read_counters(state::Connection& db, std::string_view scope) {
  auto query = db.prepare("SELECT last_start_ms, last_finish_ms, last_succeeded, consecutive_failures, "
                          "rate_window_ms, breaker_failures FROM protect_scopes WHERE scope = ?");
  query.bind(1, scope);
  Counters out;
  if (query.step()) {
    out.last_start_ms = query.column_optional_int64(0);
    out.last_finish_ms = query.column_optional_int64(1);
    if (auto value = query.column_optional_int64(2)) {
      out.last_succeeded = *value != 0;
    }
    out.consecutive_failures = static_cast<int>(query.column_int64(3));
    out.rate_window_ms = query.column_optional_int64(4);
    if (auto value = query.column_optional_int64(5)) {
      out.breaker_failures = static_cast<int>(*value);
    }
  }
  return out;
}

// Start times (ms) of the scope's runs after since_ms, oldest first.
std::vector<std::int64_t> starts_after(state::Connection& db, std::string_view scope, std::int64_t since_ms,
                                       std::optional<std::int64_t> except_run) {
  auto query = db.prepare("SELECT started_ms FROM protect_runs WHERE scope = ?1 AND started_ms > ?2 "
                          "AND (?3 IS NULL OR run_id != ?3) ORDER BY started_ms");
  query.bind(1, scope).bind(2, since_ms).bind(3, except_run);
  std::vector<std::int64_t> out;
  while (query.step()) {
    out.push_back(query.column_int64(0));
  }
  return out;
}

void ensure_scope_row(state::Connection& db, std::string_view scope) {
  auto insert = db.prepare("INSERT OR IGNORE INTO protect_scopes (scope) VALUES (?)");
  insert.bind(1, scope);
  insert.step();
}

std::string run_list(const std::vector<std::int64_t>& runs) {
  return fmt::format("{} {} still running", runs.size() == 1 ? "run" : "runs", fmt::join(runs, ", "));
}

// When no freeze is in force any more, following freezes that end inside
// one another; nullopt if one never ends.
std::optional<Clock::time_point> freezes_end(const std::vector<defs::TimeWindow>& freezes, Clock::time_point now) {
  auto at = now;
  for (int hop = 0; hop < k_freeze_hops; ++hop) {
    std::optional<Clock::time_point> latest;
    bool any = false;
    for (const auto& freeze : freezes) {
      if (!freeze.active(at)) {
        continue;
      }
      any = true;
      auto end = freeze.next_change(at);
      if (!end) {
        return std::nullopt;
      }
      latest = latest ? std::max(*latest, *end) : *end;
    }
    if (!any) {
      return at;
    }
    at = *latest;
  }
  return std::nullopt;
}

// Every rule's verdict, in the order an operator reads them: what needs a
// person first, then the calendar, then the counters.
std::vector<Block> evaluate(state::Connection& db, const defs::Protection& protection, const Request& request,
                            Clock::time_point now, std::optional<std::int64_t> run_id, OpenRuns& open) {
  std::vector<Block> blocks;
  const auto& scope = request.scope;

  if (auto pause = pause_of(db, scope)) {
    const std::string what = pause->scope ? fmt::format("runs of {} are", scope) : std::string("all runs are");
    blocks.push_back({std::string(k_rule_paused),
                      fmt::format("{} paused since {}{}: {}", what, at_text(pause->at),
                                  pause->by ? fmt::format(" by {}", *pause->by) : std::string(), pause->reason),
                      std::nullopt});
  }

  const auto counters = read_counters(db, scope);
  if (protection.breaker_failures && request.automatic &&
      counters.consecutive_failures >= *protection.breaker_failures) {
    blocks.push_back({std::string(k_rule_breaker),
                      fmt::format("the circuit breaker is open: the last {} runs failed (it opens after {}); "
                                  "automatic runs stay stopped until someone resets it",
                                  counters.consecutive_failures, *protection.breaker_failures),
                      std::nullopt});
  }

  if (std::any_of(protection.freezes.begin(), protection.freezes.end(),
                  [&](const defs::TimeWindow& freeze) { return freeze.active(now); })) {
    auto end = freezes_end(protection.freezes, now);
    blocks.push_back({std::string(k_rule_freeze),
                      end ? fmt::format("a change freeze is in force until {}", at_text(*end))
                          : std::string("a change freeze is in force with no end in sight"),
                      end});
  }

  if (!protection.windows.empty() &&
      std::none_of(protection.windows.begin(), protection.windows.end(),
                   [&](const defs::TimeWindow& window) { return window.active(now); })) {
    std::optional<Clock::time_point> opens;
    for (const auto& window : protection.windows) {
      if (auto next = window.next_change(now)) {
        opens = opens ? std::min(*opens, *next) : *next;
      }
    }
    blocks.push_back({std::string(k_rule_window),
                      opens ? fmt::format("runs may start only inside their windows; the next opens at {}",
                                          at_text(*opens))
                            : std::string("runs may start only inside their windows; none opens within the next "
                                          "8 days"),
                      opens});
  }

  if (protection.rate_runs) {
    const auto per = protection.rate_window;
    const auto starts = starts_after(db, scope, to_ms(now - per), run_id);
    const auto limit = static_cast<std::size_t>(*protection.rate_runs);
    if (starts.size() >= limit) {
      // Overridden starts can exceed the limit: wait until enough fall out.
      const auto allowed = from_ms(starts[starts.size() - limit]) + per;
      blocks.push_back({std::string(k_rule_rate),
                        fmt::format("at most {} {} per {}: {} started within the last {}, the oldest at {}",
                                    limit, limit == 1 ? "run" : "runs", defs::format_duration(per), starts.size(),
                                    defs::format_duration(per), at_text(from_ms(starts.front()))),
                        allowed});
    }
  }

  if (protection.cooldown && counters.last_finish_ms) {
    const auto finished = from_ms(*counters.last_finish_ms);
    const auto allowed = finished + *protection.cooldown;
    if (allowed > now) {
      blocks.push_back({std::string(k_rule_cooldown),
                        fmt::format("a cooldown of {} follows every run: the last finished at {}",
                                    defs::format_duration(*protection.cooldown), at_text(finished)),
                        allowed});
    }
  }

  open = open_runs(db, scope, request.host, run_id);
  if (protection.max_concurrent &&
      open.alive.size() >= static_cast<std::size_t>(*protection.max_concurrent)) {
    blocks.push_back({std::string(k_rule_concurrency),
                      fmt::format("at most {} {} at once: {}", *protection.max_concurrent,
                                  *protection.max_concurrent == 1 ? "run" : "runs", run_list(open.alive)),
                      std::nullopt});
  }

  if (protection.blast_radius && request.targets > *protection.blast_radius) {
    blocks.push_back({std::string(k_rule_blast_radius),
                      fmt::format("the run would touch {} targets; at most {} are allowed", request.targets,
                                  *protection.blast_radius),
                      std::nullopt});
  }
  return blocks;
}

Decision decide(std::vector<Block> blocks, const Request& request) {
  Decision decision;
  for (auto& block : blocks) {
    const bool overridden = !request.automatic && std::find(request.overrides.begin(), request.overrides.end(),
                                                            block.rule) != request.overrides.end();
    (overridden ? decision.overridden : decision.blocks).push_back(std::move(block));
  }
  return decision;
}

void record_start(state::Connection& db, const defs::Protection& protection, const Request& request,
                  std::int64_t run_id, Clock::time_point now) {
  // A resumed run keeps its first start: it is not a new one.
  auto upsert = db.prepare(
    "INSERT INTO protect_runs (scope, run_id, host, pid, pid_start, automatic, targets, started_ms) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (scope, run_id) DO UPDATE SET host = excluded.host, pid = excluded.pid, "
    "pid_start = excluded.pid_start, automatic = excluded.automatic, targets = excluded.targets, "
    "finished_ms = NULL, outcome = NULL");
  upsert.bind(1, request.scope).bind(2, run_id).bind(3, request.host).bind(4, request.pid);
  upsert.bind(5, request.pid_start).bind(6, request.automatic).bind(7, request.targets).bind(8, to_ms(now));
  upsert.step();

  ensure_scope_row(db, request.scope);
  auto update = db.prepare("UPDATE protect_scopes SET last_start_ms = ?, rate_window_ms = ?, breaker_failures = ? "
                           "WHERE scope = ?");
  update.bind(1, to_ms(now));
  update.bind(2, protection.rate_runs ? std::optional<std::int64_t>(protection.rate_window.count()) : std::nullopt);
  update.bind(3, protection.breaker_failures).bind(4, request.scope);
  update.step();

  // Finished runs matter only while they count towards the rate limit.
  const auto keep = std::max(protection.rate_runs ? protection.rate_window : milliseconds(0), k_keep_finished);
  auto prune = db.prepare("DELETE FROM protect_runs WHERE scope = ? AND finished_ms IS NOT NULL AND started_ms <= ?");
  prune.bind(1, request.scope).bind(2, to_ms(now - keep));
  prune.step();
}

void close_dead(state::Connection& db, std::string_view scope, const std::vector<std::int64_t>& dead,
                Clock::time_point now) {
  auto close = db.prepare("UPDATE protect_runs SET finished_ms = ?, outcome = 'died' "
                          "WHERE scope = ? AND run_id = ? AND finished_ms IS NULL");
  for (const auto run : dead) {
    close.reset();
    close.bind(1, to_ms(now)).bind(2, scope).bind(3, run);
    close.step();
  }
}

std::string pause_key(const std::optional<std::string>& scope) {
  if (scope) {
    require_scope(*scope);
    return *scope;
  }
  return {};
}

} // namespace

std::optional<Clock::time_point> Decision::allowed_at() const {
  if (blocks.empty()) {
    return std::nullopt;
  }
  std::optional<Clock::time_point> latest;
  for (const auto& block : blocks) {
    if (!block.allowed_at) {
      return std::nullopt;
    }
    latest = latest ? std::max(*latest, *block.allowed_at) : *block.allowed_at;
  }
  return latest;
}

Decision check(state::Store& store, const defs::Protection& protection, const Request& request,
               Clock::time_point now) {
  require_scope(request.scope);
  OpenRuns open;
  return decide(evaluate(store.connection(), protection, request, now, std::nullopt, open), request);
}

Decision admit(state::Store& store, const defs::Protection& protection, const Request& request,
               std::int64_t run_id, Clock::time_point now) {
  require_scope(request.scope);
  return store.transaction([&] {
    auto& db = store.connection();
    OpenRuns open;
    auto decision = decide(evaluate(db, protection, request, now, run_id, open), request);
    close_dead(db, request.scope, open.dead, now);
    if (decision.allowed()) {
      record_start(db, protection, request, run_id, now);
    }
    return decision;
  });
}

void finish(state::Store& store, const std::string& scope, std::int64_t run_id, bool succeeded,
            Clock::time_point now) {
  require_scope(scope);
  store.transaction([&] {
    auto& db = store.connection();
    auto outcome = db.prepare("SELECT outcome FROM protect_runs WHERE scope = ? AND run_id = ?");
    outcome.bind(1, scope).bind(2, run_id);
    if (outcome.step()) {
      const auto previous = outcome.column_optional_text(0);
      if (previous && *previous != "died") {
        return; // already counted
      }
    }
    auto close = db.prepare("UPDATE protect_runs SET finished_ms = ?, outcome = ? WHERE scope = ? AND run_id = ?");
    close.bind(1, to_ms(now)).bind(2, succeeded ? "succeeded" : "failed").bind(3, scope).bind(4, run_id);
    close.step();

    ensure_scope_row(db, scope);
    auto update = db.prepare(
      "UPDATE protect_scopes SET last_finish_ms = max(coalesce(last_finish_ms, ?1), ?1), last_succeeded = ?2, "
      "consecutive_failures = CASE WHEN ?2 THEN 0 ELSE consecutive_failures + 1 END WHERE scope = ?3");
    update.bind(1, to_ms(now)).bind(2, succeeded).bind(3, scope);
    update.step();
  });
}

void pause(state::Store& store, std::optional<std::string> scope, std::string reason,
           std::optional<std::string> by) {
  const auto key = pause_key(scope);
  store.transaction([&] {
    auto upsert = store.connection().prepare(
      "INSERT INTO protect_pauses (scope, reason, by_user, at_ms) VALUES (?, ?, ?, ?) "
      "ON CONFLICT (scope) DO UPDATE SET reason = excluded.reason, by_user = excluded.by_user, "
      "at_ms = excluded.at_ms");
    upsert.bind(1, key).bind(2, reason).bind(3, by).bind(4, to_ms(Clock::now()));
    upsert.step();
  });
}

void resume(state::Store& store, std::optional<std::string> scope) {
  const auto key = pause_key(scope);
  store.transaction([&] {
    auto remove = store.connection().prepare("DELETE FROM protect_pauses WHERE scope = ?");
    remove.bind(1, key);
    remove.step();
  });
}

void reset_breaker(state::Store& store, const std::string& scope) {
  require_scope(scope);
  store.transaction([&] {
    auto update = store.connection().prepare("UPDATE protect_scopes SET consecutive_failures = 0 WHERE scope = ?");
    update.bind(1, scope);
    update.step();
  });
}

std::vector<Pause> pauses(state::Store& store) {
  auto& db = store.connection();
  auto query = db.prepare("SELECT scope FROM protect_pauses ORDER BY scope");
  std::vector<Pause> out;
  while (query.step()) {
    if (auto pause = read_pause(db, query.column_text(0))) {
      out.push_back(std::move(*pause));
    }
  }
  return out;
}

std::vector<ScopeState> states(state::Store& store, Clock::time_point now, std::string_view this_host) {
  auto& db = store.connection();
  std::set<std::string> scopes;
  auto names = db.prepare("SELECT scope FROM protect_scopes UNION SELECT scope FROM protect_runs "
                          "UNION SELECT scope FROM protect_pauses WHERE scope != ''");
  while (names.step()) {
    scopes.insert(names.column_text(0));
  }
  std::vector<ScopeState> out;
  for (const auto& scope : scopes) {
    ScopeState item;
    item.scope = scope;
    const auto counters = read_counters(db, scope);
    item.window = counters.rate_window_ms ? milliseconds(*counters.rate_window_ms) : k_keep_finished;
    item.starts_in_window = static_cast<int>(starts_after(db, scope, to_ms(now - item.window), std::nullopt).size());
    item.running = open_runs(db, scope, this_host, std::nullopt).alive;
    if (counters.last_start_ms) {
      item.last_start = from_ms(*counters.last_start_ms);
    }
    if (counters.last_finish_ms) {
      item.last_finish = from_ms(*counters.last_finish_ms);
    }
    item.last_succeeded = counters.last_succeeded;
    item.consecutive_failures = counters.consecutive_failures;
    item.breaker_failures = counters.breaker_failures;
    item.breaker_open = counters.breaker_failures && counters.consecutive_failures >= *counters.breaker_failures;
    item.paused = pause_of(db, scope);
    out.push_back(std::move(item));
  }
  return out;
}

} // namespace has::protect
