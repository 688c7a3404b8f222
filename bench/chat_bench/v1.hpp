// chatd.v1 for the steady workload (--v1): the client's publish frame, what
// a server text frame says, the upgrade's subprotocol check and the resume
// URL. Header-only so that tests.cpp checks these very functions.
//   client -> server: {"type":"publish","data":{"p":<publisher id>,"s":<seq>}}
//   server -> client: {"type":"message",...,"epoch":E,"offset":O,"data":{"p":P,"s":S}},
//                     {"type":"resumed","recovered":B,"epoch":E,"offset":O}, {"type":"error",...},
//                     and others (presence, join, leave), which the bench ignores.
#pragma once

#include <nlohmann/json.hpp>

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace chatbench {

constexpr std::string_view kV1Subprotocol = "chatd.v1";

// Appends one masked text frame (FIN | text, mask key `mask`) holding the
// publish of (p, s).
inline void append_v1_publish(std::string& out, uint32_t p, uint64_t s, const uint8_t mask[4]) {
  char text[96];
  const int n = std::snprintf(text, sizeof text, "{\"type\":\"publish\",\"data\":{\"p\":%u,\"s\":%llu}}", p,
                              static_cast<unsigned long long>(s));
  const auto len = static_cast<std::size_t>(n);
  out += static_cast<char>(0x81);
  if (len < 126) {
    out += static_cast<char>(0x80 | len);
  } else { // not reached with these numbers; a 16-bit length all the same
    out += static_cast<char>(0x80 | 126);
    out += static_cast<char>(len >> 8);
    out += static_cast<char>(len & 0xff);
  }
  out.append(reinterpret_cast<const char*>(mask), 4);
  for (std::size_t i = 0; i < len; ++i)
    out += static_cast<char>(static_cast<uint8_t>(text[i]) ^ mask[i & 3]);
}

// What one server text frame says.
struct V1Frame {
  enum class Kind { message, resumed, error, other, bad } kind = Kind::bad;
  // message: its place (has_place: the envelope has epoch and offset; not in
  // a cluster run with --cluster-order off) and its data; resumed: where the room is now
  bool has_place = false;
  std::string epoch;
  uint64_t offset = 0;
  uint32_t p = 0;
  uint64_t s = 0;
  bool recovered = false; // resumed
};

// bad: not JSON, not an object, no string "type", a message whose data is not
// {"p":<uint32>,"s":<uint64>,...} or whose epoch/offset are of the wrong type,
// a resumed without a boolean recovered, a string epoch and a number offset.
inline V1Frame parse_v1_frame(std::string_view text) {
  V1Frame f;
  auto j = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return f;
  auto type = j.find("type");
  if (type == j.end() || !type->is_string())
    return f;
  const auto& t = type->get_ref<const std::string&>();
  auto epoch = j.find("epoch"), offset = j.find("offset");
  const bool has_epoch = epoch != j.end(), has_offset = offset != j.end();
  const bool place_ok = has_epoch && epoch->is_string() && has_offset && offset->is_number_unsigned();
  if (t == "message") {
    if ((has_epoch || has_offset) && !place_ok)
      return f;
    auto data = j.find("data");
    if (data == j.end() || !data->is_object())
      return f;
    auto p = data->find("p"), s = data->find("s");
    if (p == data->end() || s == data->end() || !p->is_number_unsigned() || !s->is_number_unsigned() ||
        p->get<uint64_t>() > UINT32_MAX)
      return f;
    f.p = static_cast<uint32_t>(p->get<uint64_t>());
    f.s = s->get<uint64_t>();
    f.kind = V1Frame::Kind::message;
  } else if (t == "resumed") {
    auto rec = j.find("recovered");
    if (!place_ok || rec == j.end() || !rec->is_boolean())
      return f;
    f.recovered = rec->get<bool>();
    f.kind = V1Frame::Kind::resumed;
  } else {
    f.kind = t == "error" ? V1Frame::Kind::error : V1Frame::Kind::other;
    return f;
  }
  if (place_ok) {
    f.has_place = true;
    f.epoch = epoch->get<std::string>();
    f.offset = offset->get<uint64_t>();
  }
  return f;
}

// Whether the head of an HTTP answer (status line and headers) has a
// Sec-WebSocket-Protocol header whose value is `token`.
inline bool answer_selects_subprotocol(std::string_view head, std::string_view token) {
  constexpr std::string_view name = "sec-websocket-protocol:";
  std::size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos) {
    pos += 2;
    auto eol = head.find("\r\n", pos);
    std::string_view line = head.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    bool match = line.size() >= name.size();
    for (std::size_t i = 0; match && i < name.size(); ++i)
      match = std::tolower(static_cast<unsigned char>(line[i])) == name[i];
    if (match) {
      std::string_view v = line.substr(name.size());
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
        v.remove_prefix(1);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t'))
        v.remove_suffix(1);
      if (v == token)
        return true;
    }
    pos = eol;
  }
  return false;
}

// "E:O", what ?since= carries.
inline std::string v1_since(const std::string& epoch, uint64_t offset) { return epoch + ":" + std::to_string(offset); }

// The upgrade target resuming from `since` ("E:O"); `path` itself when since is empty.
inline std::string v1_resume_target(const std::string& path, const std::string& since) {
  if (since.empty())
    return path;
  return path + (path.find('?') == std::string::npos ? "?" : "&") + "since=" + since;
}

} // namespace chatbench
