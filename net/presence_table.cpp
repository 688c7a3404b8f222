#include "net/presence_table.hpp"

#include <set>

namespace chatd::net {

namespace {
using kind = presence_change::kind;
} // namespace

bool presence_table::large_locked(const room_entry& r) const {
  return r.users.size() + r.anonymous_total > max_members_;
}

std::uint64_t presence_table::node_count(const room_entry& r, const std::string& node, const std::string& user) {
  const auto& counts = [&]() -> const std::map<std::string, std::uint64_t>& {
    static const std::map<std::string, std::uint64_t> none;
    if (user.empty())
      return r.anonymous;
    auto u = r.users.find(user);
    return u == r.users.end() ? none : u->second.nodes;
  }();
  auto it = counts.find(node);
  return it == counts.end() ? 0 : it->second;
}

void presence_table::set_locked(const std::string& node, const presence_count& c, std::vector<presence_change>& out) {
  auto room_it = rooms_.find(c.room);
  if (room_it == rooms_.end()) {
    if (c.connections == 0)
      return;
    room_it = rooms_.try_emplace(c.room).first;
  }
  auto& r = room_it->second;
  const bool was_large = large_locked(r);
  const auto before = node_count(r, node, c.user);
  if (before == c.connections && (c.user.empty() || c.connections == 0))
    return;
  r.connections = r.connections - before + c.connections;
  std::optional<presence_change> event;
  if (c.user.empty()) {
    r.anonymous_total = r.anonymous_total - before + c.connections;
    if (c.connections == 0)
      r.anonymous.erase(node);
    else
      r.anonymous[node] = c.connections;
  } else {
    auto [u, added] = r.users.try_emplace(c.user);
    auto& entry = u->second;
    if (!c.name.empty() || added)
      entry.name = c.name;
    const auto was = entry.total;
    entry.total = entry.total - before + c.connections;
    if (c.connections == 0)
      entry.nodes.erase(node);
    else
      entry.nodes[node] = c.connections;
    if (was == 0 && entry.total > 0)
      event = presence_change{kind::join, c.room, c.user, entry.name};
    else if (was > 0 && entry.total == 0)
      event = presence_change{kind::leave, c.room, c.user, entry.name};
    if (entry.total == 0)
      r.users.erase(u);
  }
  const bool is_large = large_locked(r);
  if (was_large != is_large)
    out.push_back(presence_change{is_large ? kind::large : kind::small, c.room, {}, {}});
  else if (event && !is_large)
    out.push_back(std::move(*event));
  if (r.connections == 0)
    rooms_.erase(room_it);
}

std::vector<presence_change> presence_table::add_local(const std::string& room, const std::string& user,
                                                       const std::string& name, int delta) {
  std::vector<presence_change> out;
  std::lock_guard lock{mutex_};
  std::uint64_t now = 0;
  if (auto it = rooms_.find(room); it != rooms_.end())
    now = node_count(it->second, this_node, user);
  if (delta < 0 && now < static_cast<std::uint64_t>(-delta))
    return out; // assert-worthy, but a leave without a join must not wrap
  now = static_cast<std::uint64_t>(static_cast<std::int64_t>(now) + delta);
  set_locked(this_node, presence_count{room, user, name, now}, out);
  return out;
}

std::vector<presence_change> presence_table::set(const std::string& node, const std::vector<presence_count>& counts) {
  std::vector<presence_change> out;
  std::lock_guard lock{mutex_};
  for (auto& c : counts)
    set_locked(node, c, out);
  return out;
}

std::vector<presence_change> presence_table::replace_node(const std::string& node,
                                                          const std::vector<presence_count>& counts) {
  std::vector<presence_change> out;
  std::lock_guard lock{mutex_};
  std::set<std::pair<std::string, std::string>> given;
  for (auto& c : counts)
    given.emplace(c.room, c.user);
  std::vector<presence_count> gone;
  for (auto& [room, r] : rooms_) {
    if (r.anonymous.count(node) != 0 && given.count({room, std::string{}}) == 0)
      gone.push_back(presence_count{room, {}, {}, 0});
    for (auto& [user, entry] : r.users)
      if (entry.nodes.count(node) != 0 && given.count({room, user}) == 0)
        gone.push_back(presence_count{room, user, {}, 0});
  }
  for (auto& c : gone)
    set_locked(node, c, out);
  for (auto& c : counts)
    set_locked(node, c, out);
  return out;
}

std::vector<presence_change> presence_table::drop_node(const std::string& node) { return replace_node(node, {}); }

presence_count presence_table::local_count(const std::string& room, const std::string& user) const {
  std::lock_guard lock{mutex_};
  presence_count c{room, user, {}, 0};
  auto it = rooms_.find(room);
  if (it == rooms_.end())
    return c;
  c.connections = node_count(it->second, this_node, user);
  if (auto u = it->second.users.find(user); u != it->second.users.end())
    c.name = u->second.name;
  return c;
}

std::vector<presence_count> presence_table::local_counts() const {
  std::vector<presence_count> out;
  std::lock_guard lock{mutex_};
  for (auto& [room, r] : rooms_) {
    if (auto a = r.anonymous.find(this_node); a != r.anonymous.end())
      out.push_back(presence_count{room, {}, {}, a->second});
    for (auto& [user, entry] : r.users)
      if (auto n = entry.nodes.find(this_node); n != entry.nodes.end())
        out.push_back(presence_count{room, user, entry.name, n->second});
  }
  return out;
}

presence_snapshot presence_table::snapshot(const std::string& room, bool members) const {
  presence_snapshot s;
  std::lock_guard lock{mutex_};
  auto it = rooms_.find(room);
  if (it == rooms_.end())
    return s;
  auto& r = it->second;
  s.users = r.users.size();
  if (members) {
    s.members.reserve(r.users.size());
    for (auto& [user, entry] : r.users)
      s.members.push_back(presence_member{user, entry.name, entry.total});
  }
  s.anonymous = r.anonymous_total;
  s.connections = r.connections;
  s.large = large_locked(r);
  return s;
}

std::vector<std::pair<std::string, std::uint64_t>> presence_table::rooms() const {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  std::lock_guard lock{mutex_};
  out.reserve(rooms_.size());
  for (auto& [room, r] : rooms_)
    out.emplace_back(room, r.connections);
  return out;
}

bool presence_table::large(const std::string& room) const {
  std::lock_guard lock{mutex_};
  auto it = rooms_.find(room);
  return it != rooms_.end() && large_locked(it->second);
}

} // namespace chatd::net
