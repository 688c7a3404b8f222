// Unit tests for chat-bench's histogram, payload/frame encoding and chatd.v1 frames.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "histogram.hpp"
#include "payload.hpp"
#include "range_set.hpp"
#include "v1.hpp"

using namespace chatbench;

static int failures = 0;
#define CHECK(cond)                                                                                                    \
  do {                                                                                                                 \
    if (!(cond)) {                                                                                                     \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                                    \
      ++failures;                                                                                                      \
    }                                                                                                                  \
  } while (0)

static void test_histogram_small_exact() {
  Histogram h;
  for (uint64_t v = 1; v <= 100; ++v)
    h.record(v);
  CHECK(h.count() == 100);
  CHECK(h.min() == 1);
  CHECK(h.max() == 100);
  CHECK(h.percentile(0.5) == 50);
  CHECK(h.percentile(0.99) == 99);
  CHECK(h.percentile(1.0) == 100);
}

static void test_histogram_relative_error() {
  std::mt19937_64 rng(42);
  std::vector<uint64_t> vals;
  Histogram h;
  for (int i = 0; i < 200000; ++i) {
    uint64_t v = rng() % 5'000'000'000ULL + 1; // up to 5 s in ns
    if (i % 3 == 0)
      v %= 100000;
    vals.push_back(v);
    h.record(v);
  }
  std::sort(vals.begin(), vals.end());
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    uint64_t exact = vals[static_cast<size_t>(q * vals.size() + 0.5) - 1];
    uint64_t got = h.percentile(q);
    double err = std::abs(static_cast<double>(got) - static_cast<double>(exact)) / static_cast<double>(exact);
    CHECK(err < 0.01);
    CHECK(got >= exact);
  }
  CHECK(h.max() == vals.back());
}

static void test_histogram_buckets_monotonic() {
  for (uint64_t v : {0ULL, 1ULL, 127ULL, 128ULL, 255ULL, 256ULL, 1000ULL, 123456789ULL, (1ULL << 40) + 5})
    CHECK(Histogram::upper(Histogram::index(v)) >= v);
  int prev = -1;
  for (uint64_t v = 0; v < 1'000'000; v += 7) {
    int i = Histogram::index(v);
    CHECK(i >= prev);
    prev = i;
  }
  Histogram h;
  h.record(UINT64_MAX); // clamps into the last bucket, max stays exact
  CHECK(h.max() == UINT64_MAX);
  Histogram a, b;
  a.record(10);
  b.record(1000);
  a.merge(b);
  CHECK(a.count() == 2 && a.min() == 10 && a.max() == 1000);
}

// for_each lists the non-empty buckets (the --dump-hist JSON); summing them
// bucket by bucket (what bench/compare does for split runs) equals merge().
static void test_histogram_for_each() {
  Histogram a, b, m;
  for (uint64_t v = 1; v < 2'000'000; v = v * 3 + 1) {
    a.record(v);
    b.record(v * 2);
  }
  m.merge(a);
  m.merge(b);
  std::vector<uint64_t> sum(Histogram::kBuckets, 0);
  uint64_t n = 0;
  int prev = -1;
  bool ordered = true;
  for (const Histogram* h : {&a, &b})
    h->for_each([&](int i, uint64_t c) {
      sum[i] += c;
      n += c;
    });
  m.for_each([&](int i, uint64_t c) {
    ordered = ordered && i > prev;
    prev = i;
    CHECK(sum[i] == c);
    sum[i] = 0;
  });
  CHECK(ordered);
  CHECK(n == m.count());
  for (uint64_t c : sum)
    CHECK(c == 0);
}

static void test_payload_roundtrip() {
  uint8_t buf[kPayloadSize];
  Payload in{7, 123456789012ULL, 987654321098765ULL}, out;
  encode_payload(buf, in);
  CHECK(decode_payload(buf, kPayloadSize, out));
  CHECK(out.publisher == 7 && out.seq == in.seq && out.sent_ns == in.sent_ns);
  CHECK(!decode_payload(buf, kPayloadSize - 1, out));
  buf[0] ^= 1;
  CHECK(!decode_payload(buf, kPayloadSize, out));
}

static void test_frame_mask_and_stamp() {
  ClientFrame f(0xdeadbeef);
  uint8_t fr[kFrameSize];
  f.build(fr, Payload{1, 0, 0});
  CHECK(fr[0] == 0x82);
  CHECK(fr[1] == (0x80 | kPayloadSize));
  f.stamp(fr, Payload{3, 42, 99});
  uint8_t p[kPayloadSize];
  std::memcpy(p, fr + kFrameHeader, kPayloadSize);
  ClientFrame::unmask(p, kPayloadSize, fr + 2);
  Payload out;
  CHECK(decode_payload(p, kPayloadSize, out));
  CHECK(out.publisher == 3 && out.seq == 42 && out.sent_ns == 99);
  CHECK(p[63] == 'x');
}

static void test_range_set() {
  using R = std::vector<std::pair<uint64_t, uint64_t>>;
  RangeSet s;
  CHECK(s.add(0) == RangeSet::Added::in_order);
  CHECK(s.add(1) == RangeSet::Added::in_order);
  CHECK(s.add(2) == RangeSet::Added::in_order);
  CHECK(s.add(7) == RangeSet::Added::in_order); // a gap (missed 3..6) is still in order
  CHECK(s.add(8) == RangeSet::Added::in_order);
  CHECK((s.ranges() == R{{0, 2}, {7, 8}}));
  CHECK(s.add(1) == RangeSet::Added::duplicate);
  CHECK(s.add(8) == RangeSet::Added::duplicate);
  CHECK(s.add(5) == RangeSet::Added::out_of_order);
  CHECK((s.ranges() == R{{0, 2}, {5, 5}, {7, 8}}));
  CHECK(s.add(6) == RangeSet::Added::out_of_order); // closes the gap to 7..8
  CHECK((s.ranges() == R{{0, 2}, {5, 8}}));
  CHECK(s.add(3) == RangeSet::Added::out_of_order);
  CHECK(s.add(4) == RangeSet::Added::out_of_order); // closes 0..3 and 5..8
  CHECK((s.ranges() == R{{0, 8}}));
  CHECK(s.size() == 9 && s.contains(0) && s.contains(8) && !s.contains(9));
  RangeSet t;
  for (uint64_t v : {10, 12, 14, 11, 13, 0})
    t.add(v);
  CHECK((t.ranges() == R{{0, 0}, {10, 14}}));
  CHECK(!t.contains(5) && t.contains(12) && t.size() == 6);
  // random insertions against a plain set
  std::mt19937_64 rng(7);
  RangeSet u;
  std::vector<bool> in(500, false);
  for (int i = 0; i < 2000; ++i) {
    uint64_t v = rng() % 500;
    auto r = u.add(v);
    CHECK((r == RangeSet::Added::duplicate) == in[v]);
    in[v] = true;
  }
  uint64_t n = 0;
  for (uint64_t v = 0; v < 500; ++v) {
    CHECK(u.contains(v) == in[v]);
    n += in[v];
  }
  CHECK(u.size() == n);
  for (std::size_t i = 1; i < u.ranges().size(); ++i)
    CHECK(u.ranges()[i - 1].second + 1 < u.ranges()[i].first); // disjoint, not adjacent
}

static void test_parse_server_frame() {
  ServerFrame f;
  const uint8_t short_text[] = {0x81, 0x03, 'a', 'b', 'c'};
  CHECK(parse_server_frame(short_text, 1, f) == FrameParse::need_more);
  CHECK(parse_server_frame(short_text, 2, f) == FrameParse::complete); // payload may follow later
  CHECK(f.opcode == 0x1 && f.header == 2 && f.length == 3);
  const uint8_t medium[] = {0x82, 126, 0x01, 0x00};
  CHECK(parse_server_frame(medium, 3, f) == FrameParse::need_more);
  CHECK(parse_server_frame(medium, 4, f) == FrameParse::complete);
  CHECK(f.opcode == 0x2 && f.header == 4 && f.length == 256);
  const uint8_t large[] = {0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0};
  CHECK(parse_server_frame(large, 9, f) == FrameParse::need_more);
  CHECK(parse_server_frame(large, 10, f) == FrameParse::complete);
  CHECK(f.header == 10 && f.length == 65536);
  const uint8_t masked[] = {0x81, 0x83, 1, 2, 3, 4};
  CHECK(parse_server_frame(masked, sizeof masked, f) == FrameParse::masked);
}

// A v1 publish: one masked FIN text frame whose unmasked payload is the publish JSON.
static void test_v1_publish_frame() {
  const uint8_t mask[4] = {0x11, 0x22, 0x33, 0x44};
  std::string out;
  append_v1_publish(out, 1000, 17, mask);
  append_v1_publish(out, 4294967295u, 18446744073709551615ull, mask); // two frames, one buffer
  const std::string want1 = "{\"type\":\"publish\",\"data\":{\"p\":1000,\"s\":17}}";
  const std::string want2 = "{\"type\":\"publish\",\"data\":{\"p\":4294967295,\"s\":18446744073709551615}}";
  const auto* b = reinterpret_cast<const uint8_t*>(out.data());
  CHECK(out.size() == 6 + want1.size() + 6 + want2.size());
  std::size_t off = 0;
  for (const std::string* want : {&want1, &want2}) {
    CHECK(b[off] == 0x81);
    CHECK(b[off + 1] == (0x80 | want->size()));
    CHECK(std::memcmp(b + off + 2, mask, 4) == 0);
    std::string plain(out, off + 6, want->size());
    ClientFrame::unmask(reinterpret_cast<uint8_t*>(plain.data()), plain.size(), mask);
    CHECK(plain == *want);
    off += 6 + want->size();
  }
}

static void test_v1_parse_frame() {
  auto m = parse_v1_frame("{\"type\":\"message\",\"room\":\"t\",\"from\":null,\"ts\":123,"
                          "\"epoch\":\"3f9a0c1b22de-0-1\",\"offset\":42,\"data\":{\"p\":1000,\"s\":17}}");
  CHECK(m.kind == V1Frame::Kind::message && m.has_place);
  CHECK(m.epoch == "3f9a0c1b22de-0-1" && m.offset == 42 && m.p == 1000 && m.s == 17);
  m = parse_v1_frame(
      "{\"data\":{\"s\":0,\"p\":0},\"offset\":1,\"type\":\"message\",\"epoch\":\"a-1\"}"); // any key order
  CHECK(m.kind == V1Frame::Kind::message && m.epoch == "a-1" && m.offset == 1 && m.p == 0 && m.s == 0);
  m = parse_v1_frame("{\"type\":\"message\",\"data\":{\"p\":3,\"s\":4}}"); // --cluster-order off
  CHECK(m.kind == V1Frame::Kind::message && !m.has_place && m.p == 3 && m.s == 4);
  for (const char* bad : {"{\"type\":\"message\",\"epoch\":\"e\",\"offset\":1,\"data\":{\"text\":\"hi\"}}",
                          "{\"type\":\"message\",\"epoch\":\"e\",\"offset\":1,\"data\":\"hello\"}",
                          "{\"type\":\"message\",\"epoch\":\"e\",\"offset\":1,\"data\":{\"p\":-1,\"s\":1}}",
                          "{\"type\":\"message\",\"epoch\":\"e\",\"offset\":1,\"data\":{\"p\":4294967296,\"s\":1}}",
                          "{\"type\":\"message\",\"epoch\":\"e\",\"offset\":1,\"data\":{\"p\":1,\"s\":1.5}}",
                          "{\"type\":\"message\",\"epoch\":7,\"offset\":1,\"data\":{\"p\":1,\"s\":1}}",
                          "{\"type\":\"message\",\"epoch\":\"e\",\"data\":{\"p\":1,\"s\":1}}",
                          "{\"type\":\"resumed\",\"epoch\":\"e\",\"offset\":1}", "not json", "[1,2]", "{\"type\":3}",
                          "{\"data\":{}}", ""})
    CHECK(parse_v1_frame(bad).kind == V1Frame::Kind::bad);
  auto r = parse_v1_frame("{\"type\":\"resumed\",\"recovered\":false,\"epoch\":\"b-2\",\"offset\":0}");
  CHECK(r.kind == V1Frame::Kind::resumed && !r.recovered && r.epoch == "b-2" && r.offset == 0);
  r = parse_v1_frame("{\"offset\":9,\"recovered\":true,\"type\":\"resumed\",\"epoch\":\"b-2\"}");
  CHECK(r.kind == V1Frame::Kind::resumed && r.recovered && r.offset == 9);
  CHECK(parse_v1_frame("{\"type\":\"error\",\"code\":\"not_json\",\"message\":\"x\"}").kind == V1Frame::Kind::error);
  CHECK(parse_v1_frame("{\"type\":\"presence\",\"members\":[],\"anonymous\":3}").kind == V1Frame::Kind::other);
  CHECK(parse_v1_frame("{\"type\":\"join\",\"user\":\"bob\"}").kind == V1Frame::Kind::other);
}

static void test_v1_handshake_and_resume_target() {
  const std::string ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
                         "sec-websocket-protocol:  chatd.v1 \r\nServer: chatd";
  CHECK(answer_selects_subprotocol(ok, kV1Subprotocol));
  CHECK(!answer_selects_subprotocol("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nServer: chatd",
                                    kV1Subprotocol));
  CHECK(!answer_selects_subprotocol("HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Protocol: chatd.v2",
                                    kV1Subprotocol));
  CHECK(!answer_selects_subprotocol("HTTP/1.1 101 Sec-WebSocket-Protocol: chatd.v1", kV1Subprotocol)); // status line
  CHECK(v1_since("3f9a-0-1", 42) == "3f9a-0-1:42");
  CHECK(v1_resume_target("/rooms/t", "") == "/rooms/t");
  CHECK(v1_resume_target("/rooms/t", "e-1:5") == "/rooms/t?since=e-1:5");
  CHECK(v1_resume_target("/rooms/t?token=x", "e-1:5") == "/rooms/t?token=x&since=e-1:5");
}

int main() {
  test_histogram_small_exact();
  test_histogram_relative_error();
  test_histogram_buckets_monotonic();
  test_histogram_for_each();
  test_payload_roundtrip();
  test_frame_mask_and_stamp();
  test_range_set();
  test_parse_server_frame();
  test_v1_publish_frame();
  test_v1_parse_frame();
  test_v1_handshake_and_resume_target();
  if (failures) {
    std::fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  std::printf("chat-bench-tests: all passed\n");
  return 0;
}
