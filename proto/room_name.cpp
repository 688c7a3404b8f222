#include "proto/room_name.hpp"

#include <algorithm>

namespace chatd {

bool is_valid_room_name(std::string_view name) {
  if (name.empty() || name.size() > max_room_name_length)
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

room_route parse_room_target(std::string_view target) {
  // The query string never selects a room.
  target = target.substr(0, target.find('?'));
  if (target == "/")
    return {room_route::kind::room, std::string{default_room}};
  constexpr std::string_view prefix = "/rooms/";
  if (!target.starts_with(prefix))
    return {};
  auto name = target.substr(prefix.size());
  if (!is_valid_room_name(name))
    return {room_route::kind::invalid_name, {}};
  return {room_route::kind::room, std::string{name}};
}

} // namespace chatd
