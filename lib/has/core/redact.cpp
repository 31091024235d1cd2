#include <has/core/redact.hpp>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <vector>

namespace has::core {

namespace {
std::mutex g_mutex;
std::vector<std::string> g_secrets;
std::atomic<std::size_t> g_count{0};
} // namespace

void register_secret(std::string_view value) {
  if (value.size() < 3) {
    return;
  }
  std::lock_guard lock(g_mutex);
  if (std::find(g_secrets.begin(), g_secrets.end(), value) == g_secrets.end()) {
    g_secrets.emplace_back(value);
    g_count.store(g_secrets.size(), std::memory_order_release);
    // Longest first, so a secret that contains another is hidden whole.
    std::sort(g_secrets.begin(), g_secrets.end(),
              [](const auto& a, const auto& b) { return a.size() > b.size(); });
  }
}

bool has_secrets() noexcept { return g_count.load(std::memory_order_acquire) > 0; }

std::string redact(std::string_view text) {
  std::string out(text);
  if (!has_secrets()) {
    return out;
  }
  std::lock_guard lock(g_mutex);
  for (const auto& secret : g_secrets) {
    std::size_t pos = 0;
    while ((pos = out.find(secret, pos)) != std::string::npos) {
      out.replace(pos, secret.size(), k_redacted);
      pos += k_redacted.size();
    }
  }
  return out;
}

} // namespace has::core
