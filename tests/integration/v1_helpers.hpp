#pragma once

#include "ws_client.hpp"

#include <nlohmann/json.hpp>

#include <memory>
#include <string>

namespace chatd::itest {

// A chatd.v1 client connected to `target` (which may carry ?since= / ?history=).
inline std::unique_ptr<ws_client> v1_client(unsigned short port, const std::string& target) {
  auto c = std::make_unique<ws_client>();
  c->set_subprotocol("chatd.v1");
  c->connect(port, target);
  return c;
}

// The next frame that is not about presence.
inline nlohmann::json next(ws_client& client) {
  for (;;) {
    auto j = nlohmann::json::parse(client.read().data);
    auto type = j.value("type", "");
    if (type != "presence" && type != "join" && type != "leave")
      return j;
  }
}

inline std::string publish(int n) { return nlohmann::json{{"type", "publish"}, {"data", n}}.dump(); }

} // namespace chatd::itest
