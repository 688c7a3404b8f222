#include "net/presence_json.hpp"

#include <nlohmann/json.hpp>

namespace chatd::net {

namespace {

// Keys in the order the README shows them ("type" first).
using json = nlohmann::ordered_json;

json members_json(const presence_snapshot& s) {
  auto members = json::array();
  for (auto& m : s.members)
    members.push_back({{"user", m.user}, {"name", m.name}, {"connections", m.connections}});
  return members;
}

// Names come from tokens; never let one bad byte make the whole answer fail.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

} // namespace

std::string presence_message(const presence_snapshot& s) {
  json j{{"type", "presence"}};
  if (s.large) {
    j["members"] = nullptr;
    j["users"] = s.users;
    j["connections"] = s.connections;
  } else {
    j["members"] = members_json(s);
  }
  j["anonymous"] = s.anonymous;
  return dump(j);
}

std::string member_message(const presence_change& c) {
  return dump({{"type", c.what == presence_change::kind::join ? "join" : "leave"}, {"user", c.user}, {"name", c.name}});
}

std::string rooms_document(const std::vector<std::pair<std::string, std::uint64_t>>& rooms) {
  auto j = json::array();
  for (auto& [room, connections] : rooms)
    j.push_back({{"room", room}, {"connections", connections}});
  return dump(j);
}

std::string room_presence_document(const std::string& room, const presence_snapshot& s) {
  return dump({{"room", room}, {"members", members_json(s)}, {"anonymous", s.anonymous}});
}

} // namespace chatd::net
