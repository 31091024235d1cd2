#include <has/notify/message.hpp>

#include <has/core/error.hpp>
#include <has/notify/support.hpp>

#include <fmt/format.h>

namespace has::notify {

namespace {

[[noreturn]] void malformed(std::string_view why) {
  throw core::Error(core::ExitCode::io, "a message in the notification outbox cannot be read",
                    std::string(why), "remove it from the state file's outbox table or re-send it");
}

std::string text_of(const nlohmann::json& json, const char* field) {
  auto it = json.find(field);
  if (it == json.end() || !it->is_string()) {
    malformed(fmt::format("field '{}' is missing or not text", field));
  }
  return it->get<std::string>();
}

} // namespace

nlohmann::json to_json(const Message& message) {
  return {{"title", message.title},
          {"text", message.text},
          {"status", probe::status_name(message.status)},
          {"link", message.link ? nlohmann::json(*message.link) : nlohmann::json(nullptr)},
          {"key", message.key},
          {"counts", message.counts}};
}

Message message_from_json(const nlohmann::json& json) {
  if (!json.is_object()) {
    malformed("it is not a JSON object");
  }
  Message message;
  message.title = text_of(json, "title");
  message.text = text_of(json, "text");
  auto status = probe::parse_status(text_of(json, "status"));
  if (!status) {
    malformed("field 'status' is not ok, warning, critical or unknown");
  }
  message.status = *status;
  if (auto link = json.find("link"); link != json.end() && link->is_string()) {
    message.link = link->get<std::string>();
  }
  if (auto key = json.find("key"); key != json.end() && key->is_string()) {
    message.key = key->get<std::string>();
  }
  if (auto counts = json.find("counts"); counts != json.end() && counts->is_object()) {
    for (const auto& [name, value] : counts->items()) {
      if (value.is_number_integer()) {
        message.counts[name] = value.get<int>();
      }
    }
  }
  return message;
}

std::string content_key(const Message& message) {
  return sha256_hex(fmt::format("{}\n{}\n{}\n{}", message.title, message.text,
                                probe::status_name(message.status), message.link.value_or("")))
    .substr(0, 32);
}

} // namespace has::notify
