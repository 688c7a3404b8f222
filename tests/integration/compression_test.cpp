// permessage-deflate (RFC 7692) end to end: a real chatd, clients that speak
// the wire format byte by byte (to see RSV1 and the negotiation headers) and
// Beast clients with and without compression.
#include "chatd_process.hpp"
#include "metrics_scrape.hpp"
#include "ws_client.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace chatd::itest {
namespace {

using namespace std::chrono_literals;

constexpr char flush_tail[4] = {'\0', '\0', '\xff', '\xff'};

// Raw deflate with a sync flush, the tail left off (RFC 7692 7.2.1).
std::string deflate_raw(std::string_view in) {
  z_stream z{};
  if (deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2");
  std::string out(deflateBound(&z, in.size()) + 16, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_SYNC_FLUSH);
  out.resize(out.size() - z.avail_out - sizeof flush_tail);
  deflateEnd(&z);
  return out;
}

std::string inflate_raw(std::string in) {
  z_stream z{};
  inflateInit2(&z, -15);
  in.append(flush_tail, sizeof flush_tail);
  z.next_in = reinterpret_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char chunk[65536];
  do {
    z.next_out = reinterpret_cast<Bytef*>(chunk);
    z.avail_out = sizeof chunk;
    int rc = inflate(&z, Z_SYNC_FLUSH);
    if (rc != Z_OK && rc != Z_BUF_ERROR && rc != Z_STREAM_END) {
      inflateEnd(&z);
      throw std::runtime_error("not deflate data");
    }
    out.append(chunk, sizeof chunk - z.avail_out);
  } while (z.avail_in > 0 || z.avail_out == 0);
  inflateEnd(&z);
  return out;
}

std::string chat_text(std::size_t at_least) {
  std::string s;
  for (int i = 0; s.size() < at_least; ++i)
    s += R"({"user":"alice","text":"hello everyone, message )" + std::to_string(i) + R"("})";
  return s;
}

struct wire_frame {
  unsigned char first = 0; // FIN, RSV1-3, opcode
  std::string payload;
  bool rsv1() const { return (first & 0x40) != 0; }
  unsigned opcode() const { return first & 0x0f; }
  // The code of a close frame (0 when it carries none).
  unsigned close_code() const {
    return payload.size() < 2 ? 0
                              : static_cast<unsigned char>(payload[0]) << 8 | static_cast<unsigned char>(payload[1]);
  }
};

// A WebSocket client written out by hand: the upgrade request as given, then
// masked frames with any header bits, and the server's frames as they come.
class raw_ws {
public:
  raw_ws() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  ~raw_ws() { ::close(fd_); }
  raw_ws(const raw_ws&) = delete;
  raw_ws& operator=(const raw_ws&) = delete;

  // The answer's head; `extensions` empty: no Sec-WebSocket-Extensions.
  std::string connect(unsigned short port, std::string_view extensions, std::string_view target = "/rooms/z") {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error("connect");
    std::string req = "GET " + std::string{target} +
                      " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    if (!extensions.empty())
      req += "Sec-WebSocket-Extensions: " + std::string{extensions} + "\r\n";
    write_all(req + "\r\n");
    while (buffer_.find("\r\n\r\n") == std::string::npos)
      fill();
    auto end = buffer_.find("\r\n\r\n") + 4;
    std::string head = buffer_.substr(0, end);
    buffer_.erase(0, end);
    return head;
  }

  void send(unsigned opcode, std::string_view payload, bool rsv1 = false, bool fin = true) {
    std::string out;
    out += static_cast<char>((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode);
    if (payload.size() < 126) {
      out += static_cast<char>(0x80 | payload.size());
    } else if (payload.size() <= 0xffff) {
      out += static_cast<char>(0x80 | 126);
      out += static_cast<char>(payload.size() >> 8);
      out += static_cast<char>(payload.size() & 0xff);
    } else {
      out += static_cast<char>(0x80 | 127);
      for (int shift = 56; shift >= 0; shift -= 8)
        out += static_cast<char>((payload.size() >> shift) & 0xff);
    }
    const char mask[4] = {0x11, 0x22, 0x33, 0x44};
    out.append(mask, 4);
    for (std::size_t i = 0; i < payload.size(); ++i)
      out += static_cast<char>(payload[i] ^ mask[i % 4]);
    write_all(out);
  }

  void send_bytes(std::string_view bytes) { write_all(bytes); }

  wire_frame read_frame() {
    need(2);
    wire_frame f;
    f.first = static_cast<unsigned char>(buffer_[0]);
    std::size_t len = static_cast<unsigned char>(buffer_[1]) & 0x7f;
    std::size_t at = 2;
    if (len == 126) {
      need(4);
      len = static_cast<unsigned char>(buffer_[2]) << 8 | static_cast<unsigned char>(buffer_[3]);
      at = 4;
    } else if (len == 127) {
      need(10);
      len = 0;
      for (int i = 2; i < 10; ++i)
        len = len << 8 | static_cast<unsigned char>(buffer_[i]);
      at = 10;
    }
    need(at + len);
    f.payload = buffer_.substr(at, len);
    buffer_.erase(0, at + len);
    return f;
  }

  // The next data frame's message, inflated when RSV1 says so.
  std::string read_message() {
    auto f = read_frame();
    return f.rsv1() ? inflate_raw(f.payload) : f.payload;
  }

private:
  void write_all(std::string_view s) {
    while (!s.empty()) {
      auto n = ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL);
      if (n <= 0)
        throw std::runtime_error("send");
      s.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  void fill() {
    char chunk[65536];
    auto n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0)
      throw std::runtime_error("connection ended or timed out");
    buffer_.append(chunk, static_cast<std::size_t>(n));
  }
  void need(std::size_t n) {
    while (buffer_.size() < n)
      fill();
  }

  int fd_;
  std::string buffer_;
};

std::string extensions_of(const std::string& head) {
  auto at = head.find("Sec-WebSocket-Extensions: ");
  if (at == std::string::npos)
    return {};
  at += std::strlen("Sec-WebSocket-Extensions: ");
  return head.substr(at, head.find("\r\n", at) - at);
}

// Opens a client with `offer`, which chatd must not take: the connection
// opens without the extension and a message comes back as a plain frame.
void expect_uncompressed(unsigned short port, std::string_view offer, std::size_t message_bytes) {
  raw_ws client;
  auto head = client.connect(port, offer);
  ASSERT_TRUE(head.starts_with("HTTP/1.1 101")) << head;
  EXPECT_EQ(extensions_of(head), "");
  const auto text = chat_text(message_bytes);
  client.send(0x1, text);
  auto f = client.read_frame();
  EXPECT_EQ(f.first, 0x81);
  EXPECT_EQ(f.payload, text);
}

constexpr std::string_view browser_offer = "permessage-deflate; client_max_window_bits";

TEST(Compression, NegotiatedWhenOfferedAndMessagesArriveCompressed) {
  chatd_process chatd({"--compression", "on"});
  raw_ws client;
  auto head = client.connect(chatd.port(), browser_offer);
  ASSERT_TRUE(head.starts_with("HTTP/1.1 101")) << head;
  EXPECT_EQ(extensions_of(head), "permessage-deflate; server_no_context_takeover");

  // A compressed message from the client, and an uncompressed one: both come
  // back compressed, as one final frame with RSV1 set.
  const auto text = chat_text(600);
  client.send(0x1, deflate_raw(text), true);
  auto back = client.read_frame();
  EXPECT_EQ(back.first, 0xC1);
  EXPECT_LT(back.payload.size(), text.size() / 2);
  EXPECT_EQ(inflate_raw(back.payload), text);

  client.send(0x2, text);
  back = client.read_frame();
  EXPECT_EQ(back.first, 0xC2);
  EXPECT_EQ(inflate_raw(back.payload), text);

  // Under --compression-min-bytes (64): sent as it is.
  client.send(0x1, "hi there");
  back = client.read_frame();
  EXPECT_EQ(back.first, 0x81);
  EXPECT_EQ(back.payload, "hi there");
}

TEST(Compression, ClientsThatDoNotOfferItGetPlainFrames) {
  chatd_process chatd({"--compression", "on"});
  raw_ws plain, compressed;
  auto head = plain.connect(chatd.port(), "");
  ASSERT_TRUE(head.starts_with("HTTP/1.1 101")) << head;
  EXPECT_EQ(extensions_of(head), "");
  ASSERT_TRUE(compressed.connect(chatd.port(), browser_offer).starts_with("HTTP/1.1 101"));
  ASSERT_EQ(wait_for_metric(chatd.port(), "chat_connections", 2), 2.0);

  const auto text = chat_text(1000);
  compressed.send(0x1, deflate_raw(text), true);
  auto f = plain.read_frame();
  EXPECT_EQ(f.first, 0x81);
  EXPECT_EQ(f.payload, text);
  EXPECT_EQ(compressed.read_message(), text);

  // RSV1 without the extension is a protocol error: 1002.
  plain.send(0x1, deflate_raw(text), true);
  f = plain.read_frame();
  EXPECT_EQ(f.opcode(), 0x8u);
  EXPECT_EQ(f.close_code(), 1002u);
}

TEST(Compression, OffersWithBadParametersAreDeclinedNotRefused) {
  chatd_process chatd({"--compression", "on"});
  // RFC 7692 5: an offer the server cannot accept is declined; the
  // connection opens without the extension.
  for (std::string_view offer :
       {"permessage-deflate; server_max_window_bits=16", "permessage-deflate; server_max_window_bits",
        "permessage-deflate; client_max_window_bits=7", "permessage-deflate; client_max_window_bits=x",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; server_no_context_takeover=1", "permessage-deflate; unknown_parameter"}) {
    SCOPED_TRACE(offer);
    expect_uncompressed(chatd.port(), offer, 300);
  }
}

TEST(Compression, ParametersAreHonoured) {
  chatd_process chatd({"--compression", "on"});
  {
    raw_ws client;
    auto head =
        client.connect(chatd.port(), "permessage-deflate; client_no_context_takeover; client_max_window_bits=10");
    EXPECT_EQ(extensions_of(head),
              "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=10");
    // Each message compressed on its own by the client, as it agreed to.
    for (int i = 0; i < 3; ++i) {
      const auto text = chat_text(500 + i);
      client.send(0x1, deflate_raw(text), true);
      EXPECT_EQ(client.read_message(), text);
    }
  }
  {
    // A window of 8 (which zlib cannot compress with) is agreed to as asked;
    // what goes to this client fits it: messages up to 256 bytes compressed,
    // larger ones plain.
    raw_ws client;
    auto head = client.connect(chatd.port(), "permessage-deflate; server_max_window_bits=8");
    EXPECT_EQ(extensions_of(head), "permessage-deflate; server_no_context_takeover; server_max_window_bits=8");
    const auto small = chat_text(200).substr(0, 250);
    client.send(0x1, small);
    auto f = client.read_frame();
    EXPECT_EQ(f.first, 0xC1);
    EXPECT_EQ(inflate_raw(f.payload), small);
    const auto large = chat_text(2000);
    client.send(0x1, large);
    f = client.read_frame();
    EXPECT_EQ(f.first, 0x81);
    EXPECT_EQ(f.payload, large);
  }
  {
    raw_ws client;
    auto head = client.connect(chatd.port(), "permessage-deflate; server_max_window_bits=12");
    EXPECT_EQ(extensions_of(head), "permessage-deflate; server_no_context_takeover; server_max_window_bits=12");
    const auto text = chat_text(3000);
    client.send(0x1, text);
    EXPECT_EQ(client.read_frame().first, 0xC1);
    const auto large = chat_text(5000);
    client.send(0x1, large);
    auto f = client.read_frame();
    EXPECT_EQ(f.first, 0x81);
    EXPECT_EQ(f.payload, large);
  }
}

TEST(Compression, OffByDefaultAndWhenOff) {
  for (auto args : {std::vector<std::string>{}, std::vector<std::string>{"--compression", "off"}}) {
    chatd_process chatd(args);
    expect_uncompressed(chatd.port(), browser_offer, 1000);
  }
}

TEST(Compression, FragmentedCompressedMessagesAreReassembled) {
  chatd_process chatd({"--compression", "on"});
  raw_ws sender;
  ws_client plain;
  ASSERT_TRUE(sender.connect(chatd.port(), browser_offer).starts_with("HTTP/1.1 101"));
  plain.connect(chatd.port(), "/rooms/z");
  ASSERT_EQ(wait_for_metric(chatd.port(), "chat_connections", 2), 2.0);

  // RSV1 on the first frame only (RFC 7692 6.1), the rest continuations,
  // with a ping between them.
  const auto text = chat_text(5000);
  const auto deflated = deflate_raw(text);
  const auto third = deflated.size() / 3;
  sender.send(0x1, deflated.substr(0, third), true, false);
  sender.send(0x0, deflated.substr(third, third), false, false);
  sender.send(0x9, "ping");
  sender.send(0x0, deflated.substr(2 * third), false, true);

  EXPECT_EQ(plain.read(), text_message(text));
  auto pong = sender.read_frame();
  EXPECT_EQ(pong.first, 0x8A);
  EXPECT_EQ(sender.read_message(), text);
}

TEST(Compression, AMessageInflatingBeyondTheLimitIsClosedWith1009AndOthersKeepWorking) {
  chatd_process chatd({"--compression", "on", "--max-message-bytes", "4096"});
  auto bomb = std::make_unique<raw_ws>();
  ws_client other;
  ASSERT_TRUE(bomb->connect(chatd.port(), browser_offer).starts_with("HTTP/1.1 101"));
  other.connect(chatd.port(), "/rooms/z");
  ASSERT_EQ(wait_for_metric(chatd.port(), "chat_connections", 2), 2.0);

  const std::string huge(1 << 20, 'a'); // a megabyte that deflates to about a kilobyte
  const auto deflated = deflate_raw(huge);
  ASSERT_LT(deflated.size(), 4096u);
  bomb->send(0x1, deflated, true);
  auto f = bomb->read_frame();
  ASSERT_EQ(f.opcode(), 0x8u);
  EXPECT_EQ(f.close_code(), 1009u);
  bomb.reset(); // chatd waits for the client to close its end

  // Nothing of it reached the room; the other client still chats.
  other.send_text("still here");
  EXPECT_EQ(other.read(), text_message("still here"));
  EXPECT_EQ(wait_for_metric(chatd.port(), "chat_connections", 1), 1.0);
}

TEST(Compression, ACompressedFrameDeclaringAHugeLengthIsClosedWith1009) {
  // Found by tests/fuzz: Beast sized its read by the declared length.
  chatd_process chatd({"--compression", "on"});
  auto liar = std::make_unique<raw_ws>();
  ws_client other;
  ASSERT_TRUE(liar->connect(chatd.port(), browser_offer).starts_with("HTTP/1.1 101"));
  other.connect(chatd.port(), "/rooms/z");
  ASSERT_EQ(wait_for_metric(chatd.port(), "chat_connections", 2), 2.0);
  // FIN + RSV1 + text, masked (a zero key), 64-bit length 2^40; then some
  // of it: deflate data that inflates past --max-message-bytes. chatd used
  // to size its read buffer by the declared length and fail to allocate it.
  std::string header{"\xc1\xff\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00", 14};
  liar->send_bytes(header + deflate_raw(std::string(1 << 20, 'a')));
  auto f = liar->read_frame();
  ASSERT_EQ(f.opcode(), 0x8u);
  EXPECT_EQ(f.close_code(), 1009u);
  liar.reset();
  other.send_text("still here");
  EXPECT_EQ(other.read(), text_message("still here"));
  EXPECT_EQ(wait_for_metric(chatd.port(), "chat_connections", 1), 1.0);
}

TEST(Compression, EachMessageIsCompressedOnceForAllItsReceivers) {
  chatd_process chatd({"--compression", "on", "--threads", "2"});
  std::vector<std::unique_ptr<raw_ws>> compressed;
  for (int i = 0; i < 4; ++i) {
    compressed.push_back(std::make_unique<raw_ws>());
    ASSERT_TRUE(compressed.back()->connect(chatd.port(), browser_offer).starts_with("HTTP/1.1 101"));
  }
  ws_client plain;
  plain.connect(chatd.port(), "/rooms/z");
  ASSERT_EQ(wait_for_metric(chatd.port(), "chat_connections", 5), 5.0);

  const auto text = chat_text(2000);
  plain.send_text(text);
  EXPECT_EQ(plain.read(), text_message(text));
  std::string first;
  for (auto& c : compressed) {
    auto f = c->read_frame();
    EXPECT_EQ(f.first, 0xC1);
    EXPECT_EQ(inflate_raw(f.payload), text);
    if (first.empty())
      first = f.payload;
    EXPECT_EQ(f.payload, first); // the same bytes for every receiver
  }
  EXPECT_EQ(wait_for_metric(chatd.port(), "chat_messages_compressed_total", 1), 1.0);
  EXPECT_EQ(wait_for_metric(chatd.port(), "chat_messages_delivered_total", 5), 5.0);
}

TEST(Compression, BeastClientsWithCompressionTalkToPlainOnes) {
  chatd_process chatd({"--compression", "on"});
  ws_client deflating, plain;
  deflating.enable_compression();
  deflating.connect(chatd.port(), "/rooms/mixed");
  plain.connect(chatd.port(), "/rooms/mixed");
  ASSERT_EQ(wait_for_metric(chatd.port(), "chat_connections", 2), 2.0);
  for (int i = 0; i < 20; ++i) {
    const auto text = chat_text(50 + 100 * i);
    ((i % 2) ? plain : deflating).send_text(text);
    EXPECT_EQ(deflating.read(), text_message(text));
    EXPECT_EQ(plain.read(), text_message(text));
  }
  const std::string bytes(3000, '\x01');
  deflating.send_binary(bytes);
  EXPECT_EQ(plain.read(), binary_message(bytes));
  EXPECT_EQ(deflating.read(), binary_message(bytes));
}

} // namespace
} // namespace chatd::itest
