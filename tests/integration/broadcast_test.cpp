#include "chatd_process.hpp"
#include "metrics_scrape.hpp"
#include "ws_client.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace chatd::itest {
namespace {

using namespace std::chrono_literals;

// Several loops, so clients of one room are spread over threads.
const std::vector<std::string> multi_loop_args{"--threads", "4"};

std::vector<std::unique_ptr<ws_client>> connect_clients(unsigned short port, const std::vector<std::string>& targets) {
  std::vector<std::unique_ptr<ws_client>> clients;
  for (const auto& target : targets) {
    clients.push_back(std::make_unique<ws_client>());
    clients.back()->connect(port, target);
  }
  // Sending starts once the server counts every connection: from then on,
  // each client is in its room and must get every message.
  EXPECT_EQ(wait_for_metric(port, "chat_connections", static_cast<double>(targets.size())),
            static_cast<double>(targets.size()));
  return clients;
}

TEST(Broadcast, ReachesEveryClientOfTheRoomIncludingTheSender) {
  chatd_process chatd(multi_loop_args);
  auto clients = connect_clients(chatd.port(), {"/", "/", "/"});

  clients[0]->send_text("hello from 0");
  for (auto& client : clients)
    EXPECT_EQ(client->read(), text_message("hello from 0"));

  clients[2]->send_text("hello from 2");
  for (auto& client : clients)
    EXPECT_EQ(client->read(), text_message("hello from 2"));

  // A duplicate of an earlier message would be read here instead.
  clients[1]->send_text("sentinel");
  for (auto& client : clients)
    EXPECT_EQ(client->read(), text_message("sentinel"));
}

TEST(Broadcast, KeepsTheOpcodeAndEveryByte) {
  chatd_process chatd(multi_loop_args);
  auto clients = connect_clients(chatd.port(), {"/", "/"});

  std::string all_bytes;
  for (int b = 0; b < 256; ++b)
    all_bytes.push_back(static_cast<char>(b));
  const std::vector<ws_message> sent{
      text_message("caf\xc3\xa9 \xe2\x9c\x93 plain text"),
      binary_message(std::string("\0\0\x01zero\0bytes\xff\0", 15)),
      binary_message(all_bytes),
      text_message("binary above, text here"),
      binary_message("text-looking binary"),
  };
  for (const auto& message : sent) {
    if (message.binary)
      clients[0]->send_binary(message.data);
    else
      clients[0]->send_text(message.data);
  }
  for (std::size_t c = 0; c < clients.size(); ++c) {
    SCOPED_TRACE("client " + std::to_string(c));
    for (const auto& message : sent)
      EXPECT_EQ(clients[c]->read(), message);
  }
}

TEST(Broadcast, DeliversEmptyMessages) {
  chatd_process chatd;
  auto clients = connect_clients(chatd.port(), {"/", "/"});

  clients[0]->send_text("");
  clients[0]->send_binary("");
  clients[0]->send_text("after the empty ones");
  for (auto& client : clients) {
    EXPECT_EQ(client->read(), text_message(""));
    EXPECT_EQ(client->read(), binary_message(""));
    EXPECT_EQ(client->read(), text_message("after the empty ones"));
  }
}

TEST(Broadcast, RoomsAreIsolated) {
  chatd_process chatd(multi_loop_args);
  auto clients = connect_clients(chatd.port(), {"/rooms/a", "/rooms/a", "/rooms/b", "/", "/"});
  ws_client& a1 = *clients[0];
  ws_client& a2 = *clients[1];
  ws_client& b1 = *clients[2];
  ws_client& d1 = *clients[3];
  ws_client& d2 = *clients[4];

  a1.send_text("for a");
  b1.send_text("for b");
  d1.send_text("for default");
  for (ws_client* client : {&a1, &a2})
    EXPECT_EQ(client->read(), text_message("for a"));
  EXPECT_EQ(b1.read(), text_message("for b"));
  for (ws_client* client : {&d1, &d2})
    EXPECT_EQ(client->read(), text_message("for default"));

  // Every message above has been fanned out by now, so one that leaked into
  // another room is queued ahead of these and would be read instead.
  a1.send_text("end of a");
  b1.send_text("end of b");
  d1.send_text("end of default");
  for (ws_client* client : {&a1, &a2})
    EXPECT_EQ(client->read(), text_message("end of a"));
  EXPECT_EQ(b1.read(), text_message("end of b"));
  for (ws_client* client : {&d1, &d2})
    EXPECT_EQ(client->read(), text_message("end of default"));
}

TEST(Broadcast, ANewMemberReceivesTheNextMessageOfTheRoom) {
  // Fresh rooms, so that each join creates the room on the new member's
  // loop; members land on loops at random, so try a number of times.
  constexpr int attempts = 40;
  chatd_process chatd(multi_loop_args);
  for (int i = 0; i < attempts; ++i) {
    const std::string room = "/rooms/join-" + std::to_string(i);
    ws_client first, joiner(5s);
    first.connect(chatd.port(), room);
    joiner.connect(chatd.port(), room);
    ASSERT_EQ(wait_for_metric(chatd.port(), "chat_connections", 2), 2.0);

    const ws_message welcome = text_message("welcome " + std::to_string(i));
    first.send_text(welcome.data);
    ASSERT_EQ(first.read(), welcome);
    std::optional<ws_message> got;
    EXPECT_NO_THROW(got = joiner.read());
    ASSERT_EQ(got, welcome) << "attempt " << i << ": the joiner, already counted in chat_connections, missed it";
    first.close();
    joiner.close();
    ASSERT_EQ(wait_for_metric(chatd.port(), "chat_connections", 0), 0.0);
  }
}

TEST(Broadcast, OneSendersThousandMessagesArriveInOrderAtEveryReceiver) {
  constexpr int message_count = 1000;
  chatd_process chatd(multi_loop_args);
  auto clients = connect_clients(chatd.port(), {"/", "/", "/", "/"});
  ws_client& sender = *clients[0];

  for (int seq = 0; seq < message_count; ++seq)
    sender.send_text("seq=" + std::to_string(seq));

  // Everyone, the sender included, must see 0..999 with nothing missing,
  // repeated or reordered; stop at the first difference.
  for (std::size_t c = 0; c < clients.size(); ++c) {
    SCOPED_TRACE("client " + std::to_string(c));
    for (int seq = 0; seq < message_count; ++seq) {
      const ws_message got = clients[c]->read();
      ASSERT_EQ(got, text_message("seq=" + std::to_string(seq))) << "at position " << seq;
    }
  }
}

} // namespace
} // namespace chatd::itest
