#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace chatd {

// The room a WebSocket upgrade on "/" joins.
inline constexpr std::string_view default_room = "default";
inline constexpr std::size_t max_room_name_length = 64;

// 1-64 characters of A-Z a-z 0-9 . _ -
bool is_valid_room_name(std::string_view name);

// What a request target says about rooms: "/" is the default room,
// "/rooms/<name>" names one, anything else is not a room route.
struct room_route {
  enum class kind { not_a_room, invalid_name, room };
  kind what = kind::not_a_room;
  std::string room;
};

room_route parse_room_target(std::string_view target);

// The value of query parameter `name` in a request target, as it is there
// (%-escaped); nullopt when the target has none (`name` alone: empty).
std::optional<std::string_view> query_parameter(std::string_view target, std::string_view name);

// `s` with its %XX escapes decoded (RFC 3986 2.1); nullopt when a '%' is
// not followed by two hex digits.
std::optional<std::string> percent_decode(std::string_view s);

} // namespace chatd
