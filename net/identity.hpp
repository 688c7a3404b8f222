#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace chatd::net {

// Who is on the other end of a WebSocket, as its token said (see
// net/auth.hpp). Without --auth-jwt-key every client is anonymous.
struct identity {
  std::string user; // the token's `sub`; empty: anonymous
  std::string name; // the token's `name`; may be empty
  // The token's `exp`: the connection is closed with 4001 when it passes.
  std::optional<std::chrono::system_clock::time_point> expires;

  bool anonymous() const { return user.empty(); }
};

} // namespace chatd::net
