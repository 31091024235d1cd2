#pragma once

// Stand-ins for the chat services the notifier kinds talk to, each a
// cpp-httplib server on 127.0.0.1 that checks requests as the service's
// documentation says (signatures with their own HMAC code, timestamps,
// keywords, JSON shape, size and rate limits) and answers with the
// service's own reply bodies. Shared by the test_notify_*.cpp files.

#include <has/defs/notifiers.hpp>
#include <has/notify/clock.hpp>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace has::test {

// Returns HMAC-SHA256 through OpenSSL's EVP_MAC interface (has itself uses
// another entry point, so a shared mistake is unlikely).
inline std::string reference_hmac(const std::string& key, const std::string& data) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
  unsigned char out[64];
  std::size_t length = 0;
  const bool ok = EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(key.data()), key.size(), params) == 1 &&
                  EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1 &&
                  EVP_MAC_final(ctx, out, &length, sizeof out) == 1;
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  if (!ok) {
    throw std::runtime_error("EVP_MAC failed");
  }
  return {reinterpret_cast<const char*>(out), length};
}

// Returns standard base64, written out here rather than taken from has.
inline std::string reference_base64(const std::string& bytes) {
  static constexpr char k_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += {k_alphabet[(v >> 18) & 63], k_alphabet[(v >> 12) & 63], k_alphabet[(v >> 6) & 63], k_alphabet[v & 63]};
  }
  if (i + 1 == bytes.size()) {
    const unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    out += {k_alphabet[(v >> 18) & 63], k_alphabet[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == bytes.size()) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out += {k_alphabet[(v >> 18) & 63], k_alphabet[(v >> 12) & 63], k_alphabet[(v >> 6) & 63], '='};
  }
  return out;
}

inline std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
    .count();
}

// Returns a loopback port nobody listens on (right now).
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

// A clock for delivery that sleeps by moving its time on; it starts at the
// real time, so the services' timestamp checks still hold.
class FakeClock : public notify::Clock {
public:
  explicit FakeClock(std::chrono::system_clock::time_point start = std::chrono::system_clock::now())
    : m_now(start) {}
  std::chrono::system_clock::time_point now() override {
    std::lock_guard lock(m_mutex);
    return m_now;
  }
  void sleep_for(std::chrono::milliseconds duration) override {
    std::lock_guard lock(m_mutex);
    m_now += duration;
    m_slept += duration;
  }
  void advance(std::chrono::milliseconds duration) {
    std::lock_guard lock(m_mutex);
    m_now += duration;
  }
  std::chrono::milliseconds slept() {
    std::lock_guard lock(m_mutex);
    return m_slept;
  }

private:
  std::mutex m_mutex;
  std::chrono::system_clock::time_point m_now;
  std::chrono::milliseconds m_slept{0};
};

// Sets an environment variable for the life of the object.
class ScopedEnv {
public:
  ScopedEnv(std::string name, const std::string& value) : m_name(std::move(name)) {
    ::setenv(m_name.c_str(), value.c_str(), 1);
  }
  ~ScopedEnv() { ::unsetenv(m_name.c_str()); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
  std::string m_name;
};

// One request as a fake service saw it.
struct Seen {
  std::string path;
  std::map<std::string, std::string> params;
  std::map<std::string, std::string> headers;
  std::string body;
  std::string answer;
};

// The common part: a server thread on 127.0.0.1, a log of requests, and a
// switch to answer everything with a fixed status.
class FakeService {
public:
  explicit FakeService(int port = 0) {
    m_server.set_keep_alive_max_count(100);
    m_port = port == 0 ? m_server.bind_to_any_port("127.0.0.1") : (m_server.bind_to_port("127.0.0.1", port) ? port : -1);
    if (m_port <= 0) {
      throw std::runtime_error("fake service cannot bind");
    }
  }
  virtual ~FakeService() { stop(); }
  FakeService(const FakeService&) = delete;
  FakeService& operator=(const FakeService&) = delete;

  void start() {
    m_thread = std::thread([this] { m_server.listen_after_bind(); });
    while (!m_server.is_running()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  void stop() {
    if (m_thread.joinable()) {
      m_server.stop();
      m_thread.join();
    }
  }

  std::string base() const { return "http://127.0.0.1:" + std::to_string(m_port); }
  int port() const { return m_port; }

  std::vector<Seen> seen() {
    std::lock_guard lock(m_mutex);
    return m_seen;
  }
  std::size_t count() {
    std::lock_guard lock(m_mutex);
    return m_seen.size();
  }
  // The requests the service accepted.
  std::size_t accepted() {
    std::lock_guard lock(m_mutex);
    return m_accepted;
  }

protected:
  httplib::Server m_server;
  std::mutex m_mutex;
  std::vector<Seen> m_seen;
  std::size_t m_accepted = 0;
  std::deque<std::int64_t> m_recent; // accepted request times, for rate limits

  void log(const httplib::Request& req, const std::string& answer, bool accepted) {
    Seen seen;
    seen.path = req.path;
    for (const auto& [name, value] : req.params) {
      seen.params[name] = value;
    }
    for (const auto& [name, value] : req.headers) {
      seen.headers[name] = value;
    }
    seen.body = req.body;
    seen.answer = answer;
    m_seen.push_back(std::move(seen));
    if (accepted) {
      ++m_accepted;
    }
  }

  // Returns whether one more request fits count per window (and counts it).
  bool within_rate(int count, std::int64_t window_ms) {
    const std::int64_t now = now_ms();
    while (!m_recent.empty() && m_recent.front() <= now - window_ms) {
      m_recent.pop_front();
    }
    if (static_cast<int>(m_recent.size()) >= count) {
      return false;
    }
    m_recent.push_back(now);
    return true;
  }

private:
  int m_port = 0;
  std::thread m_thread;
};

// DingTalk custom robot: POST /robot/send?access_token=T[&timestamp=&sign=].
class FakeDingTalk : public FakeService {
public:
  std::string token = "dt-token-7f3a";
  std::string secret;                // set: requests must be signed
  std::vector<std::string> keywords; // set: the text must hold one
  int per_minute = 20;
  std::chrono::milliseconds latency{0}; // before each answer, so that callers overlap

  ~FakeDingTalk() override { stop(); }
  FakeDingTalk(const FakeDingTalk&) = delete;
  FakeDingTalk& operator=(const FakeDingTalk&) = delete;
  explicit FakeDingTalk(int port = 0) : FakeService(port) {
    m_server.Post("/robot/send", [this](const httplib::Request& req, httplib::Response& res) {
      std::this_thread::sleep_for(latency);
      std::lock_guard lock(m_mutex);
      const std::string answer = judge(req);
      res.set_content(answer, "application/json");
      log(req, answer, answer.find("\"errcode\":0,") != std::string::npos);
    });
  }
  std::string url() const { return base() + "/robot/send?access_token=" + token; }

private:
  static std::string error(int code, const std::string& message) {
    return nlohmann::json{{"errcode", code}, {"errmsg", message}}.dump();
  }

  std::string judge(const httplib::Request& req) {
    if (req.get_param_value("access_token") != token) {
      return error(300001, "token is not exist");
    }
    if (!secret.empty()) {
      const std::string timestamp = req.get_param_value("timestamp");
      const std::string sign = req.get_param_value("sign"); // httplib has URL-decoded it
      if (timestamp.empty() || sign.empty()) {
        return error(310000, "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]");
      }
      if (std::llabs(now_ms() - std::stoll(timestamp)) > 3'600'000) {
        return error(310000, "invalid timestamp");
      }
      if (sign != reference_base64(reference_hmac(secret, timestamp + "\n" + secret))) {
        return error(310000, "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]");
      }
    }
    auto body = nlohmann::json::parse(req.body, nullptr, false);
    if (body.is_discarded() || body.value("msgtype", "") != "markdown" || !body.contains("markdown") ||
        !body["markdown"].value("title", nlohmann::json()).is_string() ||
        !body["markdown"].value("text", nlohmann::json()).is_string() || body["markdown"]["title"].get<std::string>().empty()) {
      return error(40035, "缺少参数 json");
    }
    const std::string text = body["markdown"]["text"];
    if (!keywords.empty()) {
      bool found = false;
      for (const auto& keyword : keywords) {
        found = found || text.find(keyword) != std::string::npos;
      }
      if (!found) {
        return error(310000, "keywords not in content, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]");
      }
    }
    if (text.size() > 20'000) {
      return error(460101, "message too long, exceed 20000 bytes");
    }
    if (!within_rate(per_minute, 60'000)) {
      return error(130101, "send too fast, exceed 20 times per minute");
    }
    return error(0, "ok");
  }
};

// Feishu custom bot: POST /open-apis/bot/v2/hook/TOKEN.
class FakeFeishu : public FakeService {
public:
  std::string token = "fs-hook-1c9e";
  std::string secret;
  std::vector<std::string> keywords;

  ~FakeFeishu() override { stop(); }
  FakeFeishu(const FakeFeishu&) = delete;
  FakeFeishu& operator=(const FakeFeishu&) = delete;
  explicit FakeFeishu(int port = 0) : FakeService(port) {
    m_server.Post(R"(/open-apis/bot/v2/hook/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(m_mutex);
      int status = 200;
      const std::string answer = judge(req, status);
      res.status = status;
      res.set_content(answer, "application/json");
      log(req, answer, answer.find("\"code\":0,") != std::string::npos);
    });
  }
  std::string url() const { return base() + "/open-apis/bot/v2/hook/" + token; }

private:
  static std::string error(int code, const std::string& message) {
    return nlohmann::json{{"code", code}, {"data", nlohmann::json::object()}, {"msg", message}}.dump();
  }

  std::string judge(const httplib::Request& req, int& status) {
    if (req.matches[1] != token) {
      return error(19001, "param invalid: incoming webhook access token invalid");
    }
    if (req.body.size() > 20 * 1024) {
      status = 400;
      return error(9499, "Bad Request");
    }
    auto body = nlohmann::json::parse(req.body, nullptr, false);
    if (body.is_discarded()) {
      status = 400;
      return error(9499, "Bad Request");
    }
    if (!secret.empty()) {
      const std::string timestamp = body.value("timestamp", "");
      const std::string sign = body.value("sign", "");
      const bool fresh = !timestamp.empty() && std::llabs(now_ms() / 1000 - std::stoll(timestamp)) <= 3600;
      if (!fresh || sign != reference_base64(reference_hmac(timestamp + "\n" + secret, ""))) {
        return error(19021, "sign match fail or timestamp is not within one hour from current time");
      }
    }
    if (body.value("msg_type", "") != "interactive" || !body.contains("card") ||
        !body["card"]["header"]["title"]["content"].is_string() || !body["card"]["elements"].is_array() ||
        body["card"]["elements"].empty() || body["card"]["elements"][0].value("tag", "") != "markdown") {
      return error(9499, "Bad Request");
    }
    const std::string content = body["card"]["elements"][0].value("content", "");
    if (!keywords.empty()) {
      bool found = false;
      for (const auto& keyword : keywords) {
        found = found || content.find(keyword) != std::string::npos;
      }
      if (!found) {
        return error(19024, "Key Words Not Found");
      }
    }
    if (!within_rate(5, 1000)) {
      return error(11232, "frequency limited psm[lark.oapi.app_platform_runtime]appID[1]");
    }
    return nlohmann::json{{"StatusCode", 0}, {"StatusMessage", "success"}, {"code", 0}, {"data", nlohmann::json::object()},
                          {"msg", "success"}}
      .dump();
  }
};

// WeCom group robot: POST /cgi-bin/webhook/send?key=KEY.
class FakeWeCom : public FakeService {
public:
  std::string key = "wc-key-5b21";

  ~FakeWeCom() override { stop(); }
  FakeWeCom(const FakeWeCom&) = delete;
  FakeWeCom& operator=(const FakeWeCom&) = delete;
  explicit FakeWeCom(int port = 0) : FakeService(port) {
    m_server.Post("/cgi-bin/webhook/send", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(m_mutex);
      const std::string answer = judge(req);
      res.set_content(answer, "application/json");
      log(req, answer, answer.find("\"errcode\":0,") != std::string::npos);
    });
  }
  std::string url() const { return base() + "/cgi-bin/webhook/send?key=" + key; }

private:
  static std::string error(int code, const std::string& message) {
    return nlohmann::json{{"errcode", code}, {"errmsg", message}}.dump();
  }

  std::string judge(const httplib::Request& req) {
    if (req.get_param_value("key") != key) {
      return error(93000, "invalid webhook url, hint: [1700000000_1_abc], from ip: 127.0.0.1");
    }
    auto body = nlohmann::json::parse(req.body, nullptr, false);
    if (body.is_discarded()) {
      return error(40001, "invalid json");
    }
    const std::string type = body.value("msgtype", "");
    if (type == "markdown") {
      if (!body["markdown"]["content"].is_string()) {
        return error(44004, "empty content");
      }
      if (body["markdown"]["content"].get<std::string>().size() > 4096) {
        return error(40058, "markdown.content exceed max length 4096. invalid Request Parameter");
      }
    } else if (type == "text") {
      if (!body["text"]["content"].is_string()) {
        return error(44004, "empty content");
      }
      if (body["text"]["content"].get<std::string>().size() > 2048) {
        return error(40058, "text.content exceed max length 2048. invalid Request Parameter");
      }
    } else {
      return error(40008, "invalid message type");
    }
    if (!within_rate(20, 60'000)) {
      return error(45009, "api freq out of limit");
    }
    return error(0, "ok");
  }
};

// Slack incoming webhook: POST /services/T000/B000/XXXX.
class FakeSlack : public FakeService {
public:
  std::string path = "/services/T0001/B0002/hookhookhook";
  int throttle_next = 0; // answer this many requests with 429
  int retry_after = 1;

  ~FakeSlack() override { stop(); }
  FakeSlack(const FakeSlack&) = delete;
  FakeSlack& operator=(const FakeSlack&) = delete;
  explicit FakeSlack(int port = 0) : FakeService(port) {
    m_server.Post(R"(/services/.*)", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(m_mutex);
      int status = 200;
      const std::string answer = judge(req, status);
      res.status = status;
      if (status == 429) {
        res.set_header("Retry-After", std::to_string(retry_after));
      }
      res.set_content(answer, "text/html");
      log(req, answer, status == 200);
    });
  }
  std::string url() const { return base() + path; }

private:
  std::string judge(const httplib::Request& req, int& status) {
    if (req.path != path) {
      status = 404;
      return "no_service";
    }
    if (throttle_next > 0) {
      --throttle_next;
      status = 429;
      return "rate_limited";
    }
    auto body = nlohmann::json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.value("text", nlohmann::json()).is_string()) {
      status = 400;
      return "invalid_payload";
    }
    if (body.contains("blocks")) {
      if (!body["blocks"].is_array() || body["blocks"].size() > 50) {
        status = 400;
        return "invalid_blocks";
      }
      for (const auto& block : body["blocks"]) {
        const std::string text = block["text"].value("text", "");
        std::size_t characters = 0;
        for (char c : text) {
          characters += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
        }
        const std::string type = block.value("type", "");
        if ((type == "section" && characters > 3000) || (type == "header" && characters > 150)) {
          status = 400;
          return "invalid_blocks";
        }
      }
    }
    return "ok";
  }
};

// Any HTTP endpoint: answers `status` (200 by default) to everything.
class FakeWebhook : public FakeService {
public:
  int status = 200;

  ~FakeWebhook() override { stop(); }
  FakeWebhook(const FakeWebhook&) = delete;
  FakeWebhook& operator=(const FakeWebhook&) = delete;
  explicit FakeWebhook(int port = 0) : FakeService(port) {
    auto handler = [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(m_mutex);
      res.status = status;
      const std::string answer = status < 300 ? "accepted" : "broken";
      res.set_content(answer, "text/plain");
      log(req, answer, status < 300);
    };
    m_server.Post(R"(/.*)", handler);
    m_server.Put(R"(/.*)", handler);
  }
  std::string url() const { return base() + "/hook"; }
};

// Returns a notifier of kind named name sending to url.
inline defs::NotifierConfig notifier(std::string name, std::string kind, std::string url) {
  defs::NotifierConfig config;
  config.name = std::move(name);
  config.kind = std::move(kind);
  config.url = std::move(url);
  config.timeout = std::chrono::milliseconds(3000);
  config.where = {"has.yaml", 3, 5};
  return config;
}

} // namespace has::test
