#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>

namespace chatd::itest {

// A port that was free on every address a moment ago, for flags that take a
// fixed port (cluster ports every node must know up front). Taken from below
// the ephemeral range: a port from inside it can be taken meanwhile by any
// outgoing connection of the tests running in parallel (seen: a cluster port
// "in use" when its node started). Never the same port twice in one process:
// the probe is closed at once, so the next call could pick it again (seen:
// two nodes of one test given the same cluster port).
inline unsigned short free_port() {
  unsigned ephemeral_low = 32768;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> ephemeral_low;
  const unsigned low = ephemeral_low > 12000 ? ephemeral_low - 10000 : 2000;
  thread_local std::minstd_rand rng{std::random_device{}()};
  std::uniform_int_distribution<unsigned> pick(low, ephemeral_low - 1);
  static std::mutex given_mutex;
  static std::set<unsigned short> given;
  boost::asio::io_context ioc;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const auto port = static_cast<unsigned short>(pick(rng));
    std::lock_guard lock{given_mutex};
    if (given.contains(port))
      continue;
    boost::asio::ip::tcp::acceptor probe{ioc};
    boost::system::error_code ec;
    probe.open(boost::asio::ip::tcp::v4(), ec);
    if (!ec)
      probe.bind({boost::asio::ip::address_v4::any(), port}, ec);
    if (!ec) {
      given.insert(port);
      return port;
    }
  }
  throw std::runtime_error("no free port below the ephemeral range");
}

} // namespace chatd::itest
