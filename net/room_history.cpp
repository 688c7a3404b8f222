#include "net/room_history.hpp"

#include "proto/room_name.hpp"

#include <charconv>

namespace chatd::net {

namespace {

template <class T>
std::optional<T> parse_number(std::string_view s) {
  T value{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || end != s.data() + s.size() || s.empty())
    return std::nullopt;
  return value;
}

} // namespace

std::size_t home_loop(std::string_view room, std::size_t loops) {
  if (loops <= 1)
    return 0;
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : room) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return static_cast<std::size_t>(h % loops);
}

namespace {
std::uint64_t rendezvous(std::string_view room, std::string_view node) {
  std::uint64_t h = 14695981039346656037ull;
  auto mix = [&](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
  };
  mix(room);
  h ^= 0xff; // a byte UTF-8 never holds between the two, so ("ab","c") != ("a","bc")
  h *= 1099511628211ull;
  mix(node);
  // FNV-1a's low bits change little between similar ids (n1, n2, ...):
  // the splitmix64 finalizer spreads every input bit over the result.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}
} // namespace

const std::string* ordering_node(std::string_view room, const std::vector<std::string>& nodes) {
  const std::string* best = nullptr;
  std::uint64_t best_hash = 0;
  for (auto& node : nodes) {
    auto h = rendezvous(room, node);
    if (!best || h > best_hash || (h == best_hash && node < *best)) {
      best = &node;
      best_hash = h;
    }
  }
  return best;
}

std::optional<history_request> parse_history_request(std::string_view target) {
  history_request out;
  if (auto since = query_parameter(target, "since")) {
    auto decoded = percent_decode(*since);
    if (!decoded)
      return std::nullopt;
    // The epoch holds no ':' (see history_store::log), so the last one splits.
    auto colon = decoded->rfind(':');
    if (colon == std::string::npos || colon == 0)
      return std::nullopt;
    auto offset = parse_number<std::uint64_t>(std::string_view{*decoded}.substr(colon + 1));
    if (!offset)
      return std::nullopt;
    out.resume = true;
    out.epoch = decoded->substr(0, colon);
    out.offset = *offset;
  }
  if (auto history = query_parameter(target, "history")) {
    auto count = parse_number<std::size_t>(*history);
    if (!count)
      return std::nullopt;
    out.count = *count;
  }
  return out;
}

std::shared_ptr<room_log>& history_store::slot(const std::string& room) {
  auto& slot = logs_[room];
  if (!slot)
    slot = std::make_shared<room_log>(prefix_ + "-" + std::to_string(++epochs_made_), directory_.get(room));
  return slot;
}

room_log& history_store::log(const std::string& room) { return *slot(room); }

bool history_store::live(const kept& k) {
  auto owner = k.log.lock();
  return owner && !owner->entries_.empty() && owner->entries_.front().f->offset <= k.offset;
}

room_log& history_store::append(const frame_ptr& f) {
  auto& shared = slot(f->room);
  auto& l = *shared;
  f->offset = ++l.last_;
  f->epoch = l.epoch_;
  if (!limits_.keeps())
    return l;
  l.entries_.push_back({f, f->received_at});
  bytes_ += history_cost(*f);
  ++messages_;
  order_.push_back({shared, f->offset});
  trim(l, f->received_at);
  // Over the bytes bound the oldest kept message of any room goes first:
  // the first live entry of a room in order_ is that room's oldest message.
  while (bytes_ > limits_.max_bytes && !order_.empty()) {
    auto oldest = std::move(order_.front());
    order_.pop_front();
    if (live(oldest))
      evict_front(*oldest.log.lock());
  }
  // Entries of messages that went by size or age stay until they reach the
  // front; when they are half of order_, drop them all (amortized O(1)).
  if (order_.size() > 2 * messages_ + 64)
    std::erase_if(order_, [](const kept& k) { return !live(k); });
  return l;
}

void history_store::evict_front(room_log& l) {
  bytes_ -= history_cost(*l.entries_.front().f);
  --messages_;
  l.entries_.pop_front();
}

void history_store::trim(room_log& l, std::chrono::steady_clock::time_point now) {
  while (!l.entries_.empty() && (l.entries_.size() > limits_.max_messages || now - l.entries_.front().at > limits_.ttl))
    evict_front(l);
}

history_answer history_store::answer(const std::string& room, const history_request& request) {
  auto& l = log(room);
  trim(l, std::chrono::steady_clock::now());
  history_answer out;
  out.epoch = l.epoch_;
  out.offset = l.last_;
  // The newest entries, back from the end, while they fit the replay bound;
  // true when every one of the `wanted` newest fit.
  auto newest = [&](std::size_t wanted) {
    std::size_t bytes = 0;
    auto begin = l.entries_.end();
    for (std::size_t n = 0; n < wanted && begin != l.entries_.begin(); ++n) {
      auto cost = replay_cost(*std::prev(begin)->f);
      if (bytes + cost > limits_.max_replay_bytes)
        break;
      bytes += cost;
      --begin;
    }
    for (auto it = begin; it != l.entries_.end(); ++it)
      out.frames.push_back(it->f);
    return static_cast<std::size_t>(l.entries_.end() - begin) == wanted;
  };
  if (request.resume && request.epoch == *l.epoch_ && request.offset <= l.last_) {
    // Seamless when every message after the offset is still kept, and fits.
    auto first_kept = l.entries_.empty() ? l.last_ + 1 : l.entries_.front().f->offset;
    if (request.offset + 1 >= first_kept) {
      if (newest(static_cast<std::size_t>(l.last_ - request.offset))) {
        out.recovered = true;
        return out;
      }
      out.frames.clear();
    }
  }
  // The most recent messages: ?history=n of them, or all that are kept (on
  // a resume that could not be recovered), as far as they fit.
  std::size_t n = request.count == 0 ? l.entries_.size() : std::min(request.count, l.entries_.size());
  if (!request.resume && request.count == 0)
    n = 0;
  newest(n);
  return out;
}

void history_store::sweep(std::chrono::steady_clock::time_point now) {
  for (auto it = logs_.begin(); it != logs_.end();) {
    trim(*it->second, now);
    if (it->second->entries_.empty() && it->second->presence_->loops() == 0 && it->second->presence_->peers() == 0)
      it = logs_.erase(it);
    else
      ++it;
  }
  std::erase_if(order_, [](const kept& k) { return !live(k); });
}

void history_store::retire(const std::function<bool(const std::string& room)>& gone) {
  bool dropped = false;
  for (auto it = logs_.begin(); it != logs_.end();) {
    if (!gone(it->first)) {
      ++it;
      continue;
    }
    while (!it->second->entries_.empty())
      evict_front(*it->second);
    it = logs_.erase(it);
    dropped = true;
  }
  if (dropped)
    std::erase_if(order_, [](const kept& k) { return !live(k); });
}

} // namespace chatd::net
