#include "actors/connection_table.hpp"

#include <gtest/gtest.h>

using chatd::actors::connection_table;

TEST(connection_table, counts_per_room_and_loop) {
  connection_table t{2};
  t.track("a", 0);
  t.track("a", 0);
  t.track("a", 1);
  t.track("b", 1);
  EXPECT_EQ(t.total(), 4u);
  EXPECT_EQ(t.rooms(), 2u);
  EXPECT_EQ(t.in_room("a"), 3u);
  EXPECT_EQ(t.in_room("b"), 1u);
  EXPECT_EQ(t.on_loop(0), 2u);
  EXPECT_EQ(t.on_loop(1), 2u);

  t.untrack("a", 0);
  t.untrack("a", 0);
  EXPECT_EQ(t.in_room("a"), 1u);
  EXPECT_EQ(t.rooms(), 2u);
  t.untrack("a", 1);
  EXPECT_EQ(t.rooms(), 1u); // an empty room is forgotten
  EXPECT_EQ(t.in_room("a"), 0u);
  t.untrack("b", 1);
  EXPECT_EQ(t.total(), 0u);
  EXPECT_EQ(t.rooms(), 0u);
  EXPECT_EQ(t.on_loop(1), 0u);
}
