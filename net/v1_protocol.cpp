#include "net/v1_protocol.hpp"

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

namespace chatd::net {

namespace {

using json = nlohmann::json;

std::string_view trim(std::string_view s) {
  constexpr std::string_view blank = " \t";
  auto first = s.find_first_not_of(blank);
  if (first == std::string_view::npos)
    return {};
  return s.substr(first, s.find_last_not_of(blank) - first + 1);
}

// Strings reaching here are valid UTF-8 (text messages are checked before
// they are published; names come from verified tokens); a stray byte
// becomes U+FFFD rather than an exception.
std::string json_string(std::string_view s) {
  return json(std::string{s}).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  auto n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                           reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

} // namespace

bool offers_subprotocol(std::string_view request_protocols, std::string_view token) {
  while (!request_protocols.empty()) {
    auto comma = request_protocols.find(',');
    if (trim(request_protocols.substr(0, comma)) == token)
      return true;
    if (comma == std::string_view::npos)
      break;
    request_protocols.remove_prefix(comma + 1);
  }
  return false;
}

v1_publish parse_v1_message(std::string_view text) {
  auto message = json::parse(text, nullptr, false);
  if (message.is_discarded())
    return {{}, "not_json", "not a JSON text"};
  if (!message.is_object())
    return {{}, "bad_message", "a message is a JSON object"};
  auto type = message.find("type");
  if (type == message.end() || !type->is_string() || type->get_ref<const std::string&>() != "publish")
    return {{}, "unknown_type", "the only type a client sends is \"publish\""};
  auto data = message.find("data");
  if (data == message.end())
    return {{}, "missing_data", "a publish needs \"data\""};
  return {data->dump(-1, ' ', false, json::error_handler_t::replace), {}, {}};
}

std::string v1_from(std::string_view user, std::string_view name) {
  if (user.empty())
    return "null";
  std::string out = "{\"user\":" + json_string(user);
  if (!name.empty())
    out += ",\"name\":" + json_string(name);
  return out + "}";
}

std::string encode_v1_message(const frame& f) {
  // Built in this order (nlohmann's objects sort their keys); the data of a
  // v1 message already is compact JSON and goes in as it is.
  std::string out = "{\"type\":\"message\",\"room\":" + json_string(f.room) + ",\"from\":" + v1_from(f.user, f.name) +
                    ",\"ts\":" + std::to_string(f.ts_ms);
  if (f.offset != 0 && f.epoch)
    out += ",\"epoch\":" + json_string(*f.epoch) + ",\"offset\":" + std::to_string(f.offset);
  switch (f.kind) {
    case message_kind::text: out += ",\"data\":" + json_string(f.payload()); break;
    case message_kind::binary: out += ",\"encoding\":\"base64\",\"data\":\"" + base64(f.payload()) + "\""; break;
    case message_kind::json:
      out += ",\"data\":";
      out += f.payload();
      break;
  }
  return out + "}";
}

std::string encode_v1_error(std::string_view code, std::string_view message) {
  return "{\"type\":\"error\",\"code\":" + json_string(code) + ",\"message\":" + json_string(message) + "}";
}

std::string encode_v1_resumed(bool recovered, std::string_view epoch, std::uint64_t offset) {
  return std::string{"{\"type\":\"resumed\",\"recovered\":"} + (recovered ? "true" : "false") +
         ",\"epoch\":" + json_string(epoch) + ",\"offset\":" + std::to_string(offset) + "}";
}

std::shared_ptr<frame> make_v1_frame(std::string room, std::string_view envelope,
                                     std::chrono::steady_clock::time_point received_at) {
  auto f = make_message_frame(std::move(room), envelope, false, received_at);
  f->v1_only = true;
  return f;
}

const frame_ptr& v1_form(const frame& f) {
  std::call_once(f.v1_once, [&] { f.v1_envelope = make_v1_frame(f.room, encode_v1_message(f), f.received_at); });
  return f.v1_envelope;
}

} // namespace chatd::net
