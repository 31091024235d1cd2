#include <has/state/migrations.hpp>

#include <has/core/log.hpp>
#include <has/state/store.hpp>

#include <fmt/format.h>

#include <iterator>
#include <string>

namespace has::state {

namespace {

constexpr Migration k_migrations[] = {
  {1, "runs and meta", R"sql(
CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value TEXT
);

CREATE TABLE runs (
  id INTEGER PRIMARY KEY,
  command TEXT NOT NULL,
  name TEXT NOT NULL DEFAULT '',
  started_at TEXT NOT NULL,
  finished_at TEXT,
  status TEXT NOT NULL CHECK (status IN
    ('running', 'ok', 'warning', 'critical', 'unknown', 'failed', 'interrupted')),
  exit_code INTEGER,
  host TEXT,
  user TEXT,
  pid INTEGER,
  workspace TEXT,
  git_commit TEXT,
  git_dirty INTEGER CHECK (git_dirty IN (0, 1)),
  summary TEXT CHECK (summary IS NULL OR json_valid(summary))
);

CREATE INDEX runs_command_started_at ON runs (command, started_at);
)sql"},
  {2, "inspection results, rule state and risk events", R"sql(
CREATE TABLE inspect_results (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  rule TEXT NOT NULL,
  target TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('ok', 'warning', 'critical', 'unknown')),
  raw_status TEXT NOT NULL CHECK (raw_status IN ('ok', 'warning', 'critical', 'unknown')),
  muted INTEGER NOT NULL DEFAULT 0 CHECK (muted IN (0, 1)),
  flapping INTEGER NOT NULL DEFAULT 0 CHECK (flapping IN (0, 1)),
  message TEXT NOT NULL DEFAULT '',
  detail TEXT,        -- JSON, written by has only (no json_valid check: it
  values_json TEXT,   -- would parse every row of a 5,000-check run again)
  evidence TEXT,
  elapsed_ms REAL NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 1,
  at TEXT NOT NULL
);
CREATE INDEX inspect_results_rule_at ON inspect_results (rule, target, at);
CREATE INDEX inspect_results_run ON inspect_results (run_id);

-- The hysteresis of each rule on each target, across runs.
CREATE TABLE inspect_state (
  rule TEXT NOT NULL,
  target TEXT NOT NULL,
  effective TEXT NOT NULL CHECK (effective IN ('ok', 'warning', 'critical', 'unknown')),
  fail_streak INTEGER NOT NULL DEFAULT 0,
  ok_streak INTEGER NOT NULL DEFAULT 0,
  history TEXT NOT NULL DEFAULT '',
  flapping INTEGER NOT NULL DEFAULT 0 CHECK (flapping IN (0, 1)),
  last_raw TEXT,
  last_message TEXT,
  changed_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (rule, target)
);

-- Risk events; one open event per fingerprint: the same problem seen again
-- bumps its count.
CREATE TABLE events (
  id INTEGER PRIMARY KEY,
  fingerprint TEXT NOT NULL,
  source TEXT NOT NULL,
  title TEXT NOT NULL,
  severity TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
  count INTEGER NOT NULL DEFAULT 1,
  labels TEXT CHECK (labels IS NULL OR json_valid(labels)),
  message TEXT,
  first_seen TEXT NOT NULL,
  last_seen TEXT NOT NULL,
  resolved_at TEXT
);
CREATE UNIQUE INDEX events_open_fingerprint ON events (fingerprint) WHERE status = 'open';
CREATE INDEX events_status ON events (status, last_seen);
)sql"},
  {3, "notification outbox and notifier rate budgets", R"sql(
-- Every notification is written here before it is sent, so a crash or an
-- unreachable service loses nothing. payload is the message itself (title,
-- Markdown text, status, link), never the signed request: secrets are
-- resolved only when sending. 'sending' rows are claimed by one process until
-- next_attempt_at (a lease); one whose lease ran out is due again.
CREATE TABLE outbox (
  id INTEGER PRIMARY KEY,
  notifier TEXT NOT NULL,
  dedup_key TEXT NOT NULL,
  payload TEXT NOT NULL CHECK (json_valid(payload)),
  status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at TEXT NOT NULL,
  last_error TEXT,
  last_http_status INTEGER,
  created_at TEXT NOT NULL,
  sent_at TEXT
);
CREATE UNIQUE INDEX outbox_notifier_key ON outbox (notifier, dedup_key);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

-- Requests made to each notifier (Unix milliseconds), so that separate
-- processes share the service's rate limits.
CREATE TABLE notify_sends (
  notifier TEXT NOT NULL,
  at_ms INTEGER NOT NULL
);
CREATE INDEX notify_sends_notifier_at ON notify_sends (notifier, at_ms);

-- A notifier the service asked to slow down (HTTP 429, a rate-limit error
-- code): nothing is sent to it before until_ms.
CREATE TABLE notify_blocks (
  notifier TEXT PRIMARY KEY,
  until_ms INTEGER NOT NULL,
  reason TEXT
);
)sql"},
  {4, "plan journal, approvals, overrides and locks", R"sql(
-- One row per plan run (the run itself is in runs). params holds the values
-- with secrets replaced; state says where the run is.
CREATE TABLE plan_runs (
  run_id INTEGER PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
  plan TEXT NOT NULL,
  params TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(params)),
  state TEXT NOT NULL CHECK (state IN ('running', 'waiting', 'succeeded', 'failed', 'rolling_back',
    'rolled_back', 'rollback_failed', 'aborted', 'interrupted')),
  parent_run INTEGER REFERENCES runs (id) ON DELETE CASCADE,
  parent_step TEXT,
  event_id INTEGER,
  lock_key TEXT,
  pid_start TEXT,
  abort_requested INTEGER NOT NULL DEFAULT 0 CHECK (abort_requested IN (0, 1)),
  reason TEXT
);
CREATE INDEX plan_runs_plan ON plan_runs (plan, run_id);

-- The journal: a step's row is written before it starts (state 'running')
-- and again when it ends. phase 'undo' rows are its rollback.
CREATE TABLE plan_steps (
  run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  step TEXT NOT NULL,
  phase TEXT NOT NULL CHECK (phase IN ('do', 'undo')),
  seq INTEGER NOT NULL,
  kind TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('running', 'waiting', 'succeeded', 'failed', 'skipped',
    'interrupted')),
  idempotent INTEGER NOT NULL DEFAULT 0 CHECK (idempotent IN (0, 1)),
  attempts INTEGER NOT NULL DEFAULT 0,
  started_at TEXT,
  finished_at TEXT,
  exit_code INTEGER,
  detail TEXT,
  message TEXT,
  outputs TEXT CHECK (outputs IS NULL OR json_valid(outputs)),
  PRIMARY KEY (run_id, step, phase)
);
CREATE INDEX plan_steps_run_seq ON plan_steps (run_id, seq);

CREATE TABLE plan_approvals (
  run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  step TEXT NOT NULL,
  approved_by TEXT,
  at TEXT NOT NULL,
  PRIMARY KEY (run_id, step)
);

-- A protection rule a manual run was allowed to break, and why.
CREATE TABLE plan_overrides (
  run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  rule TEXT NOT NULL,
  reason TEXT NOT NULL,
  by_user TEXT,
  at TEXT NOT NULL
);

-- Who holds what: one row per lock key. A lock whose process is gone (same
-- host, pid not running or started at another time) is taken over.
CREATE TABLE locks (
  key TEXT PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  host TEXT NOT NULL,
  pid INTEGER NOT NULL,
  pid_start TEXT,
  acquired_at TEXT NOT NULL
);
)sql"},
  {5, "protection counters", R"sql(
-- Runs admitted under protection rules, per scope (a plan, a scenario, ...):
-- their starts count towards the rate limit, and while finished_ms is NULL
-- and the process lives they count towards max_concurrent. Times are Unix
-- milliseconds. outcome 'died': the process was gone before it finished.
CREATE TABLE protect_runs (
  scope TEXT NOT NULL,
  run_id INTEGER NOT NULL,
  host TEXT NOT NULL,
  pid INTEGER NOT NULL,
  pid_start TEXT,
  automatic INTEGER NOT NULL CHECK (automatic IN (0, 1)),
  targets INTEGER NOT NULL DEFAULT 0,
  started_ms INTEGER NOT NULL,
  finished_ms INTEGER,
  outcome TEXT CHECK (outcome IN ('succeeded', 'failed', 'died')),
  PRIMARY KEY (scope, run_id)
);
CREATE INDEX protect_runs_started ON protect_runs (scope, started_ms);

-- The counters of a scope. rate_window_ms and breaker_failures are the
-- limits in force at the last admission, for listings.
CREATE TABLE protect_scopes (
  scope TEXT PRIMARY KEY,
  last_start_ms INTEGER,
  last_finish_ms INTEGER,
  last_succeeded INTEGER CHECK (last_succeeded IN (0, 1)),
  consecutive_failures INTEGER NOT NULL DEFAULT 0,
  rate_window_ms INTEGER,
  breaker_failures INTEGER
);

-- Pauses in force: scope '' pauses every run.
CREATE TABLE protect_pauses (
  scope TEXT PRIMARY KEY,
  reason TEXT NOT NULL,
  by_user TEXT,
  at_ms INTEGER NOT NULL
);
)sql"},
  {6, "diagnosis runs", R"sql(
-- A walk of a diagnosis tree (its row in runs, command 'diagnose', holds
-- who, where, when and the exit code): how it ended, the path it took with
-- the evidence of every node, and the risk event it was run for.
CREATE TABLE diagnose_runs (
  run_id INTEGER PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
  tree TEXT NOT NULL,
  event_id INTEGER REFERENCES events (id) ON DELETE SET NULL,
  outcome TEXT NOT NULL CHECK (outcome IN ('diagnosis', 'inconclusive', 'needs_input')),
  node TEXT NOT NULL,
  severity TEXT NOT NULL CHECK (severity IN ('ok', 'warning', 'critical', 'unknown')),
  cause TEXT,
  conclusion TEXT NOT NULL CHECK (json_valid(conclusion)),
  path TEXT NOT NULL CHECK (json_valid(path))
);
CREATE INDEX diagnose_runs_tree ON diagnose_runs (tree, run_id);
CREATE INDEX diagnose_runs_event ON diagnose_runs (event_id);
)sql"},
  {7, "risk event timelines", R"sql(
-- What happened to a risk event, in order: opened, severity changed,
-- resolved, a diagnosis walked for it, a plan run for it, an operator's
-- work, the scenario that covers it and its self-healing. The triggers
-- write it, so every writer of events, diagnose_runs and plan_runs (and
-- every path through them, a resume or an abort included) adds its line.
CREATE TABLE event_timeline (
  id INTEGER PRIMARY KEY,
  event_id INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
  at TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('opened', 'severity', 'resolved', 'diagnosis', 'plan', 'acknowledged',
                                     'assigned', 'comment', 'scenario', 'heal', 'graded')),
  source TEXT NOT NULL,
  text TEXT NOT NULL,
  actor TEXT,
  run_id INTEGER REFERENCES runs (id) ON DELETE SET NULL,
  data TEXT CHECK (data IS NULL OR json_valid(data))
);
CREATE INDEX event_timeline_event ON event_timeline (event_id, at, id);

-- The run that saw the event last, or resolved it; who acknowledged it,
-- whom it is assigned to, who resolved it by hand.
ALTER TABLE events ADD COLUMN run_id INTEGER REFERENCES runs (id) ON DELETE SET NULL;
ALTER TABLE events ADD COLUMN acknowledged_by TEXT;
ALTER TABLE events ADD COLUMN acknowledged_at TEXT;
ALTER TABLE events ADD COLUMN assignee TEXT;
ALTER TABLE events ADD COLUMN resolved_by TEXT;
-- When `has risk handle` dealt with it (matched a scenario, diagnosed, healed).
ALTER TABLE events ADD COLUMN handled_at TEXT;
-- The level its scenario's grading rules gave it (P1, ...).
ALTER TABLE events ADD COLUMN level TEXT;

CREATE TRIGGER event_opened AFTER INSERT ON events BEGIN
  INSERT INTO event_timeline (event_id, at, kind, source, text, run_id)
  VALUES (NEW.id, NEW.first_seen, 'opened', NEW.source,
          printf('opened: %s (%s)', NEW.title, NEW.severity), NEW.run_id);
END;

CREATE TRIGGER event_severity AFTER UPDATE OF severity ON events
WHEN NEW.status = 'open' AND OLD.severity <> NEW.severity BEGIN
  INSERT INTO event_timeline (event_id, at, kind, source, text, run_id)
  VALUES (NEW.id, NEW.last_seen, 'severity', NEW.source,
          printf('severity %s -> %s (seen %d times)', OLD.severity, NEW.severity, NEW.count), NEW.run_id);
  -- An event that becomes critical is handled again: a scenario meant for
  -- critical events may cover it now.
  UPDATE events SET handled_at = NULL WHERE id = NEW.id AND NEW.severity = 'critical';
END;

CREATE TRIGGER event_resolved AFTER UPDATE OF status ON events
WHEN OLD.status = 'open' AND NEW.status = 'resolved' BEGIN
  INSERT INTO event_timeline (event_id, at, kind, source, text, run_id, actor)
  VALUES (NEW.id, coalesce(NEW.resolved_at, NEW.last_seen), 'resolved',
          CASE WHEN NEW.resolved_by IS NULL THEN NEW.source ELSE 'operator' END,
          CASE WHEN NEW.resolved_by IS NULL THEN 'resolved' ELSE 'resolved by ' || NEW.resolved_by END
            || printf(' (seen %d time%s)', NEW.count, CASE NEW.count WHEN 1 THEN '' ELSE 's' END),
          CASE WHEN NEW.resolved_by IS NULL THEN NEW.run_id END, NEW.resolved_by);
END;

CREATE TRIGGER event_diagnosis AFTER INSERT ON diagnose_runs
WHEN EXISTS (SELECT 1 FROM events WHERE id = NEW.event_id) BEGIN
  INSERT INTO event_timeline (event_id, at, kind, source, text, run_id, data)
  VALUES (NEW.event_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 'diagnosis', 'diagnose',
          CASE NEW.outcome
            WHEN 'diagnosis' THEN printf('tree %s: %s (%s)', NEW.tree, NEW.cause, NEW.severity)
            WHEN 'inconclusive' THEN printf('tree %s: inconclusive at node %s', NEW.tree, NEW.node)
            ELSE printf('tree %s: needs input at node %s', NEW.tree, NEW.node)
          END,
          NEW.run_id, NEW.conclusion);
END;

-- Plans called by a plan belong to their caller's line.
CREATE TRIGGER event_plan_started AFTER INSERT ON plan_runs
WHEN NEW.parent_run IS NULL AND EXISTS (SELECT 1 FROM events WHERE id = NEW.event_id) BEGIN
  INSERT INTO event_timeline (event_id, at, kind, source, text, run_id, data)
  VALUES (NEW.event_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 'plan', 'plan',
          printf('plan %s started', NEW.plan), NEW.run_id, json_object('state', NEW.state, 'params', json(NEW.params)));
END;

CREATE TRIGGER event_plan_state AFTER UPDATE OF state ON plan_runs
WHEN NEW.parent_run IS NULL AND OLD.state <> NEW.state
  AND (NEW.state IN ('succeeded', 'failed', 'rolling_back', 'rolled_back', 'rollback_failed', 'aborted',
                     'interrupted')
       OR OLD.state IN ('succeeded', 'failed', 'rolled_back', 'rollback_failed', 'aborted', 'interrupted'))
  AND EXISTS (SELECT 1 FROM events WHERE id = NEW.event_id) BEGIN
  INSERT INTO event_timeline (event_id, at, kind, source, text, run_id, data)
  VALUES (NEW.event_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 'plan', 'plan',
          CASE
            WHEN NEW.state = 'rolling_back' THEN printf('plan %s rolling back', NEW.plan)
            WHEN NEW.state IN ('running', 'waiting')
              THEN printf('plan %s resumed after it had %s', NEW.plan, replace(OLD.state, '_', ' '))
            ELSE printf('plan %s %s', NEW.plan, replace(NEW.state, '_', ' '))
                 || CASE WHEN NEW.reason IS NULL OR NEW.reason = '' THEN '' ELSE ': ' || NEW.reason END
          END,
          NEW.run_id, json_object('state', NEW.state, 'previous', OLD.state));
END;

-- What happened before this migration, from the tables that recorded it.
INSERT INTO event_timeline (event_id, at, kind, source, text)
  SELECT id, first_seen, 'opened', source, printf('opened: %s (%s)', title, severity) FROM events;
INSERT INTO event_timeline (event_id, at, kind, source, text, run_id, data)
  SELECT d.event_id, coalesce(r.finished_at, r.started_at), 'diagnosis', 'diagnose',
         CASE d.outcome
           WHEN 'diagnosis' THEN printf('tree %s: %s (%s)', d.tree, d.cause, d.severity)
           WHEN 'inconclusive' THEN printf('tree %s: inconclusive at node %s', d.tree, d.node)
           ELSE printf('tree %s: needs input at node %s', d.tree, d.node)
         END,
         d.run_id, d.conclusion
  FROM diagnose_runs d JOIN runs r ON r.id = d.run_id JOIN events e ON e.id = d.event_id;
INSERT INTO event_timeline (event_id, at, kind, source, text, run_id, data)
  SELECT p.event_id, r.started_at, 'plan', 'plan', printf('plan %s started', p.plan), p.run_id,
         json_object('state', 'running', 'params', json(p.params))
  FROM plan_runs p JOIN runs r ON r.id = p.run_id JOIN events e ON e.id = p.event_id
  WHERE p.parent_run IS NULL;
INSERT INTO event_timeline (event_id, at, kind, source, text, run_id, data)
  SELECT p.event_id, r.finished_at, 'plan', 'plan',
         printf('plan %s %s', p.plan, replace(p.state, '_', ' '))
           || CASE WHEN p.reason IS NULL OR p.reason = '' THEN '' ELSE ': ' || p.reason END,
         p.run_id, json_object('state', p.state)
  FROM plan_runs p JOIN runs r ON r.id = p.run_id JOIN events e ON e.id = p.event_id
  WHERE p.parent_run IS NULL AND r.finished_at IS NOT NULL
    AND p.state IN ('succeeded', 'failed', 'rolled_back', 'rollback_failed', 'aborted', 'interrupted');
INSERT INTO event_timeline (event_id, at, kind, source, text)
  SELECT id, coalesce(resolved_at, last_seen), 'resolved', source,
         printf('resolved (seen %d time%s)', count, CASE count WHEN 1 THEN '' ELSE 's' END)
  FROM events WHERE status = 'resolved';
)sql"},
  {8, "plan runs may be refused, steps cut short have an unknown outcome", R"sql(
-- A run refused by its lock or a protection rule is 'refused', not
-- 'failed' (the circuit breaker counts failures); a step that is not
-- idempotent and was cut short by a signal is 'unknown' until an operator
-- decides. SQLite cannot change a CHECK in place: the tables are rebuilt,
-- with the index and triggers that belong to them.
CREATE TABLE plan_runs_new (
  run_id INTEGER PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
  plan TEXT NOT NULL,
  params TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(params)),
  state TEXT NOT NULL CHECK (state IN ('running', 'waiting', 'succeeded', 'failed', 'rolling_back',
    'rolled_back', 'rollback_failed', 'aborted', 'interrupted', 'refused')),
  parent_run INTEGER REFERENCES runs (id) ON DELETE CASCADE,
  parent_step TEXT,
  event_id INTEGER,
  lock_key TEXT,
  pid_start TEXT,
  abort_requested INTEGER NOT NULL DEFAULT 0 CHECK (abort_requested IN (0, 1)),
  reason TEXT
);
INSERT INTO plan_runs_new SELECT run_id, plan, params, state, parent_run, parent_step, event_id, lock_key,
  pid_start, abort_requested, reason FROM plan_runs;
DROP TABLE plan_runs;
ALTER TABLE plan_runs_new RENAME TO plan_runs;
CREATE INDEX plan_runs_plan ON plan_runs (plan, run_id);

CREATE TABLE plan_steps_new (
  run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  step TEXT NOT NULL,
  phase TEXT NOT NULL CHECK (phase IN ('do', 'undo')),
  seq INTEGER NOT NULL,
  kind TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('running', 'waiting', 'succeeded', 'failed', 'skipped',
    'interrupted', 'unknown')),
  idempotent INTEGER NOT NULL DEFAULT 0 CHECK (idempotent IN (0, 1)),
  attempts INTEGER NOT NULL DEFAULT 0,
  started_at TEXT,
  finished_at TEXT,
  exit_code INTEGER,
  detail TEXT,
  message TEXT,
  outputs TEXT CHECK (outputs IS NULL OR json_valid(outputs)),
  PRIMARY KEY (run_id, step, phase)
);
INSERT INTO plan_steps_new SELECT run_id, step, phase, seq, kind, state, idempotent, attempts, started_at,
  finished_at, exit_code, detail, message, outputs FROM plan_steps;
DROP TABLE plan_steps;
ALTER TABLE plan_steps_new RENAME TO plan_steps;
CREATE INDEX plan_steps_run_seq ON plan_steps (run_id, seq);

CREATE TRIGGER event_plan_started AFTER INSERT ON plan_runs
WHEN NEW.parent_run IS NULL AND EXISTS (SELECT 1 FROM events WHERE id = NEW.event_id) BEGIN
  INSERT INTO event_timeline (event_id, at, kind, source, text, run_id, data)
  VALUES (NEW.event_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 'plan', 'plan',
          printf('plan %s started', NEW.plan), NEW.run_id, json_object('state', NEW.state, 'params', json(NEW.params)));
END;

CREATE TRIGGER event_plan_state AFTER UPDATE OF state ON plan_runs
WHEN NEW.parent_run IS NULL AND OLD.state <> NEW.state
  AND (NEW.state IN ('succeeded', 'failed', 'rolling_back', 'rolled_back', 'rollback_failed', 'aborted',
                     'interrupted', 'refused')
       OR OLD.state IN ('succeeded', 'failed', 'rolled_back', 'rollback_failed', 'aborted', 'interrupted'))
  AND EXISTS (SELECT 1 FROM events WHERE id = NEW.event_id) BEGIN
  INSERT INTO event_timeline (event_id, at, kind, source, text, run_id, data)
  VALUES (NEW.event_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 'plan', 'plan',
          CASE
            WHEN NEW.state = 'rolling_back' THEN printf('plan %s rolling back', NEW.plan)
            WHEN NEW.state IN ('running', 'waiting')
              THEN printf('plan %s resumed after it had %s', NEW.plan, replace(OLD.state, '_', ' '))
            ELSE printf('plan %s %s', NEW.plan, replace(NEW.state, '_', ' '))
                 || CASE WHEN NEW.reason IS NULL OR NEW.reason = '' THEN '' ELSE ': ' || NEW.reason END
          END,
          NEW.run_id, json_object('state', NEW.state, 'previous', OLD.state));
END;
)sql"},
};

void refuse_newer(const Store& store, int version) {
  const int latest = latest_schema_version();
  if (version > latest) {
    throw core::Error(core::ExitCode::io,
                      fmt::format("state file {} has schema version {}, newer than this has knows "
                                  "({})",
                                  store.path().string(), version, latest),
                      {}, "upgrade has, or use another --state file");
  }
}

// A file at version 0 with tables in it was made by someone else; migrating
// it would mix has's tables into another program's data.
void refuse_foreign(Store& store) {
  auto count = store.connection().prepare("SELECT count(*) FROM sqlite_schema");
  count.step();
  if (count.column_int64(0) != 0) {
    throw core::Error(core::ExitCode::io,
                      fmt::format("state file {} is a SQLite database of another program",
                                  store.path().string()),
                      "it holds tables but no has schema version",
                      "pass --state FILE or set HAS_STATE to a has state file");
  }
}

} // namespace

std::span<const Migration> migrations() noexcept { return k_migrations; }

int latest_schema_version() noexcept { return std::prev(std::end(k_migrations))->version; }

void migrate(Store& store) {
  // The common case reads only, so that opening a current file takes no lock.
  const int before = store.schema_version();
  refuse_newer(store, before);
  if (before == latest_schema_version()) {
    return;
  }
  store.transaction([&] {
    // Another process may have migrated while this one waited for the lock.
    const int current = store.schema_version();
    refuse_newer(store, current);
    if (current == 0) {
      refuse_foreign(store);
    }
    Connection& connection = store.connection();
    for (const Migration& migration : migrations()) {
      if (migration.version <= current) {
        continue;
      }
      try {
        connection.exec(migration.sql);
        connection.exec(fmt::format("PRAGMA user_version = {}", migration.version));
      } catch (const SqliteError& e) {
        throw SqliteError(e.sqlite_code(),
                          fmt::format("cannot apply migration {} ({}) to state file {}",
                                      migration.version, migration.description,
                                      store.path().string()),
                          e.reason(), e.help());
      }
      HAS_LOG("state file {}: applied migration {} ({})", store.path().string(), migration.version,
              migration.description);
    }
    if (current == 0) {
      auto insert = connection.prepare("INSERT INTO meta (key, value) VALUES (?, ?)");
      insert.bind(1, "created_by_version").bind(2, HAS_VERSION);
      insert.step();
    }
  });
}

} // namespace has::state
