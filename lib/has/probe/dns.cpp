// The dns probe: resolve a name through the system resolver (getaddrinfo),
// or, when `server` is given, ask that server directly with a DNS query over
// UDP built and parsed here, so a check sees what one server says rather
// than what the local cache and /etc/hosts say.

#include <has/probe/fields.hpp>
#include <has/probe/http_text.hpp>
#include <has/probe/kinds.hpp>

#include <has/core/error.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <system_error>
#include <thread>
#include <utility>

namespace has::probe {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::uint16_t k_type_a = 1;
constexpr std::uint16_t k_type_aaaa = 28;
constexpr std::uint16_t k_class_in = 1;
// A lost UDP datagram is sent again after this long, as resolvers do.
constexpr std::chrono::milliseconds k_resend{1000};
// Addresses named in the message; the rest are in `addresses`.
constexpr std::size_t k_listed = 4;

enum class Type { a, aaaa, any };

struct Params {
  std::string name;
  Type type = Type::a;
  std::optional<std::pair<std::string, std::string>> server; // host, port
  std::vector<std::string> expect;                           // normalised addresses
  std::chrono::milliseconds timeout{};
};

// The addresses found, or why there are none.
struct Answer {
  std::vector<std::string> addresses;
  std::string failure;
};

[[noreturn]] void bad_field(std::string_view field, std::string_view what) {
  throw core::Error(core::ExitCode::bad_definitions, fmt::format("dns probe: field '{}' {}", field, what));
}

std::string_view type_name(Type type) {
  return type == Type::a ? "A" : type == Type::aaaa ? "AAAA" : "ANY";
}

std::string errno_text(int code) {
  auto text = std::error_code(code, std::generic_category()).message();
  if (!text.empty()) {
    text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  }
  return text;
}

std::string gai_text(int rc, int saved_errno) {
  return rc == EAI_SYSTEM ? errno_text(saved_errno) : std::string(gai_strerror(rc));
}

// Returns the address in its canonical text form, or nullopt if it is none.
std::optional<std::string> canonical_address(const std::string& text, int* family = nullptr) {
  for (int af : {AF_INET, AF_INET6}) {
    unsigned char bytes[16];
    char out[INET6_ADDRSTRLEN];
    if (inet_pton(af, text.c_str(), bytes) == 1 && inet_ntop(af, bytes, out, sizeof out) != nullptr) {
      if (family != nullptr) {
        *family = af;
      }
      return std::string(out);
    }
  }
  return std::nullopt;
}

class Socket {
public:
  explicit Socket(int fd) : m_fd(fd) {}
  ~Socket() {
    if (m_fd >= 0) {
      ::close(m_fd);
    }
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int get() const { return m_fd; }
  bool valid() const { return m_fd >= 0; }

private:
  int m_fd;
};

struct AddrinfoFree {
  void operator()(addrinfo* list) const { freeaddrinfo(list); }
};
using AddrinfoList = std::unique_ptr<addrinfo, AddrinfoFree>;

// --- The system resolver --------------------------------------------------

// getaddrinfo() cannot be given a timeout, so it runs on a thread of its own
// that is left behind if it outlasts the probe; this state outlives whichever
// of the two finishes last.
struct Lookup {
  std::mutex mutex;
  std::condition_variable finished;
  bool done = false;
  int rc = 0;
  int saved_errno = 0;
  std::vector<std::string> addresses;
};

Answer resolve_with_system(const Params& params, Clock::time_point deadline) {
  auto lookup = std::make_shared<Lookup>();
  int family = params.type == Type::a ? AF_INET : params.type == Type::aaaa ? AF_INET6 : AF_UNSPEC;
  std::thread([lookup, name = params.name, family] {
    addrinfo hints{};
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM; // one entry per address, not one per socket type
    addrinfo* found = nullptr;
    int rc = getaddrinfo(name.c_str(), nullptr, &hints, &found);
    int saved_errno = errno;
    AddrinfoList list(found);
    std::vector<std::string> addresses;
    for (auto* ai = rc == 0 ? list.get() : nullptr; ai != nullptr; ai = ai->ai_next) {
      char text[INET6_ADDRSTRLEN] = {};
      const void* bytes = ai->ai_family == AF_INET
                            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr)
                            : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr);
      if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
          inet_ntop(ai->ai_family, bytes, text, sizeof text) != nullptr) {
        addresses.emplace_back(text);
      }
    }
    std::lock_guard lock(lookup->mutex);
    lookup->rc = rc;
    lookup->saved_errno = saved_errno;
    lookup->addresses = std::move(addresses);
    lookup->done = true;
    lookup->finished.notify_all();
  }).detach();

  std::unique_lock lock(lookup->mutex);
  Answer answer;
  if (!lookup->finished.wait_until(lock, deadline, [&] { return lookup->done; })) {
    answer.failure = fmt::format("timed out after {} ms resolving '{}'", params.timeout.count(), params.name);
  } else if (lookup->rc == EAI_NONAME || lookup->rc == EAI_NODATA) {
    answer.failure = fmt::format("'{}' does not resolve ({})", params.name, gai_text(lookup->rc, 0));
  } else if (lookup->rc != 0) {
    answer.failure = fmt::format("cannot resolve '{}': {}", params.name, gai_text(lookup->rc, lookup->saved_errno));
  } else {
    answer.addresses = lookup->addresses;
  }
  return answer;
}

// --- A DNS query over UDP (RFC 1035) ----------------------------------------

void put16(std::string& out, std::uint16_t value) {
  out.push_back(static_cast<char>(value >> 8));
  out.push_back(static_cast<char>(value & 0xFF));
}

// The name's labels were checked by make_dns().
std::string build_query(std::uint16_t id, const std::string& name, std::uint16_t qtype) {
  std::string packet;
  put16(packet, id);
  put16(packet, 0x0100); // a standard query, recursion desired
  put16(packet, 1);      // one question
  put16(packet, 0);
  put16(packet, 0);
  put16(packet, 0);
  std::size_t start = 0;
  while (start < name.size()) {
    auto dot = std::min(name.find('.', start), name.size());
    packet.push_back(static_cast<char>(dot - start));
    packet.append(name, start, dot - start);
    start = dot + 1;
  }
  packet.push_back('\0');
  put16(packet, qtype);
  put16(packet, k_class_in);
  return packet;
}

// Bounds-checked reading of a reply; any read past the end marks it bad.
class Reader {
public:
  explicit Reader(std::string_view data) : m_data(data) {}
  bool good() const { return m_good; }
  std::uint8_t u8() { return m_good && need(1) ? static_cast<std::uint8_t>(m_data[m_pos++]) : 0; }
  std::uint16_t u16() { return static_cast<std::uint16_t>((u8() << 8) | u8()); }
  std::uint32_t u32() { return (static_cast<std::uint32_t>(u16()) << 16) | u16(); }
  std::string_view bytes(std::size_t n) {
    if (!m_good || !need(n)) {
      return {};
    }
    auto out = m_data.substr(m_pos, n);
    m_pos += n;
    return out;
  }
  // Skips a name: labels up to a zero length or a compression pointer.
  void skip_name() {
    while (m_good) {
      auto length = u8();
      if ((length & 0xC0) == 0xC0) {
        u8();
        return;
      }
      if (length == 0) {
        return;
      }
      if ((length & 0xC0) != 0) {
        m_good = false;
        return;
      }
      bytes(length);
    }
  }

private:
  bool need(std::size_t n) {
    m_good = m_good && m_data.size() - m_pos >= n;
    return m_good;
  }
  std::string_view m_data;
  std::size_t m_pos = 0;
  bool m_good = true;
};

enum class Match { other_query, done };

constexpr std::array<std::string_view, 6> k_rcodes{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"};

// Reads one reply; returns other_query when it does not answer (id, qtype).
Match read_reply(std::string_view packet, std::uint16_t id, std::uint16_t qtype, const Params& params,
                 std::set<std::string>& addresses, std::string& failure) {
  Reader reader(packet);
  auto reply_id = reader.u16();
  auto flags = reader.u16();
  auto questions = reader.u16();
  auto answers = reader.u16();
  reader.u32(); // authority and additional counts
  if (!reader.good() || reply_id != id || (flags & 0x8000) == 0) {
    return Match::other_query;
  }
  std::uint16_t asked = 0;
  for (std::uint16_t i = 0; i < questions; ++i) {
    reader.skip_name();
    asked = reader.u16();
    reader.u16();
  }
  if (!reader.good() || (questions > 0 && asked != qtype)) {
    return Match::other_query;
  }
  auto rcode = static_cast<std::size_t>(flags & 0x000F);
  if (rcode == 3) {
    failure = fmt::format("'{}' does not resolve (NXDOMAIN from {})", params.name, params.server->first);
    return Match::done;
  }
  if (rcode != 0) {
    auto code = rcode < k_rcodes.size() ? std::string(k_rcodes[rcode]) : fmt::format("rcode {}", rcode);
    failure = fmt::format("{} answered {} for '{}'", params.server->first, code, params.name);
    return Match::done;
  }
  for (std::uint16_t i = 0; i < answers && reader.good(); ++i) {
    reader.skip_name();
    auto type = reader.u16();
    auto klass = reader.u16();
    reader.u32(); // TTL
    auto data = reader.bytes(reader.u16());
    if (!reader.good() || klass != k_class_in || type != qtype) {
      continue; // CNAMEs on the way to the address, and other records
    }
    int family = type == k_type_a ? AF_INET : AF_INET6;
    char text[INET6_ADDRSTRLEN] = {};
    if (data.size() == (type == k_type_a ? 4U : 16U) && inet_ntop(family, data.data(), text, sizeof text)) {
      addresses.insert(text);
    }
  }
  if (!reader.good()) {
    failure = fmt::format("malformed reply from {}", params.server->first);
  }
  return Match::done;
}

Answer resolve_with_server(const Params& params, Clock::time_point deadline) {
  Answer answer;
  const auto& [host, port] = *params.server;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    answer.failure = fmt::format("cannot resolve the server '{}': {}", host, gai_text(rc, errno));
    return answer;
  }
  AddrinfoList list(found);
  Socket socket(::socket(list->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  // Connected, so the kernel drops datagrams from anyone but the server.
  if (!socket.valid() || ::connect(socket.get(), list->ai_addr, list->ai_addrlen) != 0) {
    answer.failure = fmt::format("cannot reach the server {}: {}", host, errno_text(errno));
    return answer;
  }

  thread_local std::mt19937 random{std::random_device{}()};
  std::map<std::uint16_t, std::pair<std::uint16_t, std::string>> pending; // id -> qtype, query
  for (auto qtype : {k_type_a, k_type_aaaa}) {
    if ((qtype == k_type_a && params.type == Type::aaaa) || (qtype == k_type_aaaa && params.type == Type::a)) {
      continue;
    }
    std::uint16_t id = 0;
    do {
      id = static_cast<std::uint16_t>(random());
    } while (pending.contains(id));
    pending[id] = {qtype, build_query(id, params.name, qtype)};
  }

  std::set<std::string> addresses;
  auto next_send = Clock::now();
  std::string buffer(65535, '\0');
  while (!pending.empty() && answer.failure.empty()) {
    auto now = Clock::now();
    if (now >= deadline) {
      answer.failure = fmt::format("no reply from {} within {} ms", host, params.timeout.count());
      return answer;
    }
    if (now >= next_send) {
      for (const auto& [id, query] : pending) {
        if (::send(socket.get(), query.second.data(), query.second.size(), 0) < 0 && errno != EAGAIN) {
          answer.failure = fmt::format("cannot send the query to {}: {}", host, errno_text(errno));
          return answer;
        }
      }
      next_send = now + k_resend;
    }
    auto until = std::min(next_send, deadline);
    auto wait = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now()).count();
    pollfd entry{socket.get(), POLLIN, 0};
    int ready = ::poll(&entry, 1, static_cast<int>(std::max<long long>(wait, 0)));
    if (ready < 0 && errno != EINTR) {
      throw core::Error(core::ExitCode::failure, "dns probe: poll() failed", errno_text(errno));
    }
    if (ready <= 0) {
      continue;
    }
    auto n = ::recv(socket.get(), buffer.data(), buffer.size(), 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) {
        continue;
      }
      // ECONNREFUSED: the ICMP "port unreachable" of a host with no server.
      answer.failure = fmt::format("no DNS server at {}:{} ({})", host, port, errno_text(errno));
      return answer;
    }
    std::string_view packet(buffer.data(), static_cast<std::size_t>(n));
    for (auto it = pending.begin(); it != pending.end(); ++it) {
      if (read_reply(packet, it->first, it->second.first, params, addresses, answer.failure) == Match::done) {
        pending.erase(it);
        break;
      }
    }
  }
  if (answer.failure.empty()) {
    answer.addresses.assign(addresses.begin(), addresses.end());
    if (answer.addresses.empty()) {
      answer.failure = fmt::format("{} has no {} record for '{}'", host,
                                   params.type == Type::any ? "A or AAAA" : type_name(params.type), params.name);
    }
  }
  return answer;
}

// --- The check ----------------------------------------------------------------

std::string list_text(const std::vector<std::string>& items) {
  std::string out;
  for (std::size_t i = 0; i < items.size() && i < k_listed; ++i) {
    out += (i == 0 ? "" : ", ") + items[i];
  }
  if (items.size() > k_listed) {
    out += fmt::format(" and {} more", items.size() - k_listed);
  }
  return out;
}

Result check(const Params& params) {
  auto start = Clock::now();
  auto deadline = start + params.timeout;
  auto answer = params.server ? resolve_with_server(params, deadline) : resolve_with_system(params, deadline);
  std::sort(answer.addresses.begin(), answer.addresses.end());
  answer.addresses.erase(std::unique(answer.addresses.begin(), answer.addresses.end()), answer.addresses.end());

  Result result;
  result.elapsed_ms = elapsed_ms_since(start);
  auto& values = result.values;
  values["name"] = params.name;
  values["type"] = type_name(params.type);
  if (params.server) {
    values["server"] = params.server->first;
  }
  values["addresses"] = answer.addresses;
  values["count"] = answer.addresses.size();
  values["elapsed_ms"] = result.elapsed_ms;
  if (!answer.failure.empty()) {
    result.status = Status::critical;
    result.message = answer.failure;
    values["error"] = answer.failure;
    return result;
  }
  result.evidence = fmt::format("{}", fmt::join(answer.addresses, "\n"));

  std::vector<std::string> missing;
  for (const auto& address : params.expect) {
    if (!std::binary_search(answer.addresses.begin(), answer.addresses.end(), address)) {
      missing.push_back(address);
    }
  }
  if (!missing.empty()) {
    result.status = Status::critical;
    result.message = fmt::format("'{}' does not resolve to {} (it resolves to {})", params.name,
                                 fmt::join(missing, ", "), list_text(answer.addresses));
    values["missing"] = missing;
    return result;
  }
  result.message =
    fmt::format("'{}' resolved to {} in {:.0f} ms", params.name, list_text(answer.addresses), result.elapsed_ms);
  return result;
}

// "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 address.
std::pair<std::string, std::string> parse_server(const std::string& text) {
  std::string host = text, port = "53";
  if (text.starts_with('[')) {
    auto close = text.find(']');
    if (close == std::string::npos || (close + 1 < text.size() && text[close + 1] != ':')) {
      bad_field("server", fmt::format("must be host, host:port or [IPv6]:port, not '{}'", text));
    }
    host = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      port = text.substr(close + 2);
    }
  } else if (auto colon = text.find(':');
             colon != std::string::npos && text.find(':', colon + 1) == std::string::npos) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  int number = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (host.empty() || ec != std::errc() || end != port.data() + port.size() || number < 1 || number > 65535) {
    bad_field("server", fmt::format("must be host, host:port or [IPv6]:port with a port 1..65535, not '{}'", text));
  }
  return {host, port};
}

// A query carries the name as labels of 1..63 bytes, 255 bytes in all.
void check_name(const std::string& name) {
  if (name.empty()) {
    bad_field("name", "must not be empty");
  }
  auto bare = name.ends_with('.') && name.size() > 1 ? std::string_view(name).substr(0, name.size() - 1)
                                                       : std::string_view(name);
  if (bare.size() > 253) {
    bad_field("name", "is longer than the 253 characters a DNS name may have");
  }
  std::size_t start = 0;
  while (start <= bare.size()) {
    auto dot = std::min(bare.find('.', start), bare.size());
    if (dot - start == 0 || dot - start > 63) {
      bad_field("name", fmt::format("'{}' must be dot-separated labels of 1 to 63 characters", name));
    }
    start = dot + 1;
  }
}

} // namespace

Task make_dns(const Spec& spec) {
  Fields fields("dns", spec.fields);
  Params params;
  params.name = fields.string("name");
  check_name(params.name);
  auto type = fields.optional_string("type").value_or("A");
  std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return std::toupper(c); });
  if (type == "A") {
    params.type = Type::a;
  } else if (type == "AAAA") {
    params.type = Type::aaaa;
  } else if (type == "ANY") {
    params.type = Type::any;
  } else {
    bad_field("type", fmt::format("must be A, AAAA or ANY, not '{}'", type));
  }
  if (auto server = fields.optional_string("server")) {
    params.server = parse_server(*server);
  }
  for (const auto& text : fields.strings("expect")) {
    int family = 0;
    auto address = canonical_address(text, &family);
    if (!address) {
      bad_field("expect", fmt::format("must list IP addresses; '{}' is not one", text));
    }
    if ((family == AF_INET && params.type == Type::aaaa) || (family == AF_INET6 && params.type == Type::a)) {
      bad_field("expect", fmt::format("lists {}, which a type {} lookup never returns", text, type));
    }
    params.expect.push_back(*address);
  }
  params.timeout = fields.duration("timeout").value_or(spec.timeout);
  if (params.timeout.count() <= 0) {
    bad_field("timeout", "must be longer than zero");
  }

  Task task;
  task.blocking = [params = std::move(params)] { return check(params); };
  return task;
}

} // namespace has::probe
