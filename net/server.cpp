#include "net/server.hpp"

#include <boost/asio/ip/address.hpp>

#include <cstdio>
#include <random>
#include <system_error>

namespace chatd::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
// What makes this process's epochs its own: no other node, and no earlier
// or later run of this one, hands out offsets under the same epoch.
std::string process_tag() {
  std::random_device random;
  std::uint64_t value = (static_cast<std::uint64_t>(random()) << 32) ^ random();
  char out[17];
  std::snprintf(out, sizeof out, "%012llx", static_cast<unsigned long long>(value & 0xffffffffffffull));
  return out;
}
} // namespace

server::server(server_options options, chat_metrics& metrics)
  : options_(std::move(options))
  , admission_(options_)
  , presence_(options_.presence_max_members) {
  auto tag = process_tag();
  for (std::size_t i = 0; i < options_.threads; ++i) {
    loops_.push_back(std::make_unique<io_loop>(i, options_, metrics, admission_, directory_, tag));
    loops_.back()->set_presence(presence_);
  }
}

void server::listen() {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(options_.bind, ec);
  if (ec)
    throw std::system_error(EINVAL, std::generic_category(), "invalid bind address '" + options_.bind + "'");
  // SO_REUSEPORT would let us share the port with another server of the same
  // user without a word; a plain bind first finds out whether it is taken.
  {
    asio::io_context probe_ctx;
    tcp::acceptor probe(probe_ctx);
    probe.open(address.is_v6() ? tcp::v6() : tcp::v4());
    probe.set_option(tcp::acceptor::reuse_address(true));
    probe.bind({address, options_.port}, ec);
    if (ec)
      throw std::system_error(ec.value(), std::generic_category(),
                              "cannot listen on " + options_.bind + ":" + std::to_string(options_.port));
    port_ = probe.local_endpoint().port();
  }
  tcp::endpoint endpoint{address, port_};
  for (auto& loop : loops_) {
    try {
      loop->listen(endpoint);
    } catch (const boost::system::system_error& e) {
      throw std::system_error(e.code().value(), std::generic_category(),
                              "cannot listen on " + options_.bind + ":" + std::to_string(port_));
    }
  }
}

void server::start() {
  for (auto& loop : loops_)
    loop->start();
}

void server::stop() {
  for (auto& loop : loops_)
    loop->stop();
  for (auto& loop : loops_)
    loop->join();
}

} // namespace chatd::net
