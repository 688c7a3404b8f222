#include "net/presence_json.hpp"
#include "net/presence_table.hpp"

#include <algorithm>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace chatd::net {
namespace {

using kind = presence_change::kind;

std::vector<kind> kinds(const std::vector<presence_change>& changes) {
  std::vector<kind> out;
  for (auto& c : changes)
    out.push_back(c.what);
  return out;
}

TEST(PresenceTable, AUsersFirstConnectionJoinsAndLastLeaves) {
  presence_table t;
  auto joined = t.add_local("lobby", "ada", "Ada", +1);
  ASSERT_EQ(joined.size(), 1u);
  EXPECT_EQ(joined[0].what, kind::join);
  EXPECT_EQ(joined[0].user, "ada");
  EXPECT_EQ(joined[0].name, "Ada");
  EXPECT_TRUE(t.add_local("lobby", "ada", "Ada", +1).empty()); // a second tab
  auto s = t.snapshot("lobby");
  ASSERT_EQ(s.members.size(), 1u);
  EXPECT_EQ(s.members[0].connections, 2u);
  EXPECT_TRUE(t.add_local("lobby", "ada", "Ada", -1).empty());
  auto left = t.add_local("lobby", "ada", "Ada", -1);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].what, kind::leave);
  EXPECT_TRUE(t.snapshot("lobby").members.empty());
  EXPECT_TRUE(t.rooms().empty());
}

TEST(PresenceTable, AnonymousConnectionsAreCountedNotListedAndMakeNoEvents) {
  presence_table t;
  EXPECT_TRUE(t.add_local("lobby", "", "", +1).empty());
  EXPECT_TRUE(t.set("n2", {{"lobby", "", "", 3}}).empty());
  auto s = t.snapshot("lobby");
  EXPECT_TRUE(s.members.empty());
  EXPECT_EQ(s.anonymous, 4u);
  EXPECT_EQ(s.connections, 4u);
  ASSERT_EQ(t.rooms().size(), 1u);
  EXPECT_EQ(t.rooms()[0].second, 4u);
  EXPECT_EQ(t.local_count("lobby", "").connections, 1u);
}

TEST(PresenceTable, OneUserOnTwoNodesJoinsOnceAndLeavesOnce) {
  presence_table t;
  EXPECT_EQ(kinds(t.add_local("lobby", "ada", "Ada", +1)), std::vector{kind::join});
  EXPECT_TRUE(t.set("n2", {{"lobby", "ada", "Ada", 2}}).empty());
  EXPECT_EQ(t.snapshot("lobby").members.at(0).connections, 3u);
  EXPECT_TRUE(t.add_local("lobby", "ada", "Ada", -1).empty());
  EXPECT_TRUE(t.set("n2", {{"lobby", "ada", "Ada", 1}}).empty());
  EXPECT_EQ(kinds(t.set("n2", {{"lobby", "ada", "Ada", 0}})), std::vector{kind::leave});
  // Absolute counts: saying the same again changes nothing.
  EXPECT_TRUE(t.set("n2", {{"lobby", "ada", "Ada", 0}}).empty());
}

TEST(PresenceTable, DroppingANodeMakesOnlyItsUsersLeave) {
  presence_table t;
  t.add_local("lobby", "ada", "Ada", +1);
  t.set("n2", {{"lobby", "ada", "Ada", 1}, {"lobby", "bob", "Bob", 1}, {"lobby", "", "", 5}, {"other", "cy", "Cy", 2}});
  t.set("n3", {{"lobby", "dee", "Dee", 1}});
  auto changes = t.drop_node("n2");
  std::vector<std::string> left;
  for (auto& c : changes) {
    EXPECT_EQ(c.what, kind::leave);
    left.push_back(c.room + "/" + c.user);
  }
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"lobby/bob", "other/cy"}));
  auto s = t.snapshot("lobby");
  ASSERT_EQ(s.members.size(), 2u);
  EXPECT_EQ(s.members[0].user, "ada");
  EXPECT_EQ(s.members[0].connections, 1u);
  EXPECT_EQ(s.members[1].user, "dee");
  EXPECT_EQ(s.anonymous, 0u);
  EXPECT_EQ(t.rooms().size(), 1u);
}

TEST(PresenceTable, ADumpReplacesANodesStateWithOnlyTheNetChanges) {
  presence_table t;
  t.set("n2", {{"lobby", "ada", "Ada", 1}, {"lobby", "bob", "Bob", 2}, {"lobby", "", "", 1}});
  auto changes = t.replace_node("n2", {{"lobby", "bob", "Bob", 1}, {"lobby", "cy", "Cy", 1}});
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].what, kind::leave);
  EXPECT_EQ(changes[0].user, "ada");
  EXPECT_EQ(changes[1].what, kind::join);
  EXPECT_EQ(changes[1].user, "cy");
  auto s = t.snapshot("lobby");
  ASSERT_EQ(s.members.size(), 2u);
  EXPECT_EQ(s.members[0].connections, 1u); // bob
  EXPECT_EQ(s.anonymous, 0u);
}

TEST(PresenceTable, LocalCountsAreTheDumpOfThisNode) {
  presence_table t;
  t.add_local("lobby", "ada", "Ada", +1);
  t.add_local("lobby", "", "", +1);
  t.set("n2", {{"lobby", "bob", "Bob", 1}});
  auto dump = t.local_counts();
  ASSERT_EQ(dump.size(), 2u);
  EXPECT_EQ(dump[0].user, "");
  EXPECT_EQ(dump[1].user, "ada");
  EXPECT_EQ(dump[1].name, "Ada");
}

TEST(PresenceTable, ARoomOverTheThresholdSaysLargeOnceAndStopsEvents) {
  presence_table t{3};
  EXPECT_EQ(kinds(t.add_local("big", "a", "", +1)), std::vector{kind::join});
  EXPECT_TRUE(t.add_local("big", "", "", +1).empty());
  EXPECT_EQ(kinds(t.add_local("big", "b", "", +1)), std::vector{kind::join});
  EXPECT_FALSE(t.large("big"));
  EXPECT_EQ(kinds(t.add_local("big", "c", "", +1)), std::vector{kind::large}); // 4 > 3
  EXPECT_TRUE(t.large("big"));
  EXPECT_TRUE(t.add_local("big", "d", "", +1).empty());
  EXPECT_TRUE(t.add_local("big", "d", "", -1).empty());
  // Still tracked per user.
  auto s = t.snapshot("big");
  EXPECT_TRUE(s.large);
  EXPECT_EQ(s.members.size(), 3u);
  EXPECT_EQ(s.users, 3u);
  EXPECT_EQ(s.connections, 4u);
  EXPECT_TRUE(t.snapshot("big", false).members.empty());
  EXPECT_EQ(kinds(t.add_local("big", "", "", -1)), std::vector{kind::small});
  EXPECT_EQ(kinds(t.add_local("big", "c", "", -1)), std::vector{kind::leave});
}

TEST(PresenceJson, MessagesHaveTheDocumentedShape) {
  presence_table t{1};
  t.add_local("lobby", "ada", "Ada \"A\"", +1);
  t.add_local("lobby", "", "", +1);
  auto small = nlohmann::json::parse(presence_message(t.snapshot("lobby")));
  EXPECT_EQ(small["type"], "presence");
  EXPECT_TRUE(small["members"].is_null()); // 2 > 1
  EXPECT_EQ(small["users"], 1);
  EXPECT_EQ(small["connections"], 2);
  EXPECT_EQ(small["anonymous"], 1);
  t.set_max_members(10);
  auto list = nlohmann::json::parse(presence_message(t.snapshot("lobby")));
  EXPECT_EQ(list,
            nlohmann::json::parse(
                R"({"type":"presence","members":[{"user":"ada","name":"Ada \"A\"","connections":1}],"anonymous":1})"));
  EXPECT_EQ(nlohmann::json::parse(member_message({kind::leave, "lobby", "ada", "Ada"})),
            nlohmann::json::parse(R"({"type":"leave","user":"ada","name":"Ada"})"));
  EXPECT_EQ(nlohmann::json::parse(rooms_document(t.rooms())),
            nlohmann::json::parse(R"([{"room":"lobby","connections":2}])"));
  EXPECT_EQ(nlohmann::json::parse(room_presence_document("none", t.snapshot("none"))),
            nlohmann::json::parse(R"({"room":"none","members":[],"anonymous":0})"));
}

} // namespace
} // namespace chatd::net
