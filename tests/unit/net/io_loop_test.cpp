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

#include <nlohmann/json.hpp>

#include <mutex>
#include <thread>

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
  void on_forward(std::vector<chatd::frame_ptr> batch) override {
    for (auto& f : batch) {
      auto& loop = server_.loop(chatd::net::home_loop(f->room, server_.loop_count()));
      asio::post(loop.context(), [&loop, f] { loop.sequence({f}); });
    }
  }
  void on_history_request(const std::string& room, const chatd::net::history_request& request, std::uint64_t from,
                          std::uint64_t session) override {
    auto& loop = server_.loop(chatd::net::home_loop(room, server_.loop_count()));
    asio::post(loop.context(),
               [&loop, room, request, from, session] { loop.serve_history(room, request, from, session); });
  }
  void on_history_answer(std::uint64_t to, std::uint64_t session, const chatd::net::history_answer& answer) override {
    auto& loop = server_.loop(to);
    asio::post(loop.context(), [&loop, session, answer] { loop.history_arrived(session, answer); });
  }
  void on_remove(const std::string& room, const std::string& user) override {
    for (std::size_t i = 0; i < server_.loop_count(); ++i)
      if (i != self_) {
        auto& loop = server_.loop(i);
        asio::post(loop.context(), [&loop, room, user] { loop.remove_user(room, user); });
      }
  }
  // Not clustered: every room is this node's to order.
  void on_order_elsewhere(std::vector<chatd::frame_ptr>) override {}
  void on_remote_history_request(const std::string&, const chatd::net::history_request&, std::uint64_t,
                                 std::uint64_t) override {}
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

  // `v1`: offers the chatd.v1 subprotocol.
  std::unique_ptr<websocket::stream<tcp::socket>> connect(const std::string& target, bool v1 = false) {
    auto ws = std::make_unique<websocket::stream<tcp::socket>>(ioc_);
    ws->next_layer().connect({asio::ip::make_address("127.0.0.1"), server_->port()});
    // Beast writes a large message in pieces: without this, Nagle holds the
    // last one for the server's delayed ACK (40 ms a message).
    ws->next_layer().set_option(tcp::no_delay(true));
    timeval tv{10, 0}; // a read that gets nothing fails instead of hanging
    ::setsockopt(ws->next_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (v1)
      ws->set_option(websocket::stream_base::decorator(
          [](websocket::request_type& req) { req.set(beast::http::field::sec_websocket_protocol, "chatd.v1"); }));
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

  static void publish(websocket::stream<tcp::socket>& ws, int n) {
    ws.write(asio::buffer(nlohmann::json{{"type", "publish"}, {"data", n}}.dump()));
  }

  // The next chatd.v1 message envelope (presence frames skipped).
  static nlohmann::json next_message(websocket::stream<tcp::socket>& ws) {
    for (;;) {
      auto j = nlohmann::json::parse(read(ws));
      if (j["type"] != "presence" && j["type"] != "join" && j["type"] != "leave")
        return j;
    }
  }

  void wait_for_connections(double n) {
    for (int i = 0; i < 500 && metrics_.connections.Value() < n; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_EQ(metrics_.connections.Value(), n);
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
  wait_for_connections(7);

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

// Publishers on both loops at once: every member, whichever loop it is on,
// gets the room's messages in one and the same order.
TEST_F(io_loop_test, every_member_on_every_loop_sees_one_order) {
  chatd::net::server_options options;
  options.threads = 2;
  start(options);
  std::vector<std::unique_ptr<websocket::stream<tcp::socket>>> clients;
  for (int i = 0; i < 8; ++i)
    clients.push_back(connect("/rooms/order"));
  wait_for_connections(8);
  constexpr int rounds = 100;
  std::vector<std::jthread> writers;
  for (std::size_t c = 0; c < clients.size(); ++c)
    writers.emplace_back([&, c] {
      for (int n = 0; n < rounds; ++n)
        clients[c]->write(asio::buffer("c" + std::to_string(c) + "-" + std::to_string(n)));
    });
  // A stream is read only once its writer is done (they are not thread-safe);
  // what waits meanwhile (800 short messages each) fits in the socket buffers.
  for (auto& t : writers)
    t.join();
  std::vector<std::vector<std::string>> seen(clients.size());
  for (std::size_t c = 0; c < clients.size(); ++c)
    for (std::size_t n = 0; n < rounds * clients.size(); ++n)
      seen[c].push_back(read(*clients[c]));
  for (std::size_t c = 1; c < clients.size(); ++c)
    EXPECT_EQ(seen[c], seen[0]) << "client " << c << " saw another order than client 0";
}

// A chatd.v1 client gets offsets of one epoch; another that resumes after
// one of them gets exactly the rest, then whatever follows, while a
// publisher keeps going: no gap and no duplicate at the seam, whichever
// loop it lands on and whichever loop orders the room.
TEST_F(io_loop_test, a_resume_continues_without_gap_or_duplicate_while_messages_keep_coming) {
  chatd::net::server_options options;
  options.threads = 2;
  options.history_size = 1000; // every offset stays in history
  start(options);
  auto publisher = connect("/rooms/seam", true);
  wait_for_connections(1);
  for (int n = 1; n <= 5; ++n)
    publish(*publisher, n);
  std::string epoch;
  for (std::uint64_t n = 1; n <= 5; ++n) {
    auto m = next_message(*publisher);
    ASSERT_EQ(m["type"], "message");
    EXPECT_EQ(m["offset"], n);
    if (epoch.empty())
      epoch = m["epoch"];
    EXPECT_EQ(m["epoch"], epoch);
  }

  constexpr int total = 300;
  std::jthread writer([&] { // joined on every way out
    for (int n = 6; n <= total; ++n)
      publish(*publisher, n);
  });
  // The publisher's own copies wait unread in its socket buffers (45 KB).
  // Several resumers, from different offsets, while the writer runs.
  for (std::uint64_t since : {2u, 5u, 0u, 4u}) {
    auto c = connect("/rooms/seam?since=" + epoch + ":" + std::to_string(since), true);
    auto resumed = next_message(*c);
    ASSERT_EQ(resumed["type"], "resumed") << resumed.dump();
    EXPECT_EQ(resumed["recovered"], true);
    EXPECT_EQ(resumed["epoch"], epoch);
    std::uint64_t expect = since + 1;
    while (expect <= total) {
      auto m = next_message(*c);
      ASSERT_EQ(m["type"], "message") << m.dump();
      ASSERT_EQ(m["offset"], expect) << "after resuming from " << since;
      EXPECT_EQ(m["data"], static_cast<int>(expect));
      ++expect;
    }
  }
  writer.join();
  EXPECT_EQ(metrics_.resumes(true).Value(), 4);
}

TEST_F(io_loop_test, a_resume_it_cannot_serve_says_so_and_gives_recent_history) {
  chatd::net::server_options options;
  options.threads = 2;
  options.history_size = 3;
  start(options);
  auto publisher = connect("/rooms/gone", true);
  wait_for_connections(1);
  for (int n = 1; n <= 10; ++n)
    publish(*publisher, n);
  std::string epoch;
  for (int n = 1; n <= 10; ++n)
    epoch = next_message(*publisher)["epoch"];

  auto out_of_history = connect("/rooms/gone?since=" + epoch + ":2", true);
  auto resumed = next_message(*out_of_history);
  EXPECT_EQ(resumed["type"], "resumed");
  EXPECT_EQ(resumed["recovered"], false);
  EXPECT_EQ(resumed["epoch"], epoch);
  EXPECT_EQ(resumed["offset"], 10);
  for (int n = 8; n <= 10; ++n)
    EXPECT_EQ(next_message(*out_of_history)["offset"], n);

  auto other_epoch = connect("/rooms/gone?since=elsewhere-0-1:9", true);
  EXPECT_EQ(next_message(*other_epoch)["recovered"], false);
  EXPECT_EQ(metrics_.resumes(false).Value(), 2);

  auto joiner = connect("/rooms/gone?history=2", true);
  EXPECT_EQ(next_message(*joiner)["offset"], 9);
  EXPECT_EQ(next_message(*joiner)["offset"], 10);
  publish(*publisher, 11);
  EXPECT_EQ(next_message(*joiner)["offset"], 11);
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
  wait_for_connections(2);

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
  wait_for_connections(1);
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
  wait_for_connections(2);
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
