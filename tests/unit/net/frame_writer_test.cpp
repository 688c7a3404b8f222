// The writer over a real socket pair with a tiny send buffer, so that the
// kernel takes a little at a time and most writes are partial.
#include "net/frame_writer.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <optional>

using chatd::frame;
using chatd::frame_ptr;
using chatd::net::frame_writer;

namespace {

class socket_pair {
public:
  socket_pair() {
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds_.data()) != 0)
      throw std::runtime_error("socketpair");
    int small = 4096;
    ::setsockopt(fds_[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    ::setsockopt(fds_[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    ::fcntl(fds_[0], F_SETFL, O_NONBLOCK);
    ::fcntl(fds_[1], F_SETFL, O_NONBLOCK);
  }
  ~socket_pair() {
    for (int fd : fds_)
      if (fd >= 0)
        ::close(fd);
  }
  int writer() const { return fds_[0]; }
  int reader() const { return fds_[1]; }
  void close_reader() {
    ::close(fds_[1]);
    fds_[1] = -1;
  }

  // Reads whatever is there now (at most `limit` bytes).
  std::string read_some(std::size_t limit = 1500) const {
    std::string out(limit, '\0');
    auto n = ::read(fds_[1], out.data(), out.size());
    out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return out;
  }

private:
  std::array<int, 2> fds_{-1, -1};
};

frame_ptr message(std::size_t size, char fill) {
  return chatd::make_message_frame("r", std::string(size, fill), true, std::chrono::steady_clock::now());
}

frame_ptr control(std::string bytes) {
  auto f = std::make_shared<frame>();
  f->wire = std::move(bytes);
  f->control = true;
  return f;
}

// A pong frame as Beast would send it: opcode 0xA, 2-byte payload.
std::string pong(char tag) { return std::string{"\x8a\x02p"} + tag; }

// Splits what arrived into frames; fails on a frame cut short at the end.
struct parsed {
  unsigned opcode;
  std::string payload;
};
std::vector<parsed> parse(const std::string& wire) {
  std::vector<parsed> out;
  std::size_t at = 0;
  while (at < wire.size()) {
    EXPECT_LE(at + 2, wire.size());
    auto b0 = static_cast<unsigned char>(wire[at]);
    auto b1 = static_cast<unsigned char>(wire[at + 1]);
    EXPECT_EQ(b0 & 0x80, 0x80) << "not final";
    EXPECT_EQ(b1 & 0x80, 0) << "masked";
    std::size_t length = b1 & 0x7f, header = 2;
    if (length == 126) {
      length = (static_cast<unsigned char>(wire[at + 2]) << 8) | static_cast<unsigned char>(wire[at + 3]);
      header = 4;
    } else if (length == 127) {
      length = 0;
      for (int i = 0; i < 8; ++i)
        length = (length << 8) | static_cast<unsigned char>(wire[at + 2 + i]);
      header = 10;
    }
    if (at + header + length > wire.size()) {
      ADD_FAILURE() << "frame cut short at byte " << at;
      break;
    }
    out.push_back({b0 & 0x0fu, wire.substr(at + header, length)});
    at += header + length;
  }
  return out;
}

// Flushes until the writer is empty, reading the other end in between.
std::string drain(frame_writer& w, socket_pair& s, std::size_t& messages, int& partial_flushes) {
  std::string received;
  for (int round = 0; round < 100'000 && !w.empty(); ++round) {
    auto r = w.flush(s.writer());
    EXPECT_EQ(r.error, 0);
    messages += r.messages;
    if (r.blocked)
      ++partial_flushes;
    received += s.read_some();
  }
  for (std::string more; !(more = s.read_some()).empty();)
    received += more;
  EXPECT_TRUE(w.empty());
  return received;
}

TEST(frame_writer, every_frame_arrives_whole_and_in_order_through_partial_writes) {
  socket_pair s;
  frame_writer w;
  std::vector<parsed> expected;
  // Messages of every length form, with Beast's own frames in between.
  const std::size_t sizes[] = {0, 5, 125, 126, 1000, 3000, 70'000};
  for (int i = 0; i < 300; ++i) {
    auto size = sizes[i % 7];
    auto f = message(size, static_cast<char>('a' + i % 26));
    expected.push_back({0x2, std::string{f->payload()}});
    w.push(f);
    if (i % 9 == 0) {
      w.push(control(pong(static_cast<char>('0' + i % 10))));
      expected.push_back({0xa, std::string{"p"} + static_cast<char>('0' + i % 10)});
    }
  }
  EXPECT_GT(w.bytes(), 2'000'000u);
  std::size_t messages = 0;
  int partial = 0;
  auto got = parse(drain(w, s, messages, partial));
  EXPECT_GT(partial, 100);   // the send buffer really was the limit
  EXPECT_EQ(messages, 300u); // control frames are not counted as messages
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].opcode, expected[i].opcode) << i;
    EXPECT_EQ(got[i].payload, expected[i].payload) << i;
  }
  EXPECT_EQ(w.bytes(), 0u);
}

TEST(frame_writer, gathers_many_small_frames_into_few_writes) {
  socket_pair s;
  frame_writer w;
  for (int i = 0; i < 200; ++i)
    w.push(message(10, 'x'));
  // Without a reader the first call fills the socket, the rest waits.
  auto r = w.flush(s.writer());
  EXPECT_EQ(r.error, 0);
  EXPECT_GE(r.messages, 64u); // at least one full gather of 64 frames in one call
  std::size_t messages = r.messages;
  int partial = 0;
  auto got = parse(drain(w, s, messages, partial));
  EXPECT_EQ(got.size(), 200u);
  EXPECT_EQ(messages, 200u);
}

TEST(frame_writer, dropping_keeps_the_frame_in_progress_and_control_frames) {
  socket_pair s;
  frame_writer w;
  w.push(message(50'000, 'a')); // bigger than the socket takes at once
  w.push(message(100, 'b'));
  w.push(control(pong('1')));
  w.push(message(100, 'c'));
  auto r = w.flush(s.writer());
  ASSERT_TRUE(r.blocked);
  // A close as a slow consumer: the waiting messages go, the half-written
  // one is finished, the pong stays, and the close frame goes last.
  EXPECT_EQ(w.drop_unstarted(), 2u);
  w.push(control(std::string{"\x88\x02\x03\xf0", 4}));
  std::size_t messages = r.messages;
  int partial = 0;
  auto got = parse(drain(w, s, messages, partial));
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].payload, std::string(50'000, 'a'));
  EXPECT_EQ(got[1].opcode, 0xau);
  EXPECT_EQ(got[2].opcode, 0x8u);
  EXPECT_EQ(messages, 1u);
}

TEST(frame_writer, a_peer_that_went_away_is_an_error_not_a_signal) {
  socket_pair s;
  frame_writer w;
  s.close_reader();
  w.push(message(10, 'x'));
  auto r = w.flush(s.writer()); // SIGPIPE would end this test binary
  EXPECT_EQ(r.error, EPIPE);
  EXPECT_EQ(w.drop_all(), 1u);
  EXPECT_TRUE(w.empty());
  EXPECT_EQ(w.bytes(), 0u);
}

} // namespace
