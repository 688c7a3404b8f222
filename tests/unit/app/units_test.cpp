#include "app/units.hpp"

#include <gtest/gtest.h>

using namespace std::chrono_literals;
using chatd::app::parse_duration;
using chatd::app::parse_size;

TEST(parse_duration, reads_the_documented_forms) {
  EXPECT_EQ(parse_duration("500ms"), 500ms);
  EXPECT_EQ(parse_duration("3s"), 3s);
  EXPECT_EQ(parse_duration("1m"), 1min);
  EXPECT_EQ(parse_duration("2h"), 2h);
  EXPECT_EQ(parse_duration("7"), 7s);
  EXPECT_EQ(parse_duration("0ms"), 0ms);
}

TEST(parse_duration, refuses_nonsense) {
  for (auto bad : {"", "ms", "banana", "-1s", "3 s", "3sec", "1.5s", "99999999999999999999s", "3S"})
    EXPECT_FALSE(parse_duration(bad)) << bad;
}

TEST(parse_size, reads_bytes_and_binary_units) {
  EXPECT_EQ(parse_size("65536"), 65536u);
  EXPECT_EQ(parse_size("64KiB"), 65536u);
  EXPECT_EQ(parse_size("64k"), 65536u);
  EXPECT_EQ(parse_size("1MiB"), 1048576u);
  EXPECT_EQ(parse_size("1mb"), 1048576u);
  EXPECT_EQ(parse_size("2G"), 2ull << 30);
  EXPECT_EQ(parse_size("10b"), 10u);
}

TEST(parse_size, refuses_nonsense) {
  for (auto bad : {"", "MiB", "1ib", "1 MiB", "-5", "1TiB", "0x10", "99999999999999999999"})
    EXPECT_FALSE(parse_size(bad)) << bad;
}
