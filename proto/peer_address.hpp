#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chatd {

// Where another node's cluster port is: "host:port".
struct peer_address {
  std::string host;
  std::uint16_t port = 0;
  std::string to_string() const { return host + ":" + std::to_string(port); }
  bool operator==(const peer_address&) const = default;
};

// "a:7000,b:7000" (spaces around commas allowed; empty means no peers).
// Nullopt when any entry lacks a host or a port in 1-65535.
std::optional<std::vector<peer_address>> parse_peer_list(std::string_view text);

} // namespace chatd
