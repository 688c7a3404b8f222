#pragma once

#include "proto/frame.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>

#include <cstdint>

namespace chatd {

// Messages between the actors of one node.
using track_atom = caf::atom_constant<caf::atom("track")>;     // (track, room, loop): a member joined
using untrack_atom = caf::atom_constant<caf::atom("untrack")>; // (untrack, room, loop): a member left
using route_atom = caf::atom_constant<caf::atom("route")>;     // (route, room, loop, bool): loop has members or not
using publish_atom = caf::atom_constant<caf::atom("publish")>; // (publish, frame, origin loop)
using deliver_atom = caf::atom_constant<caf::atom("deliver")>; // (deliver, frame): to a loop's members
using count_atom = caf::atom_constant<caf::atom("count")>;     // (count) -> connections on this node
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using cluster_atom = caf::atom_constant<caf::atom("cluster")>; // (cluster, actor): where to send publishes for peers
using dial_atom = caf::atom_constant<caf::atom("dial")>;       // (dial, seed index): try to reach a peer

// The origin of a frame that came from another node rather than a local loop.
inline constexpr std::uint64_t remote_origin = ~std::uint64_t{0};

} // namespace chatd

// A frame stays inside one process: it is shared by pointer between loops and
// never serialized, so CAF may carry it without an inspect() overload.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(chatd::frame_ptr)
