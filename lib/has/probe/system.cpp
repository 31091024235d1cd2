// The system probe measures the local host natively (statvfs, /proc, stat,
// OpenSSL), without spawning a program, so thousands of these checks cost
// next to nothing. Each measurement is ok when it worked, whatever it found:
// thresholds and expectations in the rule judge the values. It is unknown
// only when it cannot measure (a missing path, an unreadable /proc). A rule
// that judges nothing itself gets the natural limits of a reading (use above
// 90% warns, above 95% is critical; see default_limits) and a missing process
// or file is critical.
//
// The fields, exactly one per probe:
//   disk: PATH          filesystem usage of the filesystem holding PATH
//   memory: true        /proc/meminfo
//   load: true          /proc/loadavg and the number of online CPUs
//   process: NAME | {name, user}   processes by name (comm or argv[0])
//   zombies: true       processes in state Z. A field of its own rather than
//                       `process: {state: Z}`: it has no name to match, and
//                       `expect: count == 0` then reads as meant.
//   file: PATH          existence, size, age and mode of a path
//   cert: PATH          expiry of a PEM (or DER) certificate file; a served
//                       certificate's expiry is the http probe's
//                       cert_days_left
//   fds: true           /proc/sys/fs/file-nr

#include <has/probe/kinds.hpp>

#include <has/core/error.hpp>
#include <has/defs/units.hpp>
#include <has/probe/fields.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <ctime>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <system_error>

namespace has::probe {

namespace {

// Pids listed in a value, so a result stays small on a busy host.
constexpr std::size_t k_max_pids = 20;

std::string errno_text(int error) {
  return std::error_code(error, std::generic_category()).message();
}

Result unknown(std::string message) {
  Result result;
  result.status = Status::unknown;
  result.message = std::move(message);
  return result;
}

// Returns bytes as "12.1 GiB" (binary units, as df -h).
std::string human_bytes(double bytes) {
  constexpr std::array<std::string_view, 6> units{"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  std::size_t unit = 0;
  while (bytes >= 1024 && unit + 1 < units.size()) {
    bytes /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.1f} {}", bytes, units[unit]);
}

// The limits a percentage of use gets when the rule sets none.
std::vector<DefaultLimit> use_limits(std::initializer_list<std::string_view> values) {
  std::vector<DefaultLimit> out;
  for (auto value : values) {
    out.push_back({std::string(value), DefaultLimit::Bound::above, 90, 95});
  }
  return out;
}

double percent(double part, double whole) {
  return whole > 0 ? part / whole * 100.0 : 0.0;
}

class UniqueFd {
public:
  explicit UniqueFd(int fd) : m_fd(fd) {}
  ~UniqueFd() {
    if (m_fd >= 0) {
      ::close(m_fd);
    }
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const noexcept { return m_fd; }

private:
  int m_fd;
};

// Reads a whole (/proc) file; on failure returns nullopt and sets error.
std::optional<std::string> read_file(const std::string& path, int& error) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    error = errno;
    return std::nullopt;
  }
  std::string text;
  std::array<char, 4096> buffer{};
  while (true) {
    ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n > 0) {
      text.append(buffer.data(), static_cast<std::size_t>(n));
    } else if (n == 0) {
      return text;
    } else if (errno != EINTR) {
      error = errno;
      return std::nullopt;
    }
  }
}

// Reads a /proc file every Linux has; a failure means we cannot measure.
std::string read_proc(const std::string& path) {
  int error = 0;
  auto text = read_file(path, error);
  if (!text) {
    throw core::Error(core::ExitCode::unavailable,
                      fmt::format("cannot read {}: {} (is /proc mounted?)", path, errno_text(error)));
  }
  return std::move(*text);
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t' || text.front() == '\n')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

template <typename Number>
std::optional<Number> parse_number(std::string_view text) {
  Number value{};
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

// Returns the whitespace-separated words of text.
std::vector<std::string_view> words(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto start = text.find_first_not_of(" \t\n", pos);
    if (start == std::string_view::npos) {
      break;
    }
    auto end = text.find_first_of(" \t\n", start);
    out.push_back(text.substr(start, end - start));
    pos = end == std::string_view::npos ? text.size() : end;
  }
  return out;
}

// Runs measure on a thread of its own and waits at most timeout for it.
// statvfs() or stat() on a hung NFS mount blocks in the kernel and cannot be
// interrupted; without this one dead mount would hold a runner worker, and
// the whole run, forever. A thread that never returns is left behind.
Result with_deadline(std::function<Result()> measure, std::chrono::milliseconds timeout,
                     const std::string& what) {
  if (timeout.count() <= 0) {
    return measure();
  }
  struct Shared {
    std::mutex mutex;
    std::condition_variable done_cv;
    bool done = false;
    Result result;
    std::exception_ptr error;
  };
  auto shared = std::make_shared<Shared>();
  std::thread([shared, measure = std::move(measure)] {
    Result result;
    std::exception_ptr error;
    try {
      result = measure();
    } catch (...) {
      error = std::current_exception();
    }
    std::lock_guard lock(shared->mutex);
    shared->result = std::move(result);
    shared->error = error;
    shared->done = true;
    shared->done_cv.notify_all();
  }).detach();

  std::unique_lock lock(shared->mutex);
  if (!shared->done_cv.wait_for(lock, timeout, [&] { return shared->done; })) {
    Result result;
    // Like a plugin that times out: what does not answer is down.
    result.status = Status::critical;
    result.message = fmt::format("{} did not answer within {} ms (a hung mount?)", what, timeout.count());
    result.elapsed_ms = static_cast<double>(timeout.count());
    return result;
  }
  if (shared->error) {
    std::rethrow_exception(shared->error);
  }
  return std::move(shared->result);
}

// --- disk ---------------------------------------------------------------

Result measure_disk(const std::string& path) {
  struct statvfs fs {};
  if (::statvfs(path.c_str(), &fs) != 0) {
    int error = errno;
    return unknown(error == ENOENT ? fmt::format("disk: '{}' does not exist", path)
                                   : fmt::format("disk: cannot measure '{}': {}", path, errno_text(error)));
  }
  double block = static_cast<double>(fs.f_frsize);
  double total = static_cast<double>(fs.f_blocks) * block;
  double used = static_cast<double>(fs.f_blocks - fs.f_bfree) * block;
  double avail = static_cast<double>(fs.f_bavail) * block;
  // As df computes Use%: of the space non-root users can have, since the
  // blocks reserved for root are not there for the services that fill disks.
  double used_percent = percent(used, used + avail);
  auto inodes_total = static_cast<std::uint64_t>(fs.f_files);
  auto inodes_used = static_cast<std::uint64_t>(fs.f_files - fs.f_ffree);

  Result result;
  result.values = {
    {"path", path},
    {"total_bytes", static_cast<std::uint64_t>(total)},
    {"used_bytes", static_cast<std::uint64_t>(used)},
    {"free_bytes", static_cast<std::uint64_t>(avail)},
    {"used_percent", used_percent},
    {"inodes_total", inodes_total},
    {"inodes_used", inodes_used},
    // Filesystems without fixed inodes (btrfs) report 0 of 0.
    {"inodes_used_percent", percent(static_cast<double>(inodes_used), static_cast<double>(inodes_total))},
  };
  result.message = fmt::format("{} {:.0f}% used ({} free)", path, used_percent, human_bytes(avail));
  result.by_default.limits = use_limits({"used_percent", "inodes_used_percent"});
  return result;
}

// --- memory -------------------------------------------------------------

Result measure_memory() {
  auto text = read_proc("/proc/meminfo");
  std::map<std::string, std::uint64_t, std::less<>> kib;
  std::string_view rest = text;
  while (!rest.empty()) {
    auto line = rest.substr(0, rest.find('\n'));
    rest.remove_prefix(std::min(rest.size(), line.size() + 1));
    auto colon = line.find(':');
    if (colon == std::string_view::npos) {
      continue;
    }
    auto parts = words(line.substr(colon + 1));
    if (!parts.empty()) {
      if (auto value = parse_number<std::uint64_t>(parts[0])) {
        kib.emplace(std::string(line.substr(0, colon)), *value);
      }
    }
  }
  auto get = [&](std::string_view key) -> std::optional<std::uint64_t> {
    auto found = kib.find(key);
    return found == kib.end() ? std::nullopt : std::optional(found->second * 1024);
  };
  auto total = get("MemTotal");
  if (!total || *total == 0) {
    return unknown("memory: /proc/meminfo has no MemTotal");
  }
  // Kernels before 3.14 lack MemAvailable; free + buffers + cache is what
  // free(1) then showed.
  auto available = get("MemAvailable");
  if (!available) {
    available = get("MemFree").value_or(0) + get("Buffers").value_or(0) + get("Cached").value_or(0);
  }
  auto swap_total = get("SwapTotal").value_or(0);
  auto swap_free = std::min(get("SwapFree").value_or(0), swap_total);
  auto used = *total - std::min(*available, *total);
  auto swap_used = swap_total - swap_free;
  double used_percent = percent(static_cast<double>(used), static_cast<double>(*total));

  Result result;
  result.values = {
    {"total_bytes", *total},
    {"available_bytes", *available},
    {"used_bytes", used},
    {"used_percent", used_percent},
    {"swap_total_bytes", swap_total},
    {"swap_used_bytes", swap_used},
    {"swap_used_percent", percent(static_cast<double>(swap_used), static_cast<double>(swap_total))},
  };
  result.message =
    fmt::format("memory {:.0f}% used ({} available of {})", used_percent,
                human_bytes(static_cast<double>(*available)), human_bytes(static_cast<double>(*total)));
  result.by_default.limits = use_limits({"used_percent"});
  return result;
}

// --- load ---------------------------------------------------------------

Result measure_load() {
  auto text = read_proc("/proc/loadavg");
  auto parts = words(text);
  std::array<double, 3> load{};
  for (std::size_t i = 0; i < load.size(); ++i) {
    auto value = i < parts.size() ? parse_number<double>(parts[i]) : std::nullopt;
    if (!value) {
      return unknown(fmt::format("load: cannot read /proc/loadavg: '{}'", trim(text)));
    }
    load[i] = *value;
  }
  long online = ::sysconf(_SC_NPROCESSORS_ONLN);
  auto cpus = online > 0 ? static_cast<double>(online) : 1.0;

  Result result;
  result.values = {
    {"load1", load[0]},
    {"load5", load[1]},
    {"load15", load[2]},
    {"cpus", static_cast<std::int64_t>(cpus)},
    {"load1_per_cpu", load[0] / cpus},
    {"load5_per_cpu", load[1] / cpus},
    {"load15_per_cpu", load[2] / cpus},
  };
  result.message = fmt::format("load average {:.2f}, {:.2f}, {:.2f} on {} CPUs", load[0], load[1], load[2],
                               static_cast<std::int64_t>(cpus));
  return result;
}

// --- processes ----------------------------------------------------------

struct DirClose {
  void operator()(DIR* dir) const { ::closedir(dir); }
};

// Calls visit(pid, "/proc/PID") for every process; throws Error(unavailable)
// if /proc cannot be listed.
template <typename Visit>
void each_process(Visit&& visit) {
  std::unique_ptr<DIR, DirClose> dir(::opendir("/proc"));
  if (!dir) {
    throw core::Error(core::ExitCode::unavailable,
                      fmt::format("cannot list /proc: {} (is /proc mounted?)", errno_text(errno)));
  }
  while (const dirent* entry = ::readdir(dir.get())) {
    auto pid = parse_number<int>(entry->d_name);
    if (pid && *pid > 0) {
      visit(*pid, fmt::format("/proc/{}", *pid));
    }
  }
}

struct ProcessQuery {
  std::string name;
  std::string user; // a name or a uid; empty for any user
};

// Returns the uid of user (a name or a number), or nullopt if there is none.
std::optional<uid_t> find_uid(const std::string& user) {
  if (auto number = parse_number<uid_t>(user)) {
    return number;
  }
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(size > 0 ? static_cast<std::size_t>(size) : 16384);
  passwd entry{};
  passwd* found = nullptr;
  int rc = 0;
  while ((rc = ::getpwnam_r(user.c_str(), &entry, buffer.data(), buffer.size(), &found)) == ERANGE) {
    buffer.resize(buffer.size() * 2);
  }
  if (rc != 0) {
    throw core::Error(core::ExitCode::unavailable,
                      fmt::format("process: cannot look up user '{}': {}", user, errno_text(rc)));
  }
  return found != nullptr ? std::optional(found->pw_uid) : std::nullopt;
}

// Returns the effective uid in /proc/PID/status (the user ps shows).
std::optional<uid_t> process_uid(const std::string& dir) {
  int error = 0;
  auto status = read_file(dir + "/status", error);
  if (!status) {
    return std::nullopt;
  }
  auto at = status->find("\nUid:");
  if (at == std::string::npos) {
    return std::nullopt;
  }
  auto line = std::string_view(*status).substr(at + 5);
  auto parts = words(line.substr(0, line.find('\n')));
  return parts.size() > 1 ? parse_number<uid_t>(parts[1]) : std::nullopt;
}

// A process matches by its comm (cut by the kernel to 15 bytes) or by the
// file name of its argv[0], which covers long names and programs that name
// themselves; a process that exits while we look simply does not match.
bool name_matches(const std::string& dir, const std::string& name) {
  int error = 0;
  auto comm = read_file(dir + "/comm", error);
  if (!comm) {
    return false;
  }
  if (trim(*comm) == name) {
    return true;
  }
  auto cmdline = read_file(dir + "/cmdline", error);
  if (!cmdline || cmdline->empty()) {
    return false;
  }
  std::string_view argv0(cmdline->c_str());
  auto slash = argv0.rfind('/');
  return (slash == std::string_view::npos ? argv0 : argv0.substr(slash + 1)) == name;
}

nlohmann::json first_pids(std::vector<int> pids) {
  std::ranges::sort(pids);
  pids.resize(std::min(pids.size(), k_max_pids));
  return pids;
}

Result measure_process(const ProcessQuery& query) {
  // The user is looked up when the check runs: it is a fact of the host.
  std::optional<uid_t> uid;
  if (!query.user.empty()) {
    uid = find_uid(query.user);
    if (!uid) {
      return unknown(fmt::format("process: there is no user '{}' on this host", query.user));
    }
  }
  std::vector<int> pids;
  each_process([&](int pid, const std::string& dir) {
    if (name_matches(dir, query.name) && (!uid || process_uid(dir) == uid)) {
      pids.push_back(pid);
    }
  });
  auto count = pids.size();
  std::string who = query.user.empty() ? "" : fmt::format(" of user '{}'", query.user);

  Result result;
  result.values = {{"count", count}, {"pids", first_pids(std::move(pids))}, {"present", count > 0}};
  result.message = count == 0 ? fmt::format("no process '{}'{} is running", query.name, who)
                              : fmt::format("{} process{} '{}'{} running", count, count == 1 ? "" : "es",
                                            query.name, who);
  if (count == 0) {
    result.by_default = {Status::critical, "no matching process is running", {}};
  }
  return result;
}

Result measure_zombies() {
  std::vector<int> pids;
  each_process([&](int pid, const std::string& dir) {
    int error = 0;
    auto stat = read_file(dir + "/stat", error);
    // "PID (comm) S ...": comm may hold spaces and parentheses.
    auto close = stat ? stat->rfind(')') : std::string::npos;
    if (close != std::string::npos && close + 2 < stat->size() && (*stat)[close + 2] == 'Z') {
      pids.push_back(pid);
    }
  });
  auto count = pids.size();
  Result result;
  result.values = {{"count", count}, {"pids", first_pids(std::move(pids))}};
  result.message = count == 0 ? std::string("no zombie processes")
                              : fmt::format("{} zombie process{}", count, count == 1 ? "" : "es");
  return result;
}

// --- file ---------------------------------------------------------------

Result measure_file(const std::string& path) {
  struct stat info {};
  Result result;
  if (::stat(path.c_str(), &info) != 0) {
    int error = errno;
    if (error != ENOENT && error != ENOTDIR) {
      return unknown(fmt::format("file: cannot stat '{}': {}", path, errno_text(error)));
    }
    // Absence is an observation: the expectations say whether it is wanted.
    result.values = {{"path", path}, {"exists", false}};
    result.message = fmt::format("'{}' does not exist", path);
    result.by_default = {Status::critical, "the file does not exist", {}};
    return result;
  }
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  double age = static_cast<double>(now.tv_sec - info.st_mtim.tv_sec) +
               static_cast<double>(now.tv_nsec - info.st_mtim.tv_nsec) / 1e9;
  bool is_dir = S_ISDIR(info.st_mode);
  result.values = {
    {"path", path},
    {"exists", true},
    {"size_bytes", static_cast<std::uint64_t>(info.st_size)},
    {"age_seconds", age},
    {"is_dir", is_dir},
    {"mode", fmt::format("{:04o}", info.st_mode & 07777)},
  };
  auto age_text = age >= 0 ? defs::format_duration(std::chrono::seconds(static_cast<std::int64_t>(age)))
                           : std::string("in the future");
  result.message = fmt::format("'{}' exists ({}{}, modified {} ago)", path, is_dir ? "directory, " : "",
                               human_bytes(static_cast<double>(info.st_size)), age_text);
  return result;
}

// --- cert ---------------------------------------------------------------

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};

// Returns and clears OpenSSL's error queue of this thread as text.
std::string openssl_errors() {
  std::string text;
  while (unsigned long code = ERR_get_error()) {
    std::array<char, 256> buffer{};
    ERR_error_string_n(code, buffer.data(), buffer.size());
    text += text.empty() ? "" : "; ";
    text += buffer.data();
  }
  return text;
}

std::string name_text(const X509_NAME* name) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) {
    throw core::Error(core::ExitCode::unavailable, "cert: cannot print a certificate name", openssl_errors());
  }
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return size > 0 ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

std::string iso_time(const ASN1_TIME* time) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(time, &tm) != 1) {
    throw core::Error(core::ExitCode::unavailable, "cert: cannot read a certificate date", openssl_errors());
  }
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec);
}

Result measure_cert(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    int error = errno;
    return unknown(error == ENOENT ? fmt::format("cert: '{}' does not exist", path)
                                   : fmt::format("cert: cannot read '{}': {}", path, errno_text(error)));
  }
  std::unique_ptr<BIO, BioFree> bio(BIO_new_file(path.c_str(), "rb"));
  if (!bio) {
    return unknown(fmt::format("cert: cannot read '{}': {}", path, openssl_errors()));
  }
  // The first certificate of a PEM file is the leaf of a chain
  // (fullchain.pem); a file that is not PEM may be DER.
  std::unique_ptr<X509, X509Free> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    ERR_clear_error();
    if (BIO_reset(bio.get()) == 0) {
      cert.reset(d2i_X509_bio(bio.get(), nullptr));
    }
  }
  if (!cert) {
    auto detail = openssl_errors();
    return unknown(fmt::format("cert: '{}' holds no PEM or DER certificate{}", path,
                               detail.empty() ? "" : " (" + detail + ")"));
  }
  const ASN1_TIME* not_after = X509_get0_notAfter(cert.get());
  int days = 0;
  int seconds = 0;
  if (ASN1_TIME_diff(&days, &seconds, nullptr, not_after) != 1) {
    return unknown(fmt::format("cert: cannot read the expiry of '{}': {}", path, openssl_errors()));
  }
  // Whole days left, rounded down: "9" until the last 9 days begin.
  int days_left = seconds < 0 && days <= 0 ? days - 1 : days;
  auto subject = name_text(X509_get_subject_name(cert.get()));
  auto expiry = iso_time(not_after);

  Result result;
  result.values = {
    {"path", path},
    {"not_after", expiry},
    {"not_before", iso_time(X509_get0_notBefore(cert.get()))},
    {"days_left", days_left},
    {"subject", subject},
    {"issuer", name_text(X509_get_issuer_name(cert.get()))},
  };
  result.message = days_left >= 0
                     ? fmt::format("certificate '{}' expires {} ({} days left)", subject, expiry, days_left)
                     : fmt::format("certificate '{}' expired {} ({} days ago)", subject, expiry, -days_left);
  // Renewals usually run 30 days ahead: a certificate that close has missed one.
  result.by_default.limits = {{"days_left", DefaultLimit::Bound::below, 30, 7}};
  return result;
}

// --- fds ----------------------------------------------------------------

Result measure_fds() {
  auto text = read_proc("/proc/sys/fs/file-nr");
  auto parts = words(text);
  std::array<std::uint64_t, 3> numbers{};
  for (std::size_t i = 0; i < numbers.size(); ++i) {
    auto value = i < parts.size() ? parse_number<std::uint64_t>(parts[i]) : std::nullopt;
    if (!value) {
      return unknown(fmt::format("fds: cannot read /proc/sys/fs/file-nr: '{}'", trim(text)));
    }
    numbers[i] = *value;
  }
  auto [allocated, unused, max] = numbers;
  // "unused" has been 0 since Linux 2.6; subtract it for older kernels.
  double used_percent = percent(static_cast<double>(allocated - std::min(unused, allocated)),
                                static_cast<double>(max));
  Result result;
  result.values = {{"allocated", allocated}, {"max", max}, {"used_percent", used_percent}};
  result.message = fmt::format("{} of {} file handles allocated ({:.0f}%)", allocated, max, used_percent);
  result.by_default.limits = use_limits({"used_percent"});
  return result;
}

// --- fields -------------------------------------------------------------

constexpr std::array<std::string_view, 8> k_measures{"disk", "memory", "load",    "process",
                                                     "file", "cert",   "zombies", "fds"};

[[noreturn]] void bad(std::string what, std::string help = {}) {
  throw core::Error(core::ExitCode::bad_definitions, std::move(what), {}, std::move(help));
}

// Returns which measurement spec asks for; throws unless exactly one.
std::string_view chosen(const Fields& fields) {
  std::vector<std::string_view> given;
  for (auto name : k_measures) {
    if (fields.has(name)) {
      given.push_back(name);
    }
  }
  if (given.size() != 1) {
    bad(given.empty()
          ? "system probe needs one of: disk, memory, load, process, zombies, file, cert, fds"
          : fmt::format("system probe takes one measurement, not {}", fmt::join(given, " and ")),
        "write one system probe per measurement, e.g. system: {disk: /var}");
  }
  return given.front();
}

ProcessQuery process_query(const Fields& fields) {
  const auto& raw = fields.raw("process");
  ProcessQuery query;
  if (raw.is_object()) {
    for (const auto& item : raw.items()) {
      if (item.key() != "name" && item.key() != "user") {
        bad(fmt::format("system probe: process takes name and user, not '{}'", item.key()));
      }
    }
    Fields inner("system process", raw);
    query.name = inner.string("name");
    query.user = inner.optional_string("user").value_or("");
  } else {
    query.name = fields.string("process");
  }
  if (query.name.empty()) {
    bad("system probe: process needs a name");
  }
  return query;
}

} // namespace

Task make_system(const Spec& spec) {
  Fields fields("system", spec.fields);
  auto measure = chosen(fields);
  auto timeout = fields.duration("timeout").value_or(spec.timeout);
  Task task;
  if (measure == "disk" || measure == "file" || measure == "cert") {
    auto path = fields.string(measure);
    if (path.empty()) {
      bad(fmt::format("system probe: {} needs a path", measure));
    }
    auto what = fmt::format("{} '{}'", measure, path);
    auto* measure_path = measure == "disk" ? measure_disk : measure == "file" ? measure_file : measure_cert;
    task.blocking = [measure_path, path, timeout, what] {
      return with_deadline([measure_path, path] { return measure_path(path); }, timeout, what);
    };
    return task;
  }
  if (measure == "process") {
    task.blocking = [query = process_query(fields)] { return measure_process(query); };
    return task;
  }
  if (fields.boolean(measure) != true) {
    bad(fmt::format("system probe: {} must be true (or left out)", measure));
  }
  if (measure == "memory") {
    task.blocking = measure_memory;
  } else if (measure == "load") {
    task.blocking = measure_load;
  } else if (measure == "zombies") {
    task.blocking = measure_zombies;
  } else {
    task.blocking = measure_fds;
  }
  return task;
}

} // namespace has::probe
