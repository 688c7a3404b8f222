#include "net/admission.hpp"

#include <gtest/gtest.h>

using namespace chatd::net;
using namespace std::chrono_literals;

TEST(TokenBucket, AllowsABurstThenTheRate) {
  token_bucket bucket(10, 10);
  const auto start = token_bucket::clock::now();
  for (int i = 0; i < 10; ++i)
    EXPECT_TRUE(bucket.take(start)) << i;
  EXPECT_FALSE(bucket.take(start));
  // 10 a second: one more token after 100 ms, never more than the burst.
  EXPECT_FALSE(bucket.take(start + 50ms));
  EXPECT_TRUE(bucket.take(start + 150ms));
  EXPECT_FALSE(bucket.take(start + 150ms));
  int after_a_long_pause = 0;
  while (bucket.take(start + 1h))
    ++after_a_long_pause;
  EXPECT_EQ(after_a_long_pause, 10);
}

TEST(TokenBucket, RateZeroMeansNoLimit) {
  token_bucket bucket(0, 0);
  const auto now = token_bucket::clock::now();
  for (int i = 0; i < 100'000; ++i)
    ASSERT_TRUE(bucket.take(now));
}

TEST(Admission, OriginsCompareWithoutCaseOrTrailingSlash) {
  server_options options;
  options.allowed_origins = {"https://Chat.Example", "http://localhost:9000/"};
  admission gate(options);
  EXPECT_FALSE(gate.origins_open());
  EXPECT_TRUE(gate.origin_allowed("https://chat.example"));
  EXPECT_TRUE(gate.origin_allowed("http://LOCALHOST:9000"));
  EXPECT_TRUE(gate.origin_allowed("")); // no Origin: not a browser
  EXPECT_FALSE(gate.origin_allowed("https://chat.example.evil"));
  EXPECT_FALSE(gate.origin_allowed("http://chat.example"));
  EXPECT_FALSE(gate.origin_allowed("null"));

  options.allowed_origins = {"https://a.example", "*"};
  EXPECT_TRUE(admission(options).origins_open());
}

TEST(Admission, ConnectionSlotsAreCountedAndReleased) {
  server_options options;
  options.max_connections = 2;
  admission gate(options);
  EXPECT_TRUE(gate.reserve());
  EXPECT_TRUE(gate.reserve());
  EXPECT_FALSE(gate.reserve());
  gate.release();
  EXPECT_TRUE(gate.reserve());
  EXPECT_FALSE(gate.reserve());
}

TEST(LogLimiter, LetsAFewLinesASecondThroughAndCountsTheRest) {
  log_limiter limiter(3);
  int allowed = 0;
  for (int i = 0; i < 100; ++i)
    allowed += limiter.allow().has_value();
  EXPECT_EQ(allowed, 3);
  EXPECT_EQ(suppressed_note(0), "");
  EXPECT_EQ(suppressed_note(97), " (97 similar lines suppressed)");
}
