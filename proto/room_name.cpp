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

std::optional<std::string_view> query_parameter(std::string_view target, std::string_view name) {
  auto start = target.find('?');
  if (start == std::string_view::npos)
    return std::nullopt;
  auto query = target.substr(start + 1);
  query = query.substr(0, query.find('#'));
  while (!query.empty()) {
    auto amp = query.find('&');
    auto param = query.substr(0, amp);
    auto eq = param.find('=');
    if (param.substr(0, eq) == name)
      return eq == std::string_view::npos ? std::string_view{} : param.substr(eq + 1);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
  }
  return std::nullopt;
}

std::optional<std::string> percent_decode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
      return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size())
      return std::nullopt;
    int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

} // namespace chatd
