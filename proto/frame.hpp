#pragma once

#include <chrono>
#include <memory>
#include <string>

namespace chatd {

// One message as a client sent it. Read once, then shared read-only by every
// queue that delivers it: receivers hold pointers, never copies.
struct frame {
  std::string room;
  std::string bytes;
  bool binary = false;
  std::chrono::steady_clock::time_point received_at;
};

using frame_ptr = std::shared_ptr<const frame>;

} // namespace chatd
