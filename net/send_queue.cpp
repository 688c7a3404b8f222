#include "net/send_queue.hpp"

#include <cassert>

namespace chatd::net {

bool send_queue::push(frame_ptr f) {
  auto size = f->bytes.size();
  if (bytes_ + size > max_bytes_)
    return false;
  bytes_ += size;
  waiting_.push_back(std::move(f));
  return true;
}

const frame& send_queue::start_write() {
  assert(!writing() && has_waiting());
  in_flight_ = std::move(waiting_.front());
  waiting_.pop_front();
  return *in_flight_;
}

void send_queue::finish_write() {
  assert(writing());
  bytes_ -= in_flight_->bytes.size();
  in_flight_.reset();
}

std::size_t send_queue::drop_waiting() {
  for (auto& f : waiting_)
    bytes_ -= f->bytes.size();
  auto dropped = waiting_.size();
  waiting_.clear();
  return dropped;
}

} // namespace chatd::net
