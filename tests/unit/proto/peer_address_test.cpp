#include "proto/peer_address.hpp"

#include <gtest/gtest.h>

using chatd::parse_peer_list;
using chatd::peer_address;

TEST(peer_list, reads_host_port_pairs) {
  auto peers = parse_peer_list("a:7000, 127.0.0.1:7001,chatd-3:65535");
  ASSERT_TRUE(peers);
  EXPECT_EQ(*peers, (std::vector<peer_address>{{"a", 7000}, {"127.0.0.1", 7001}, {"chatd-3", 65535}}));
  EXPECT_EQ((*peers)[1].to_string(), "127.0.0.1:7001");
}

TEST(peer_list, empty_means_no_peers) {
  EXPECT_EQ(parse_peer_list(""), std::vector<peer_address>{});
  EXPECT_EQ(parse_peer_list("  "), std::vector<peer_address>{});
}

TEST(peer_list, refuses_entries_without_host_or_valid_port) {
  for (auto bad : {"a", "a:", ":7000", "a:0", "a:65536", "a:70x", "a:7000,", "a:7000,,b:1", "a:-1"})
    EXPECT_FALSE(parse_peer_list(bad)) << bad;
}
