#pragma once

#include "proto/frame.hpp"

#include <string>
#include <string_view>

namespace chatd::net {

// The chatd.v1 subprotocol: JSON text frames both ways (README "The chatd.v1
// protocol"). A client that does not offer it keeps the raw protocol.
inline constexpr std::string_view v1_subprotocol = "chatd.v1";

// Whether a Sec-WebSocket-Protocol request header (a comma-separated list,
// possibly spread over several header lines joined by commas) holds `token`.
bool offers_subprotocol(std::string_view request_protocols, std::string_view token);

// What a v1 client's text frame says: the compact JSON text of its `data`
// (nlohmann's dump()), or why it is refused: `code` is one of "not_json",
// "unknown_type", "missing_data", "bad_message".
struct v1_publish {
  std::string data;
  std::string_view code; // empty: a publish
  std::string_view message;
  bool ok() const { return code.empty(); }
};

v1_publish parse_v1_message(std::string_view text);

// {"user":U,"name":N}, "name" left out when empty; null when anonymous.
std::string v1_from(std::string_view user, std::string_view name);

// The envelope of message `f` for v1 clients:
// {"type":"message","room":R,"from":F,"ts":T,"epoch":E,"offset":O,"data":D}
// (epoch and offset when the message has its place in the room's order), where D is a raw
// text message as a string, a raw binary message as a base64 string (with
// "encoding":"base64"), and a v1 message's data as it was published.
std::string encode_v1_message(const frame& f);

// {"type":"error","code":C,"message":M}
std::string encode_v1_error(std::string_view code, std::string_view message);

// {"type":"resumed","recovered":B,"epoch":E,"offset":O}: the answer to
// ?since=, sent before the messages it replays (README "Order, history and resume").
std::string encode_v1_resumed(bool recovered, std::string_view epoch, std::uint64_t offset);

// A text frame for v1 clients only (see frame::v1_only) holding `envelope`.
std::shared_ptr<frame> make_v1_frame(std::string room, std::string_view envelope,
                                     std::chrono::steady_clock::time_point received_at);

// `f`'s envelope as a frame, made by the first v1 receiver on any thread and
// kept with the message, so every v1 client of every loop gets the same
// bytes (and the same compressed form: net::compressed_form of it).
const frame_ptr& v1_form(const frame& f);

} // namespace chatd::net
