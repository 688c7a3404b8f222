#pragma once

#include "net/admission.hpp"
#include "net/io_loop.hpp"
#include "net/presence_table.hpp"
#include "net/server_options.hpp"

#include <memory>
#include <vector>

namespace chatd::net {

// The network side of a node: options.threads loops sharing one port.
class server {
public:
  server(server_options options, chat_metrics& metrics);

  // Binds every loop's acceptor. Throws std::system_error with a clear message
  // when the address cannot be used (e.g. the port is taken).
  void listen();
  // The port actually bound (differs from options().port when that is 0).
  std::uint16_t port() const { return port_; }

  std::size_t loop_count() const { return loops_.size(); }
  io_loop& loop(std::size_t i) { return *loops_[i]; }
  const server_options& options() const { return options_; }
  const class admission& admission() const { return admission_; }
  room_directory& directory() { return directory_; }
  // Who is in which room, cluster-wide: written by the presence actor, read by the API.
  presence_table& presence() { return presence_; }

  void start();
  // Stops accepting, closes every client with 1001 and waits for the loops to end.
  void stop();

private:
  server_options options_;
  class admission admission_;
  room_directory directory_;
  presence_table presence_;
  std::vector<std::unique_ptr<io_loop>> loops_;
  std::uint16_t port_ = 0;
};

} // namespace chatd::net
