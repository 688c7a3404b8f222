#include "proto/room_name.hpp"

#include <gtest/gtest.h>

using chatd::parse_room_target;
using kind = chatd::room_route::kind;

TEST(room_name, accepts_the_allowed_alphabet) {
  EXPECT_TRUE(chatd::is_valid_room_name("a"));
  EXPECT_TRUE(chatd::is_valid_room_name("Room-1.test_2"));
  EXPECT_TRUE(chatd::is_valid_room_name(std::string(64, 'x')));
}

TEST(room_name, refuses_everything_else) {
  EXPECT_FALSE(chatd::is_valid_room_name(""));
  EXPECT_FALSE(chatd::is_valid_room_name(std::string(65, 'x')));
  for (std::string bad : {"a b", "a/b", "a%20b", "é", "a?b", "a:b", "<script>"})
    EXPECT_FALSE(chatd::is_valid_room_name(bad)) << bad;
  EXPECT_FALSE(chatd::is_valid_room_name(std::string{"a\0b", 3}));
}

TEST(room_target, root_is_the_default_room) {
  auto route = parse_room_target("/");
  EXPECT_EQ(route.what, kind::room);
  EXPECT_EQ(route.room, chatd::default_room);
  EXPECT_EQ(parse_room_target("/?nick=x").room, chatd::default_room);
}

TEST(room_target, rooms_path_names_a_room) {
  auto route = parse_room_target("/rooms/lobby-2");
  EXPECT_EQ(route.what, kind::room);
  EXPECT_EQ(route.room, "lobby-2");
  EXPECT_EQ(parse_room_target("/rooms/x?y=z").room, "x");
  // A token and other parameters in the query leave the room as it is.
  route = parse_room_target("/rooms/lobby?token=eyJh.eyJz.c2ln&since=42");
  EXPECT_EQ(route.what, kind::room);
  EXPECT_EQ(route.room, "lobby");
}

TEST(room_target, bad_names_are_invalid_not_missing) {
  for (auto target : {"/rooms/", "/rooms/a/b", "/rooms/bad%20name", "/rooms/a b"})
    EXPECT_EQ(parse_room_target(target).what, kind::invalid_name) << target;
  EXPECT_EQ(parse_room_target("/rooms/" + std::string(65, 'a')).what, kind::invalid_name);
}

TEST(room_target, other_paths_are_not_rooms) {
  for (auto target : {"/metrics", "/room/a", "/roomsx", "", "/rooms"})
    EXPECT_EQ(parse_room_target(target).what, kind::not_a_room) << target;
}

TEST(PercentDecode, DecodesEscapesAndRefusesBrokenOnes) {
  EXPECT_EQ(chatd::percent_decode("a%20b%2Fc%c3%A9"), "a b/c\xc3\xa9");
  EXPECT_EQ(chatd::percent_decode("plain"), "plain");
  EXPECT_EQ(chatd::percent_decode("%41"), "A");
  EXPECT_EQ(chatd::percent_decode("50%"), std::nullopt);
  EXPECT_EQ(chatd::percent_decode("%4"), std::nullopt);
  EXPECT_EQ(chatd::percent_decode("%zz"), std::nullopt);
}
