#pragma once

// Probes observe and never change anything. A probe kind turns its fields
// (already interpolated: ${{ }} and ${env:} resolved) into a Task: an HTTP
// request, a process to run, or a blocking function; the runner executes
// many tasks at once (HTTP through one curl multi handle, processes
// asynchronously, the rest on a small worker pool) and the kind's callback
// turns what came back into a Result.

#include <has/util/http.hpp>
#include <has/util/process.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace has::probe {

// A check's verdict, in the Nagios order (worse is greater).
enum class Status { ok = 0, warning = 1, critical = 2, unknown = 3 };

// Returns "ok", "warning", "critical" or "unknown".
std::string_view status_name(Status status);
// Returns the status named text, or nullopt.
std::optional<Status> parse_status(std::string_view text);
// Returns the worse of two statuses (unknown counts worst, as Nagios does
// for exit codes).
Status worst(Status a, Status b);

// A reading with a natural limit (a filesystem's used_percent), judged by
// default like a rule's own thresholds: beyond warning (above it, or below
// it for Bound::below) warns, beyond critical is critical.
struct DefaultLimit {
  enum class Bound { above, below };
  std::string value; // a name in Result::values
  Bound bound = Bound::above;
  double warning = 0;
  double critical = 0;
};

// What the probe judges of an observation that worked, for a check that
// writes no `expect` (has-definitions(5), DEFAULT VERDICTS): an HTTP answer
// of 503 is observed (status ok: an expectation may want exactly that) but
// critical by default.
struct Default {
  Status status = Status::ok;
  // Why, as "http status 503 is 5xx"; empty when the observation alone is
  // the verdict.
  std::string reason;
  // Applied only when the check sets no warning/critical thresholds itself.
  std::vector<DefaultLimit> limits;
};

// What a probe observed.
struct Result {
  // The probe's own verdict: ok if it could observe; critical when the thing
  // observed is down (connection refused, exit 2); unknown when the probe
  // itself could not work (bad input, tool missing, exit 3).
  Status status = Status::ok;
  // Named values that expectations and thresholds read (status, body, json,
  // elapsed_ms, perfdata labels, ...).
  nlohmann::json values = nlohmann::json::object();
  // One line saying what was seen.
  std::string message;
  // Bounded detail for reports (output, body excerpt, error text).
  std::string evidence;
  double elapsed_ms = 0;
  // The verdict without expectations; meaningful only when status is ok.
  Default by_default;
  // Why status is ok when a field of the probe judged the observation
  // itself, as "http status 200 is in expect_status 200, 204": it holds
  // with or without expectations, and no default applies. Empty otherwise.
  std::string field_verdict;
};

// A probe as the runner receives it: its kind, its resolved fields, and the
// run's limits.
struct Spec {
  std::string kind;
  nlohmann::json fields = nlohmann::json::object();
  std::chrono::milliseconds timeout{10'000};
};

// One unit of work. Exactly one of http, process or blocking is set, with
// the matching callback.
struct Task {
  std::optional<util::HttpRequest> http;
  std::function<Result(const util::HttpResponse&)> on_http;
  std::optional<util::ProcessSpec> process;
  std::function<Result(const util::ProcessResult&)> on_process;
  std::function<Result()> blocking;
};

// Returns the task for spec. Throws core::Error(ExitCode::bad_definitions)
// naming the field when a field has a wrong value, and
// core::Error(ExitCode::unavailable) for a kind this build cannot run.
Task make_task(const Spec& spec);

// Returns the names of every probe kind the runner knows.
std::vector<std::string_view> kinds();

// Returns one line saying how a probe of kind judges its observation when a
// check writes no `expect` ("2xx and 3xx ok, 4xx warning, 5xx critical"), or
// an empty view for a kind this build does not know.
std::string_view default_verdict(std::string_view kind);
// Returns whether that default judges more than the probe's own status (http,
// prometheus, system): there, expectations replace it; for the other kinds
// the status is the verdict and expectations only add conditions.
bool judges_beyond_status(std::string_view kind);

// What a check writes to judge its probe's observation besides the probe's
// own fields.
struct Judging {
  bool expect = false;     // expectations (`expect`)
  bool thresholds = false; // `warning` or `critical` thresholds
};
// Returns whether a check of kind, with these probe fields (as written or
// resolved) and judging, takes its verdict from the kind's default: http
// without expect and expect_status (thresholds leave the status class
// deciding), prometheus without expect, system without expect and either
// without thresholds or measuring a process or file (whose absence stays
// critical). False for the other kinds, whose status is the verdict either
// way, and for a kind this build does not know. Never throws.
bool relies_on_default(std::string_view kind, const nlohmann::json& fields, const Judging& judging);
// Returns the field of a probe of kind that judges the observation instead
// of the default ("expect_status" for http), or an empty view.
std::string_view judging_field(std::string_view kind);
// Returns whether a probe of kind puts a value named `value` among its
// values (prometheus: the sample), which then hides a tree node's status
// name of that name.
bool has_own_value(std::string_view kind);

} // namespace has::probe
