// Runs the network side without actors: a stand-in for the broadcaster hands
// each published frame to the other loops, so TSan sees every cross-thread
// hand-off of the net/ code with nothing uninstrumented in between.
#include "net/server.hpp"

#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/time.h>

#include <mutex>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using asio::ip::tcp;

class loopback_events : public chatd::net::loop_events {
public:
  loopback_events(chatd::net::server& server, std::size_t self) : server_(server), self_(self) {}
  void on_join(const std::string&, bool) override {}
  void on_leave(const std::string&, bool) override {}
  void on_node_interest(const std::string&, bool, std::uint64_t) override {}
  void on_publish(std::vector<chatd::frame_ptr> batch) override {
    for (std::size_t i = 0; i < server_.loop_count(); ++i)
      if (i != self_) {
        auto& loop = server_.loop(i);
        asio::post(loop.context(), [&loop, batch] { loop.deliver(batch); });
      }
  }
  void on_stopped() override {}

private:
  chatd::net::server& server_;
  std::size_t self_;
};

class io_loop_test : public ::testing::Test {
protected:
  void start(chatd::net::server_options options) {
    options.bind = "127.0.0.1";
    options.port = 0;
    server_ = std::make_unique<chatd::net::server>(options, metrics_);
    for (std::size_t i = 0; i < server_->loop_count(); ++i) {
      events_.push_back(std::make_unique<loopback_events>(*server_, i));
      server_->loop(i).set_events(events_.back().get());
    }
    server_->listen();
    server_->start();
  }
  void TearDown() override {
    if (server_)
      server_->stop();
  }

  std::unique_ptr<websocket::stream<tcp::socket>> connect(const std::string& target) {
    auto ws = std::make_unique<websocket::stream<tcp::socket>>(ioc_);
    ws->next_layer().connect({asio::ip::make_address("127.0.0.1"), server_->port()});
    // Beast writes a large message in pieces: without this, Nagle holds the
    // last one for the server's delayed ACK (40 ms a message).
    ws->next_layer().set_option(tcp::no_delay(true));
    timeval tv{10, 0}; // a read that gets nothing fails instead of hanging
    ::setsockopt(ws->next_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ws->handshake("127.0.0.1", target);
    return ws;
  }

  // A client that never reads, with a tiny receive buffer so the kernel
  // cannot soak up the backlog for it.
  std::unique_ptr<websocket::stream<tcp::socket>> connect_never_reading(const std::string& target) {
    auto ws = std::make_unique<websocket::stream<tcp::socket>>(ioc_);
    ws->next_layer().open(tcp::v4());
    int small = 4096;
    ::setsockopt(ws->next_layer().native_handle(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    ws->next_layer().connect({asio::ip::make_address("127.0.0.1"), server_->port()});
    ws->handshake("127.0.0.1", target);
    return ws;
  }

  static std::string read(websocket::stream<tcp::socket>& ws) {
    beast::flat_buffer buffer;
    ws.read(buffer);
    return beast::buffers_to_string(buffer.data());
  }

  chatd::chat_metrics metrics_;
  std::unique_ptr<chatd::net::server> server_;
  std::vector<std::unique_ptr<loopback_events>> events_;
  asio::io_context ioc_;
};

TEST_F(io_loop_test, every_member_of_the_room_gets_every_message_across_loops) {
  chatd::net::server_options options;
  options.threads = 2;
  start(options);
  std::vector<std::unique_ptr<websocket::stream<tcp::socket>>> clients;
  for (int i = 0; i < 6; ++i)
    clients.push_back(connect("/rooms/t"));
  auto other_room = connect("/rooms/u");
  // Joins are asynchronous on the server: wait until all seven are in.
  for (int i = 0; i < 500 && metrics_.connections.Value() < 7; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(metrics_.connections.Value(), 7);

  for (int n = 0; n < 50; ++n)
    clients[n % clients.size()]->write(asio::buffer("m" + std::to_string(n)));
  // Each sender's messages in order; all 50 at every member.
  for (auto& c : clients) {
    std::vector<int> last(clients.size(), -1);
    for (int n = 0; n < 50; ++n) {
      auto text = read(*c);
      int seq = std::stoi(text.substr(1));
      auto sender = static_cast<std::size_t>(seq) % clients.size();
      EXPECT_GT(seq, last[sender]);
      last[sender] = seq;
    }
  }
  other_room->write(asio::buffer(std::string{"only u"}));
  EXPECT_EQ(read(*other_room), "only u");
  EXPECT_EQ(metrics_.messages_received.Value(), 51);
}

TEST_F(io_loop_test, a_client_that_never_reads_is_closed_and_others_keep_going) {
  chatd::net::server_options options;
  options.threads = 2;
  options.max_queue_bytes = 64 * 1024;
  options.max_message_bytes = 16 * 1024;
  options.slow_consumer_grace = std::chrono::milliseconds(300);
  start(options);

  auto slow = connect_never_reading("/");
  auto sender = connect("/");
  for (int i = 0; i < 500 && metrics_.connections.Value() < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));

  std::string payload(16 * 1024, 'p');
  sender->binary(true);
  int sent = 0;
  for (; sent < 2000 && metrics_.slow_consumer_closes.Value() == 0; ++sent) {
    sender->write(asio::buffer(payload));
    EXPECT_EQ(read(*sender).size(), payload.size()); // the sender itself keeps receiving
  }
  EXPECT_EQ(metrics_.slow_consumer_closes.Value(), 1);
  EXPECT_LT(sent, 2000);
  sender->write(asio::buffer(payload));
  EXPECT_EQ(read(*sender).size(), payload.size());
}

TEST_F(io_loop_test, over_the_hard_bound_a_client_is_closed_at_once) {
  chatd::net::server_options options;
  options.threads = 1;
  options.max_queue_bytes = 64 * 1024;
  options.hard_queue_bytes = 256 * 1024;
  options.max_message_bytes = 64 * 1024;
  options.slow_consumer_grace = std::chrono::hours(1); // only the hard bound can close it here
  start(options);
  auto slow = connect_never_reading("/");
  for (int i = 0; i < 500 && metrics_.connections.Value() < 1; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  // Messages from elsewhere (another loop or node) keep coming whatever the
  // room's backlog: one batch of 8 x 60 KiB, queued in one pass before
  // anything is written, goes over the hard bound of 256 KiB.
  const std::string payload(60 * 1024, 'p');
  std::vector<chatd::frame_ptr> batch;
  for (int i = 0; i < 8; ++i)
    batch.push_back(chatd::make_message_frame("default", payload, true, std::chrono::steady_clock::now()));
  asio::post(server_->loop(0).context(), [this, batch] { server_->loop(0).deliver(batch); });
  for (int i = 0; i < 500 && metrics_.slow_consumer_closes.Value() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(metrics_.slow_consumer_closes.Value(), 1);
}

TEST_F(io_loop_test, stop_closes_clients_with_going_away) {
  chatd::net::server_options options;
  options.threads = 2;
  start(options);
  auto a = connect("/");
  auto b = connect("/rooms/x");
  for (int i = 0; i < 500 && metrics_.connections.Value() < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::thread stopper([this] { server_->stop(); });
  for (auto* ws : {a.get(), b.get()}) {
    beast::flat_buffer buffer;
    beast::error_code ec;
    ws->read(buffer, ec);
    EXPECT_EQ(ec, websocket::error::closed);
    EXPECT_EQ(ws->reason().code, websocket::close_code::going_away);
  }
  stopper.join();
  server_.reset();
  EXPECT_EQ(metrics_.connections.Value(), 0);
}

TEST(server, a_taken_port_is_refused_with_a_clear_error) {
  asio::io_context ioc;
  tcp::acceptor taken{ioc, {asio::ip::make_address("127.0.0.1"), 0}};
  chatd::chat_metrics metrics;
  chatd::net::server_options options;
  options.bind = "127.0.0.1";
  options.port = taken.local_endpoint().port();
  chatd::net::server server{options, metrics};
  try {
    server.listen();
    FAIL() << "listen succeeded on a taken port";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EADDRINUSE);
    EXPECT_NE(std::string{e.what()}.find("in use"), std::string::npos) << e.what();
  }
}

} // namespace
