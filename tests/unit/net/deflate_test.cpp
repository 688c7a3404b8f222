// permessage-deflate as chatd speaks it: what the negotiation headers say,
// and the one compressed form of a message that every receiver shares.
#include "net/deflate.hpp"

#include <gtest/gtest.h>

#include <thread>

using chatd::frame;
using chatd::make_message_frame;
using chatd::net::agreed_server_window_bits;
using chatd::net::compressed_form;
using chatd::net::deflate_message;
using chatd::net::fits_window;
using chatd::net::honour_offered_window;
using chatd::net::inflate_message;
using chatd::net::offered_server_window_bits;

namespace {

std::shared_ptr<frame> text(std::string payload) {
  return make_message_frame("lobby", payload, false, std::chrono::steady_clock::now());
}

std::string chat_json(int i) {
  return R"({"type":"message","room":"lobby","from":{"user":"alice","name":"Alice"},"ts":17000000)" +
         std::to_string(i) + R"(,"data":"hello everyone, how is it going today?"})";
}

} // namespace

TEST(Deflate, OfferedServerWindowIsTheFirstOffersParameter) {
  EXPECT_EQ(offered_server_window_bits(""), 0);
  EXPECT_EQ(offered_server_window_bits("permessage-deflate"), 0);
  EXPECT_EQ(offered_server_window_bits("permessage-deflate; client_max_window_bits"), 0);
  EXPECT_EQ(offered_server_window_bits("permessage-deflate; server_max_window_bits=8"), 8);
  EXPECT_EQ(offered_server_window_bits("x-other; server_max_window_bits=9, permessage-deflate; "
                                       "server_max_window_bits=12, permessage-deflate; server_max_window_bits=8"),
            12);
  EXPECT_EQ(offered_server_window_bits("Permessage-Deflate; Server_Max_Window_Bits=10"), 10);
  EXPECT_EQ(offered_server_window_bits("permessage-deflate; server_max_window_bits=16"), 0); // invalid: Beast declines
}

TEST(Deflate, AgreedWindowComesFromTheAnswer) {
  EXPECT_EQ(agreed_server_window_bits(""), 0);
  EXPECT_EQ(agreed_server_window_bits("x-other"), 0);
  EXPECT_EQ(agreed_server_window_bits("permessage-deflate; server_no_context_takeover"), 15);
  EXPECT_EQ(agreed_server_window_bits("permessage-deflate; server_no_context_takeover; server_max_window_bits=10"), 10);
}

TEST(Deflate, AnOfferOfEightIsAnsweredWithEight) {
  const std::string beast = "permessage-deflate; server_no_context_takeover; server_max_window_bits=9";
  EXPECT_EQ(honour_offered_window(beast, 8),
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=8");
  EXPECT_EQ(honour_offered_window(beast, 9), beast);
  EXPECT_EQ(honour_offered_window(beast, 0), beast);
  EXPECT_EQ(honour_offered_window("permessage-deflate; server_no_context_takeover", 8),
            "permessage-deflate; server_no_context_takeover");
}

TEST(Deflate, FramesFitTheWindowsTheyGoTo) {
  EXPECT_TRUE(fits_window(1 << 20, 15));
  EXPECT_TRUE(fits_window(256, 8));
  EXPECT_FALSE(fits_window(257, 8));
  EXPECT_TRUE(fits_window(4096, 12));
  EXPECT_FALSE(fits_window(4097, 12));
}

TEST(Deflate, ACompressedMessageIsOneFinalFrameWithRsv1) {
  auto f = text(chat_json(1) + chat_json(2) + chat_json(3));
  auto d = deflate_message(*f);
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->compressed);
  EXPECT_FALSE(d->binary);
  auto bytes = d->bytes();
  EXPECT_EQ(static_cast<unsigned char>(bytes[0]), 0xC1); // FIN + RSV1 + text
  auto payload = d->payload();
  EXPECT_LT(payload.size(), f->payload().size() / 2);
  // The header's length is the compressed payload's.
  auto len = static_cast<unsigned char>(bytes[1]);
  std::size_t length =
      len < 126 ? len : (static_cast<unsigned char>(bytes[2]) << 8 | static_cast<unsigned char>(bytes[3]));
  EXPECT_EQ(length, payload.size());
  auto back = inflate_message(payload, 1 << 20);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, f->payload());
}

TEST(Deflate, BinaryMessagesKeepTheirOpcode) {
  auto f = make_message_frame("lobby", std::string(4000, '\x07'), true, {});
  auto d = deflate_message(*f);
  ASSERT_TRUE(d);
  EXPECT_EQ(static_cast<unsigned char>(d->bytes()[0]), 0xC2);
  EXPECT_EQ(*inflate_message(d->payload(), 1 << 20), f->payload());
}

TEST(Deflate, WhatDoesNotShrinkIsNotCompressed) {
  std::string noise;
  std::uint32_t x = 12345;
  for (int i = 0; i < 2000; ++i) {
    x = x * 1103515245 + 12345;
    noise += static_cast<char>(x >> 24);
  }
  EXPECT_FALSE(deflate_message(*make_message_frame("r", noise, true, {})));
  EXPECT_FALSE(deflate_message(*text("a")));
}

TEST(Deflate, MessagesAreCompressedIndependently) {
  // No context takeover: the same message gives the same bytes whatever came
  // before it, so one compressed form serves every receiver.
  auto a = text(chat_json(7));
  auto first = deflate_message(*a);
  deflate_message(*text(chat_json(8) + chat_json(9)));
  auto again = deflate_message(*a);
  ASSERT_TRUE(first && again);
  EXPECT_EQ(first->bytes(), again->bytes());
}

TEST(Deflate, LargeMessagesRoundTrip) {
  std::string big;
  for (int i = 0; big.size() < 300'000; ++i)
    big += chat_json(i);
  auto f = text(big);
  auto d = deflate_message(*f);
  ASSERT_TRUE(d);
  EXPECT_EQ(static_cast<unsigned char>(d->bytes()[1]) & 0x7f, d->payload().size() > 0xffff ? 127 : 126);
  EXPECT_EQ(*inflate_message(d->payload(), 1 << 20), big);
  EXPECT_FALSE(inflate_message(d->payload(), 1000)); // over the bound
}

TEST(Deflate, InflateRefusesWhatIsNotDeflate) { EXPECT_FALSE(inflate_message("\xff\xff\xff\xff\xff", 1 << 20)); }

TEST(Deflate, TheCompressedFormIsMadeOnceForEveryThread) {
  auto f = text(chat_json(1) + chat_json(2));
  std::vector<const frame*> seen(4);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < seen.size(); ++i)
    threads.emplace_back([&, i] { seen[i] = compressed_form(*f).get(); });
  for (auto& t : threads)
    t.join();
  ASSERT_NE(seen[0], nullptr);
  for (auto* p : seen)
    EXPECT_EQ(p, seen[0]);
}
