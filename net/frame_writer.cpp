#include "net/frame_writer.hpp"

#include <cerrno>
#include <sys/socket.h>
#include <sys/uio.h>

namespace chatd::net {

void frame_writer::push(frame_ptr f) {
  bytes_ += f->bytes().size();
  frames_.push_back(std::move(f));
}

void frame_writer::pop_front() {
  frames_[head_].reset();
  ++head_;
  offset_ = 0;
  if (head_ == frames_.size()) {
    frames_.clear(); // keeps the capacity for the next pass
    head_ = 0;
  } else if (head_ >= max_iov && head_ * 2 >= frames_.size()) {
    // A reader that is always behind never empties the queue: drop the
    // written slots so that the array stays as long as what is waiting.
    frames_.erase(frames_.begin(), frames_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
}

frame_writer::result frame_writer::flush(int fd) {
  result r;
  while (!empty()) {
    iovec iov[max_iov];
    std::size_t n = 0;
    std::size_t offered = 0;
    for (std::size_t i = head_; i < frames_.size() && n < max_iov; ++i, ++n) {
      auto bytes = frames_[i]->bytes();
      std::size_t skip = i == head_ ? offset_ : 0;
      iov[n].iov_base = const_cast<char*>(bytes.data() + skip);
      iov[n].iov_len = bytes.size() - skip;
      offered += iov[n].iov_len;
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = n;
    // MSG_NOSIGNAL: a peer that went away is an error code, not SIGPIPE.
    ssize_t written = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (written < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        r.blocked = true;
      else
        r.error = errno;
      return r;
    }
    auto left = static_cast<std::size_t>(written);
    bytes_ -= left;
    while (left > 0) {
      auto size = frames_[head_]->bytes().size() - offset_;
      if (left < size) {
        offset_ += static_cast<std::uint32_t>(left);
        break;
      }
      left -= size;
      if (!frames_[head_]->control)
        ++r.messages;
      pop_front();
    }
    if (static_cast<std::size_t>(written) < offered) {
      r.blocked = true; // the socket buffer is full: the next try would say EAGAIN
      return r;
    }
  }
  return r;
}

std::size_t frame_writer::drop_unstarted() {
  // Beast's own frames (the handshake answer, a pong) stay: the protocol
  // needs them, and they are small.
  std::size_t first = head_ + (offset_ > 0 ? 1 : 0);
  auto kept = frames_.begin() + static_cast<std::ptrdiff_t>(first);
  std::size_t dropped = 0;
  for (auto it = kept; it != frames_.end(); ++it) {
    if ((*it)->control) {
      if (kept != it)
        *kept = std::move(*it);
      ++kept;
    } else {
      bytes_ -= (*it)->bytes().size();
      ++dropped;
    }
  }
  frames_.erase(kept, frames_.end());
  if (head_ == frames_.size()) {
    frames_.clear();
    head_ = 0;
  }
  return dropped;
}

std::size_t frame_writer::drop_all() {
  std::size_t dropped = 0;
  for (std::size_t i = head_; i < frames_.size(); ++i)
    if (!frames_[i]->control)
      ++dropped;
  frames_.clear();
  head_ = offset_ = 0;
  bytes_ = 0;
  return dropped;
}

void frame_writer::release_memory() {
  if (empty())
    std::vector<frame_ptr>{}.swap(frames_);
}

} // namespace chatd::net
