#include "net/room_history.hpp"

#include <gtest/gtest.h>

#include <set>

namespace {

using chatd::frame_ptr;
using chatd::net::history_limits;
using chatd::net::history_request;
using chatd::net::history_store;
using clock_type = std::chrono::steady_clock;

frame_ptr message(const std::string& room, const std::string& text, clock_type::time_point at = clock_type::now()) {
  return chatd::make_message_frame(room, text, false, at);
}

std::vector<std::uint64_t> offsets(const std::vector<frame_ptr>& frames) {
  std::vector<std::uint64_t> out;
  for (auto& f : frames)
    out.push_back(f->offset);
  return out;
}

// "r" + std::to_string(i) trips GCC 12's -Wrestrict (a false positive).
std::string numbered(std::string prefix, int i) {
  prefix += std::to_string(i);
  return prefix;
}

history_request resume(const std::string& epoch, std::uint64_t offset) {
  history_request r;
  r.resume = true;
  r.epoch = epoch;
  r.offset = offset;
  return r;
}

class room_history_test : public ::testing::Test {
protected:
  chatd::net::room_directory directory_;
};

TEST_F(room_history_test, each_room_counts_its_own_offsets_under_one_epoch) {
  history_store store("n1-0", {}, directory_);
  std::vector<frame_ptr> a, b;
  for (int i = 0; i < 5; ++i) {
    a.push_back(message("a", "x"));
    store.append(a.back());
    b.push_back(message("b", "y"));
    store.append(b.back());
  }
  EXPECT_EQ(offsets(a), (std::vector<std::uint64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(offsets(b), (std::vector<std::uint64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(a.front()->epoch, a.back()->epoch);
  EXPECT_NE(*a.front()->epoch, *b.front()->epoch);
  EXPECT_EQ(store.log("a").last(), 5u);
  EXPECT_EQ(store.messages(), 10u);
}

TEST_F(room_history_test, keeps_the_newest_history_size_messages) {
  history_limits limits;
  limits.max_messages = 3;
  history_store store("n1-0", limits, directory_);
  for (int i = 0; i < 10; ++i)
    store.append(message("a", numbered("m", i)));
  auto epoch = *store.log("a").epoch();
  // From 7 on everything is there: seamless.
  auto answer = store.answer("a", resume(epoch, 7));
  EXPECT_TRUE(answer.recovered);
  EXPECT_EQ(offsets(answer.frames), (std::vector<std::uint64_t>{8, 9, 10}));
  // 7 is gone: the client learns it missed something and gets what is kept.
  answer = store.answer("a", resume(epoch, 6));
  EXPECT_FALSE(answer.recovered);
  EXPECT_EQ(answer.offset, 10u);
  EXPECT_EQ(offsets(answer.frames), (std::vector<std::uint64_t>{8, 9, 10}));
  EXPECT_EQ(store.messages(), 3u);
}

TEST_F(room_history_test, drops_messages_older_than_the_ttl) {
  history_limits limits;
  limits.ttl = std::chrono::seconds(10);
  history_store store("n1-0", limits, directory_);
  auto now = clock_type::now();
  store.append(message("a", "old", now - std::chrono::seconds(30)));
  store.append(message("a", "older than ttl", now - std::chrono::seconds(20)));
  store.append(message("a", "new", now - std::chrono::seconds(1)));
  auto answer = store.answer("a", resume(*store.log("a").epoch(), 0));
  EXPECT_FALSE(answer.recovered);
  EXPECT_EQ(offsets(answer.frames), (std::vector<std::uint64_t>{3}));
  store.sweep(now + std::chrono::seconds(60));
  EXPECT_EQ(store.messages(), 0u);
  EXPECT_EQ(store.bytes(), 0u);
}

TEST_F(room_history_test, over_the_bytes_bound_the_oldest_message_of_any_room_goes_first) {
  auto cost = chatd::net::history_cost(*message("a", std::string(100, 'x')));
  history_limits limits;
  limits.max_bytes = 3 * cost;
  history_store store("n1-0", limits, directory_);
  store.append(message("a", std::string(100, 'x'))); // a:1, the oldest
  store.append(message("b", std::string(100, 'x'))); // b:1
  store.append(message("a", std::string(100, 'x'))); // a:2
  EXPECT_EQ(store.bytes(), 3 * cost);
  store.append(message("b", std::string(100, 'x'))); // b:2 pushes a:1 out
  EXPECT_EQ(store.bytes(), 3 * cost);
  EXPECT_FALSE(store.answer("a", resume(*store.log("a").epoch(), 0)).recovered);
  EXPECT_TRUE(store.answer("b", resume(*store.log("b").epoch(), 0)).recovered);
  store.append(message("c", std::string(100, 'x'))); // then b:1
  EXPECT_FALSE(store.answer("b", resume(*store.log("b").epoch(), 0)).recovered);
  EXPECT_TRUE(store.answer("b", resume(*store.log("b").epoch(), 1)).recovered);
  EXPECT_TRUE(store.answer("a", resume(*store.log("a").epoch(), 1)).recovered);
  EXPECT_EQ(store.messages(), 3u);
}

TEST_F(room_history_test, an_answer_sends_no_more_than_the_replay_bound) {
  auto cost = chatd::net::replay_cost(*message("a", std::string(100, 'x')));
  history_limits limits;
  limits.max_replay_bytes = 3 * cost;
  history_store store("n1-0", limits, directory_);
  for (int i = 0; i < 5; ++i)
    store.append(message("a", std::string(100, 'x')));
  auto epoch = *store.log("a").epoch();
  // Three missed: they fit, seamless.
  auto answer = store.answer("a", resume(epoch, 2));
  EXPECT_TRUE(answer.recovered);
  EXPECT_EQ(offsets(answer.frames), (std::vector<std::uint64_t>{3, 4, 5}));
  // Four missed, all kept, but only three fit: not recovered, the newest three.
  answer = store.answer("a", resume(epoch, 1));
  EXPECT_FALSE(answer.recovered);
  EXPECT_EQ(answer.offset, 5u);
  EXPECT_EQ(offsets(answer.frames), (std::vector<std::uint64_t>{3, 4, 5}));
  // ?history= asks for more than fit: the newest that do.
  history_request last_five;
  last_five.count = 5;
  EXPECT_EQ(offsets(store.answer("a", last_five).frames), (std::vector<std::uint64_t>{3, 4, 5}));
  // Nothing missed: seamless, nothing to send.
  answer = store.answer("a", resume(epoch, 5));
  EXPECT_TRUE(answer.recovered);
  EXPECT_TRUE(answer.frames.empty());
}

TEST_F(room_history_test, the_bytes_bound_holds_under_churn_of_many_rooms) {
  history_limits limits;
  limits.max_messages = 5;
  limits.max_bytes = 50'000;
  history_store store("n1-0", limits, directory_);
  for (int i = 0; i < 20'000; ++i)
    store.append(message(numbered("r", i % 37), std::string(i % 300, 'x')));
  EXPECT_LE(store.bytes(), limits.max_bytes);
  EXPECT_LE(store.messages(), 37u * 5);
  std::size_t sum = 0;
  for (int r = 0; r < 37; ++r)
    for (auto& f : store.answer(numbered("r", r), {true, "other", 0, 0}).frames)
      sum += chatd::net::history_cost(*f);
  EXPECT_EQ(sum, store.bytes());
}

TEST_F(room_history_test, a_resume_from_another_epoch_or_the_future_is_not_recovered) {
  history_store store("n1-0", {}, directory_);
  for (int i = 0; i < 4; ++i)
    store.append(message("a", "m"));
  auto epoch = *store.log("a").epoch();
  EXPECT_FALSE(store.answer("a", resume("n2-0-1", 2)).recovered);
  EXPECT_FALSE(store.answer("a", resume(epoch, 5)).recovered);
  // Up to date: nothing to replay, nothing missed.
  auto answer = store.answer("a", resume(epoch, 4));
  EXPECT_TRUE(answer.recovered);
  EXPECT_TRUE(answer.frames.empty());
  EXPECT_EQ(answer.offset, 4u);
  // ?history=2 with a failed resume: the two newest.
  auto r = resume("n2-0-1", 2);
  r.count = 2;
  EXPECT_EQ(offsets(store.answer("a", r).frames), (std::vector<std::uint64_t>{3, 4}));
}

TEST_F(room_history_test, history_on_join_gives_the_last_n_messages) {
  history_limits limits;
  limits.max_messages = 4;
  history_store store("n1-0", limits, directory_);
  for (int i = 0; i < 6; ++i)
    store.append(message("a", "m"));
  history_request r;
  r.count = 2;
  EXPECT_EQ(offsets(store.answer("a", r).frames), (std::vector<std::uint64_t>{5, 6}));
  r.count = 50; // more than is kept: what is kept
  EXPECT_EQ(offsets(store.answer("a", r).frames), (std::vector<std::uint64_t>{3, 4, 5, 6}));
  // A room without messages has an epoch already, at offset 0.
  auto empty = store.answer("new", r);
  EXPECT_TRUE(empty.frames.empty());
  EXPECT_EQ(empty.offset, 0u);
  ASSERT_TRUE(empty.epoch);
}

TEST_F(room_history_test, no_history_still_gives_offsets) {
  history_limits limits;
  limits.max_messages = 0;
  history_store store("n1-0", limits, directory_);
  auto f = message("a", "m");
  store.append(f);
  EXPECT_EQ(f->offset, 1u);
  EXPECT_EQ(store.messages(), 0u);
  EXPECT_TRUE(store.answer("a", resume(*f->epoch, 1)).recovered);
  EXPECT_FALSE(store.answer("a", resume(*f->epoch, 0)).recovered);
}

TEST_F(room_history_test, a_room_forgotten_by_the_sweep_starts_a_new_epoch) {
  history_limits limits;
  limits.ttl = std::chrono::seconds(1);
  history_store store("n1-0", limits, directory_);
  auto f = message("a", "m");
  store.append(f);
  auto first = *f->epoch;
  store.sweep(clock_type::now() + std::chrono::seconds(5)); // no members here, nothing kept
  auto g = message("a", "m");
  store.append(g);
  EXPECT_NE(*g->epoch, first);
  EXPECT_EQ(g->offset, 1u);
  EXPECT_FALSE(store.answer("a", resume(first, 1)).recovered);
}

TEST_F(room_history_test, a_room_with_members_keeps_its_epoch_through_the_sweep) {
  history_limits limits;
  limits.ttl = std::chrono::seconds(1);
  history_store store("n1-0", limits, directory_);
  auto presence = directory_.get("a");
  presence->add_loop([](std::uint64_t) {});
  auto f = message("a", "m");
  store.append(f);
  store.sweep(clock_type::now() + std::chrono::seconds(5));
  auto g = message("a", "m");
  store.append(g);
  EXPECT_EQ(*g->epoch, *f->epoch);
  EXPECT_EQ(g->offset, 2u);
}

TEST_F(room_history_test, a_retired_room_starts_a_new_epoch_and_frees_its_history) {
  history_store store("n1-0", {}, directory_);
  auto a = message("a", "m");
  auto b = message("b", "m");
  store.append(a);
  store.append(b);
  store.retire([](const std::string& room) { return room == "a"; });
  EXPECT_EQ(store.messages(), 1u);
  EXPECT_EQ(store.bytes(), chatd::net::history_cost(*b));
  auto a2 = message("a", "m");
  store.append(a2);
  EXPECT_NE(*a2->epoch, *a->epoch);
  EXPECT_EQ(a2->offset, 1u);
  EXPECT_FALSE(store.answer("a", resume(*a->epoch, 1)).recovered);
  auto b2 = message("b", "m");
  store.append(b2);
  EXPECT_EQ(*b2->epoch, *b->epoch);
  EXPECT_EQ(b2->offset, 2u);
}

TEST(history_request_parse, reads_since_and_history) {
  auto r = chatd::net::parse_history_request("/rooms/a?token=x&since=ab12-0-3:42&history=7");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->resume);
  EXPECT_EQ(r->epoch, "ab12-0-3");
  EXPECT_EQ(r->offset, 42u);
  EXPECT_EQ(r->count, 7u);
  r = chatd::net::parse_history_request("/rooms/a?since=ab12-0-3%3A5");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->offset, 5u);
  r = chatd::net::parse_history_request("/rooms/a");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->wanted());
}

TEST(history_request_parse, refuses_what_is_malformed) {
  for (const char* target :
       {"/?since=", "/?since=abc", "/?since=:5", "/?since=e:", "/?since=e:-1", "/?since=e:5x",
        "/?since=e:99999999999999999999", "/?history=", "/?history=-2", "/?history=two", "/?since=%zz:1"})
    EXPECT_FALSE(chatd::net::parse_history_request(target)) << target;
}

TEST(home_loop, is_stable_and_spreads_rooms) {
  EXPECT_EQ(chatd::net::home_loop("lobby", 1), 0u);
  std::set<std::size_t> seen;
  for (int i = 0; i < 64; ++i) {
    auto room = numbered("room", i);
    auto home = chatd::net::home_loop(room, 4);
    EXPECT_LT(home, 4u);
    EXPECT_EQ(home, chatd::net::home_loop(room, 4));
    seen.insert(home);
  }
  EXPECT_EQ(seen.size(), 4u);
}

// Every node computes the same ordering node from the same view, whatever
// its order; a node leaving moves only the rooms it ordered, and the rooms
// spread over the nodes.
TEST(ordering_node, agrees_everywhere_and_moves_only_the_rooms_of_a_node_that_goes) {
  const std::vector<std::string> three{"n1", "n2", "n3"}, shuffled{"n3", "n1", "n2"}, two{"n1", "n3"};
  EXPECT_EQ(chatd::net::ordering_node("lobby", {}), nullptr);
  std::set<std::string> used;
  for (int i = 0; i < 200; ++i) {
    auto room = numbered("room", i);
    const auto& owner = *chatd::net::ordering_node(room, three);
    EXPECT_EQ(owner, *chatd::net::ordering_node(room, shuffled));
    used.insert(owner);
    if (owner != "n2")
      EXPECT_EQ(*chatd::net::ordering_node(room, two), owner) << room;
  }
  EXPECT_EQ(used.size(), 3u);
}

} // namespace
