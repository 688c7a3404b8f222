#include "proto/peer_address.hpp"

#include <charconv>

namespace chatd {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ')
    s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ')
    s.remove_suffix(1);
  return s;
}

std::optional<peer_address> parse_peer(std::string_view entry) {
  auto colon = entry.rfind(':');
  if (colon == std::string_view::npos || colon == 0)
    return std::nullopt;
  auto port_text = entry.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 || port > 65535)
    return std::nullopt;
  return peer_address{std::string{entry.substr(0, colon)}, static_cast<std::uint16_t>(port)};
}

} // namespace

std::optional<std::vector<peer_address>> parse_peer_list(std::string_view text) {
  std::vector<peer_address> peers;
  if (trim(text).empty())
    return peers;
  while (true) {
    auto comma = text.find(',');
    auto peer = parse_peer(trim(text.substr(0, comma)));
    if (!peer)
      return std::nullopt;
    peers.push_back(std::move(*peer));
    if (comma == std::string_view::npos)
      return peers;
    text.remove_prefix(comma + 1);
  }
}

} // namespace chatd
