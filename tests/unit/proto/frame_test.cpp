#include "proto/frame.hpp"

#include <gtest/gtest.h>

using chatd::make_message_frame;

namespace {

// The header a server sends for a final, unmasked frame (RFC 6455 5.2).
std::string header_of(const chatd::frame& f) {
  auto bytes = f.bytes();
  return std::string{bytes.substr(0, bytes.size() - f.payload().size())};
}

TEST(frame, uses_the_shortest_length_form) {
  const auto now = std::chrono::steady_clock::now();
  EXPECT_EQ(header_of(*make_message_frame("r", "", false, now)), std::string("\x81\x00", 2));
  EXPECT_EQ(header_of(*make_message_frame("r", std::string(125, 'a'), true, now)), "\x82\x7d");
  EXPECT_EQ(header_of(*make_message_frame("r", std::string(126, 'a'), false, now)), std::string("\x81\x7e\x00\x7e", 4));
  EXPECT_EQ(header_of(*make_message_frame("r", std::string(65535, 'a'), false, now)), "\x81\x7e\xff\xff");
  EXPECT_EQ(header_of(*make_message_frame("r", std::string(65536, 'a'), false, now)),
            std::string("\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10));
}

TEST(frame, payload_follows_the_header_unchanged) {
  auto f = make_message_frame("lobby", "hello", false, std::chrono::steady_clock::now());
  EXPECT_EQ(f->payload(), "hello");
  EXPECT_EQ(f->bytes(), std::string("\x81\x05hello", 7));
  EXPECT_EQ(f->room, "lobby");
}

} // namespace
