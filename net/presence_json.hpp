#pragma once

#include "net/presence_table.hpp"

#include <string>

namespace chatd::net {

// The JSON chatd speaks about presence (README "Presence").

// To a chatd.v1 client after it joined, and to a room that crossed
// --presence-max-members: {"type":"presence","members":[...],"anonymous":n},
// or for a large room {"type":"presence","members":null,"users":U,
// "connections":C,"anonymous":A}.
std::string presence_message(const presence_snapshot& s);
// {"type":"join"|"leave","user":...,"name":...}
std::string member_message(const presence_change& c);
// GET /api/rooms: [{"room":"lobby","connections":N},...]
std::string rooms_document(const std::vector<std::pair<std::string, std::uint64_t>>& rooms);
// GET /api/rooms/<room>/presence: {"room":..,"members":[...],"anonymous":n}
std::string room_presence_document(const std::string& room, const presence_snapshot& s);

} // namespace chatd::net
