#pragma once

#include <boost/system/error_code.hpp>

#include <chrono>
#include <string>
#include <string_view>

namespace chatd::itest {

struct http_response {
  unsigned status = 0;
  std::string content_type;
  std::string body;
};

// One plain HTTP/1.1 GET on a fresh connection; throws on I/O errors and timeouts.
http_response http_get(unsigned short port, std::string_view target,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10));

struct raw_reply {
  std::string data;
  boost::system::error_code end; // eof or connection_reset when the server closed; timed_out otherwise
};

// Sends `bytes` as they are and collects everything the server sends back
// until it closes the connection (or the deadline passes).
raw_reply raw_exchange(unsigned short port, std::string_view bytes,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10));

} // namespace chatd::itest
