#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace chatd::itest {

// A port that was free on 127.0.0.1 a moment ago, for flags that take a
// fixed port (cluster ports every node must know up front).
inline unsigned short free_port() {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor a{ioc, {boost::asio::ip::make_address("127.0.0.1"), 0}};
  return a.local_endpoint().port();
}

} // namespace chatd::itest
