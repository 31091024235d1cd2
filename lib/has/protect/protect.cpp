#include <has/protect/protect.hpp>

#include <has/core/error.hpp>
#include <has/defs/units.hpp>
#include <has/state/clock.hpp>
#include <has/state/protect.hpp>
#include <has/state/store.hpp>
#include <has/util/pid.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

namespace has::protect {

namespace {

using std::chrono::milliseconds;

// Finished runs are kept at least this long, so listings have something to
// show for scopes without a rate limit.
constexpr milliseconds k_keep_finished = std::chrono::hours(24);
// Back-to-back freezes are followed this many times before giving up.
constexpr int k_freeze_hops = 64;

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

OpenRuns open_runs(state::ProtectRepository& counters, std::string_view scope, std::string_view this_host,
                   std::optional<std::int64_t> except_run) {
  OpenRuns out;
  for (const auto& run : counters.open_runs(scope, except_run)) {
    (alive_on(this_host, run.host, run.pid, run.pid_start) ? out.alive : out.dead).push_back(run.run_id);
  }
  return out;
}

// The pause that stops scope: its own, else the global one.
std::optional<Pause> pause_of(state::ProtectRepository& counters, const std::string& scope) {
  if (auto own = counters.pause(scope)) {
    return own;
  }
  return counters.pause(std::nullopt);
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
std::vector<Block> evaluate(state::ProtectRepository& repo, const defs::Protection& protection, const Request& request,
                            Clock::time_point now, std::optional<std::int64_t> run_id, OpenRuns& open) {
  std::vector<Block> blocks;
  const auto& scope = request.scope;

  if (auto pause = pause_of(repo, scope)) {
    const std::string what = pause->scope ? fmt::format("runs of {} are", scope) : std::string("all runs are");
    blocks.push_back({std::string(k_rule_paused),
                      fmt::format("{} paused since {}{}: {}", what, at_text(pause->at),
                                  pause->by ? fmt::format(" by {}", *pause->by) : std::string(), pause->reason),
                      std::nullopt});
  }

  const auto counters = repo.counters(scope);
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
    const auto starts = repo.starts_after(scope, now - per, run_id);
    const auto limit = static_cast<std::size_t>(*protection.rate_runs);
    if (starts.size() >= limit) {
      // Overridden starts can exceed the limit: wait until enough fall out.
      const auto allowed = starts[starts.size() - limit] + per;
      blocks.push_back({std::string(k_rule_rate),
                        fmt::format("at most {} {} per {}: {} started within the last {}, the oldest at {}",
                                    limit, limit == 1 ? "run" : "runs", defs::format_duration(per), starts.size(),
                                    defs::format_duration(per), at_text(starts.front())),
                        allowed});
    }
  }

  if (protection.cooldown && counters.last_finish) {
    const auto finished = *counters.last_finish;
    const auto allowed = finished + *protection.cooldown;
    if (allowed > now) {
      blocks.push_back({std::string(k_rule_cooldown),
                        fmt::format("a cooldown of {} follows every run: the last finished at {}",
                                    defs::format_duration(*protection.cooldown), at_text(finished)),
                        allowed});
    }
  }

  open = open_runs(repo, scope, request.host, run_id);
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

// The start of run_id as the counters keep it.
state::ProtectStart start_of(const defs::Protection& protection, const Request& request, std::int64_t run_id,
                             Clock::time_point now) {
  state::ProtectStart start;
  start.scope = request.scope;
  start.run_id = run_id;
  start.host = request.host;
  start.pid = request.pid;
  start.pid_start = request.pid_start;
  start.automatic = request.automatic;
  start.targets = request.targets;
  start.at = now;
  if (protection.rate_runs) {
    start.rate_window = protection.rate_window;
  }
  start.breaker_failures = protection.breaker_failures;
  // Finished runs matter only while they count towards the rate limit.
  start.forget_finished_before =
    now - std::max(protection.rate_runs ? protection.rate_window : milliseconds(0), k_keep_finished);
  return start;
}

void validate_pause_scope(const std::optional<std::string>& scope) {
  if (scope) {
    require_scope(*scope);
  }
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
  state::ProtectRepository counters(store);
  OpenRuns open;
  return decide(evaluate(counters, protection, request, now, std::nullopt, open), request);
}

Decision admit(state::Store& store, const defs::Protection& protection, const Request& request,
               std::int64_t run_id, Clock::time_point now) {
  require_scope(request.scope);
  return store.transaction([&] {
    state::ProtectRepository counters(store);
    OpenRuns open;
    auto decision = decide(evaluate(counters, protection, request, now, run_id, open), request);
    counters.close_dead(request.scope, open.dead, now);
    if (decision.allowed()) {
      counters.record_start(start_of(protection, request, run_id, now));
    }
    return decision;
  });
}

void finish(state::Store& store, const std::string& scope, std::int64_t run_id, bool succeeded,
            Clock::time_point now) {
  require_scope(scope);
  store.transaction([&] { state::ProtectRepository(store).record_finish(scope, run_id, succeeded, now); });
}

void pause(state::Store& store, std::optional<std::string> scope, std::string reason,
           std::optional<std::string> by) {
  validate_pause_scope(scope);
  store.transaction([&] {
    state::ProtectRepository(store).set_pause({std::move(scope), std::move(reason), std::move(by), Clock::now()});
  });
}

void resume(state::Store& store, std::optional<std::string> scope) {
  validate_pause_scope(scope);
  store.transaction([&] { state::ProtectRepository(store).clear_pause(scope); });
}

void reset_breaker(state::Store& store, const std::string& scope) {
  require_scope(scope);
  store.transaction([&] { state::ProtectRepository(store).close_breaker(scope); });
}

std::vector<Pause> pauses(state::Store& store) { return state::ProtectRepository(store).pauses(); }

std::vector<ScopeState> states(state::Store& store, Clock::time_point now, std::string_view this_host) {
  state::ProtectRepository counters_of(store);
  std::vector<ScopeState> out;
  for (const auto& scope : counters_of.scopes()) {
    ScopeState item;
    item.scope = scope;
    const auto counters = counters_of.counters(scope);
    item.window = counters.rate_window.value_or(k_keep_finished);
    item.starts_in_window = static_cast<int>(counters_of.starts_after(scope, now - item.window, std::nullopt).size());
    item.running = open_runs(counters_of, scope, this_host, std::nullopt).alive;
    item.last_start = counters.last_start;
    item.last_finish = counters.last_finish;
    item.last_succeeded = counters.last_succeeded;
    item.consecutive_failures = counters.consecutive_failures;
    item.breaker_failures = counters.breaker_failures;
    item.breaker_open = counters.breaker_failures && counters.consecutive_failures >= *counters.breaker_failures;
    item.paused = pause_of(counters_of, scope);
    out.push_back(std::move(item));
  }
  return out;
}

} // namespace has::protect
