#include "net/send_queue.hpp"

#include <gtest/gtest.h>

using chatd::frame;
using chatd::net::send_queue;

namespace {
chatd::frame_ptr make_frame(std::size_t size) {
  auto f = std::make_shared<frame>();
  f->bytes.assign(size, 'x');
  return f;
}
} // namespace

TEST(send_queue, accepts_up_to_the_bound_and_refuses_past_it) {
  send_queue q{100};
  EXPECT_TRUE(q.push(make_frame(60)));
  EXPECT_TRUE(q.push(make_frame(40)));
  EXPECT_EQ(q.bytes(), 100u);
  EXPECT_FALSE(q.push(make_frame(1)));
  EXPECT_EQ(q.bytes(), 100u); // a refused push leaves the queue as it was
}

TEST(send_queue, the_frame_in_flight_counts_until_written) {
  send_queue q{100};
  ASSERT_TRUE(q.push(make_frame(80)));
  EXPECT_EQ(q.start_write().bytes.size(), 80u);
  EXPECT_TRUE(q.writing());
  EXPECT_FALSE(q.push(make_frame(30)));
  q.finish_write();
  EXPECT_FALSE(q.writing());
  EXPECT_EQ(q.bytes(), 0u);
  EXPECT_TRUE(q.push(make_frame(30)));
}

TEST(send_queue, keeps_order) {
  send_queue q{1000};
  for (std::size_t i = 1; i <= 5; ++i)
    ASSERT_TRUE(q.push(make_frame(i)));
  for (std::size_t i = 1; i <= 5; ++i) {
    EXPECT_EQ(q.start_write().bytes.size(), i);
    q.finish_write();
  }
  EXPECT_FALSE(q.has_waiting());
}

TEST(send_queue, shares_frames_instead_of_copying) {
  send_queue a{100}, b{100};
  auto f = make_frame(10);
  ASSERT_TRUE(a.push(f));
  ASSERT_TRUE(b.push(f));
  EXPECT_EQ(&a.start_write(), &b.start_write());
  EXPECT_EQ(f.use_count(), 3);
}

TEST(send_queue, drop_waiting_keeps_the_write_in_flight) {
  send_queue q{100};
  ASSERT_TRUE(q.push(make_frame(10)));
  ASSERT_TRUE(q.push(make_frame(20)));
  ASSERT_TRUE(q.push(make_frame(30)));
  const auto& in_flight = q.start_write();
  q.drop_waiting();
  EXPECT_FALSE(q.has_waiting());
  EXPECT_EQ(q.bytes(), 10u);
  EXPECT_EQ(in_flight.bytes.size(), 10u);
  q.finish_write();
  EXPECT_EQ(q.bytes(), 0u);
}
