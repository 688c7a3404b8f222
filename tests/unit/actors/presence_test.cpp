#include "actors/presence.hpp"
#include "proto/atoms.hpp"
#include "proto/cluster_messages.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

using namespace chatd;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

// What a loop got from the presence actor, in order: "snap <id> <json>" or "event <json>".
caf::behavior fake_loop(caf::event_based_actor*, caf::actor test) {
  return {[=](psnap_atom, std::uint64_t id, const frame_batch& b) {
            for (auto& f : b)
              caf::anon_send(test, "snap " + std::to_string(id) + " " + std::string{f->payload()});
          },
          [=](pevent_atom, const frame_batch& b) {
            for (auto& f : b)
              caf::anon_send(test, "event " + std::string{f->payload()});
          }};
}

class presence_actor_test : public ::testing::Test {
protected:
  std::string next() {
    std::string out;
    self_->receive([&](const std::string& s) { out = s; }, caf::after(2s) >> [&] { out = "nothing"; });
    return out;
  }
  void nothing_more() {
    self_->receive([](const std::string& s) { FAIL() << "unexpected: " << s; }, caf::after(200ms) >> [] {});
  }

  caf::actor_system_config config_;
  caf::actor_system system_{config_};
  caf::scoped_actor self_{system_};
  void TearDown() override {
    for (auto& a : {presence_, loop_})
      self_->send_exit(a, caf::exit_reason::user_shutdown);
  }

  net::presence_table table_{4};
  caf::actor loop_ = system_.spawn(fake_loop, caf::actor{self_});
  caf::actor presence_ = system_.spawn(actors::presence, &table_, std::vector<caf::actor>{loop_}, caf::actor{self_});
};

presence_session session(std::string user, std::uint64_t id, bool v1 = true) {
  return presence_session{"lobby", std::move(user), "", id, 0, v1};
}

TEST_F(presence_actor_test, a_member_gets_its_snapshot_then_exactly_the_changes_after_it) {
  self_->send(presence_, pjoin_atom::value, session("ada", 1));
  EXPECT_EQ(next(), R"(snap 1 {"type":"presence","members":[{"user":"ada","name":"","connections":1}],"anonymous":0})");
  // A peer's user joins: an event for the synced member's loop.
  self_->send(presence_, pstate_atom::value, std::string{"n2"},
              presence_update{{presence_count{"lobby", "bob", "Bob", 1}}}, false);
  EXPECT_EQ(next(), R"(event {"type":"join","user":"bob","name":"Bob"})");
  // A second tab of bob on n2 (absolute count 2) is no event; a raw member
  // gets no snapshot; a new v1 member's own join is in its snapshot, and
  // comes to the loop before it (its session skips it).
  self_->send(presence_, pstate_atom::value, std::string{"n2"},
              presence_update{{presence_count{"lobby", "bob", "Bob", 2}}}, false);
  self_->send(presence_, pjoin_atom::value, session("", 2, false));
  self_->send(presence_, pjoin_atom::value, session("cy", 3));
  EXPECT_EQ(next(), R"(event {"type":"join","user":"cy","name":""})");
  EXPECT_EQ(next(), R"(snap 3 {"type":"presence","members":[{"user":"ada","name":"","connections":1},)"
                    R"({"user":"bob","name":"Bob","connections":2},{"user":"cy","name":"","connections":1}],)"
                    R"("anonymous":1})");
  // n2 is gone: bob leaves.
  self_->send(presence_, pdrop_atom::value, std::string{"n2"});
  EXPECT_EQ(next(), R"(event {"type":"leave","user":"bob","name":"Bob"})");
  nothing_more();
}

TEST_F(presence_actor_test, a_room_over_the_threshold_says_so_once_and_makes_no_events) {
  self_->send(presence_, pjoin_atom::value, session("ada", 1));
  next();
  self_->send(presence_, pstate_atom::value, std::string{"n2"}, presence_update{{presence_count{"lobby", "", "", 4}}},
              false);
  // 1 user + 4 anonymous > 4: the counts, once, instead of the list.
  EXPECT_EQ(next(), R"(event {"type":"presence","members":null,"users":1,"connections":5,"anonymous":4})");
  self_->send(presence_, pjoin_atom::value, session("bob", 2));
  EXPECT_EQ(next(), R"(snap 2 {"type":"presence","members":null,"users":2,"connections":6,"anonymous":4})");
  self_->send(presence_, pstate_atom::value, std::string{"n2"}, presence_update{{presence_count{"lobby", "", "", 0}}},
              false);
  // Back under it: the list again (one frame for the loop, which gives it to
  // both), from which events resume.
  auto list = R"(event {"type":"presence","members":[{"user":"ada","name":"","connections":1},)"
              R"({"user":"bob","name":"","connections":1}],"anonymous":0})";
  EXPECT_EQ(next(), list);
  self_->send(presence_, pleave_atom::value, session("bob", 2));
  EXPECT_EQ(next(), R"(event {"type":"leave","user":"bob","name":""})");
  nothing_more();
}

TEST_F(presence_actor_test, local_changes_go_to_the_cluster_batched_and_a_dump_has_everything) {
  self_->send(presence_, pjoin_atom::value, session("ada", 1, false));
  self_->send(presence_, pjoin_atom::value, session("ada", 2, false));
  self_->send(presence_, pjoin_atom::value, session("", 3, false));
  // One batch for the three joins, with absolute counts.
  presence_update batch;
  self_->receive([&](pstate_atom, const presence_update& u) { batch = u; },
                 caf::after(2s) >> [] { FAIL() << "no batch"; });
  ASSERT_EQ(batch.counts.size(), 2u);
  EXPECT_EQ(batch.counts[0].user, "");
  EXPECT_EQ(batch.counts[0].connections, 1u);
  EXPECT_EQ(batch.counts[1].user, "ada");
  EXPECT_EQ(batch.counts[1].connections, 2u);
  self_->send(presence_, pdump_atom::value, std::string{"n2"}, std::uint64_t{7});
  self_->receive(
      [&](pdump_atom, const std::string& node, std::uint64_t epoch, const presence_update& dump) {
        EXPECT_EQ(node, "n2");
        EXPECT_EQ(epoch, 7u);
        EXPECT_EQ(dump.counts.size(), 2u);
      },
      caf::after(2s) >> [] { FAIL() << "no dump"; });
}

} // namespace
