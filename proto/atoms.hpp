#pragma once

#include "proto/frame.hpp"
#include "proto/presence_count.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>

#include <cstdint>
#include <vector>

namespace chatd {

// Messages between the actors of one node.
using track_atom = caf::atom_constant<caf::atom("track")>;     // (track, room, loop): a member joined
using untrack_atom = caf::atom_constant<caf::atom("untrack")>; // (untrack, room, loop): a member left
using route_atom = caf::atom_constant<caf::atom("route")>;     // (route, room, loop, bool): loop has members or not
using publish_atom = caf::atom_constant<caf::atom("publish")>; // (publish, frame_batch, origin loop)
using deliver_atom = caf::atom_constant<caf::atom("deliver")>; // (deliver, frame_batch): to a loop's members
// Order (docs/DESIGN.md "Order, history and resume"). (order, frame_batch): loop ->
// broadcaster, messages for the loops that order their rooms; (sequence, frame_batch):
// broadcaster -> that loop. (histreq, room, history_request, loop, session): a session's
// history request, loop -> broadcaster -> the ordering loop; (histans, loop, session,
// history_answer): the answer, the ordering loop -> broadcaster -> the session's loop.
using order_atom = caf::atom_constant<caf::atom("order")>;
using sequence_atom = caf::atom_constant<caf::atom("sequence")>;
using histreq_atom = caf::atom_constant<caf::atom("histreq")>;
using histans_atom = caf::atom_constant<caf::atom("histans")>;
// Order across nodes (docs/DESIGN.md "Order across nodes"). (order, frame_batch): loop ->
// cluster, messages of rooms another node orders; (histreq, room, history_request, loop,
// session): loop -> cluster, a session's history request for such a room; (view, node ids,
// ready, known): cluster -> broadcaster -> every loop, this node and its linked peers, whenever
// that or the node's readiness (every seed linked, or the grace over) changes, and how many
// nodes it has ever known (itself included).
using view_atom = caf::atom_constant<caf::atom("view")>;
// (noderoom, room, present, generation): loop -> cluster, the node got its first member of a room or lost its last
using node_room_atom = caf::atom_constant<caf::atom("noderoom")>;
// (announced, room, generation): cluster -> broadcaster -> loops, peers know of the node's members
using announced_atom = caf::atom_constant<caf::atom("announced")>;
// (remove, room, user, origin loop): loop -> broadcaster; (remove, room, user): broadcaster -> other loops and
// the cluster actor. The server API closes the user's connections in the room everywhere.
using remove_atom = caf::atom_constant<caf::atom("remove")>;
using count_atom = caf::atom_constant<caf::atom("count")>; // (count) -> connections on this node
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using cluster_atom = caf::atom_constant<caf::atom("cluster")>; // (cluster, actor): where to send publishes for peers
using dial_atom = caf::atom_constant<caf::atom("dial")>;       // (dial, seed index): try to reach a peer
using grace_atom = caf::atom_constant<caf::atom("grace")>;     // (grace): the start-up grace period is over
// (passive): seeds listed after this node that have not dialled it yet are dialled from here after all
using passive_atom = caf::atom_constant<caf::atom("passive")>;
// (roomsagain, node id, handle, attempt): ask a linked peer for its rooms once more
using rooms_again_atom = caf::atom_constant<caf::atom("roomsagain")>;

// Presence (see actors/presence.hpp).
using presence_atom = caf::atom_constant<caf::atom("presence")>; // (presence, actor): cluster learns the presence actor
using pjoin_atom = caf::atom_constant<caf::atom("pjoin")>;       // (pjoin, presence_session): loop -> presence
using pleave_atom = caf::atom_constant<caf::atom("pleave")>;     // (pleave, presence_session): loop -> presence
// (psnap, connection, frame_batch): presence -> loop, a v1 member's snapshot
using psnap_atom = caf::atom_constant<caf::atom("psnap")>;
// (pevent, frame_batch): presence -> loop, for the v1 members of the frames' rooms that have their snapshot
using pevent_atom = caf::atom_constant<caf::atom("pevent")>;
using pflush_atom = caf::atom_constant<caf::atom("pflush")>; // (pflush): presence sends its pending counts
// (pdump, node id, epoch): cluster -> presence, a full dump for a new link; answered with
// (pdump, node id, epoch, presence_update)
using pdump_atom = caf::atom_constant<caf::atom("pdump")>;
using pdrop_atom = caf::atom_constant<caf::atom("pdrop")>; // (pdrop, node id): cluster -> presence, a node is gone
// (pstate, presence_update): presence -> cluster, this node's changed counts;
// (pstate, node id, presence_update, replace): cluster <-> cluster and cluster -> presence
using pstate_atom = caf::atom_constant<caf::atom("pstate")>;

// The origin of a frame that came from another node rather than a local loop.
inline constexpr std::uint64_t remote_origin = ~std::uint64_t{0};

// What one loop pass published, or what one actor hop carries: frames in
// the order they were read.
using frame_batch = std::vector<frame_ptr>;

} // namespace chatd

// Frames stay inside one process: they are shared by pointer between loops
// and never serialized, so CAF may carry them without an inspect() overload.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(chatd::frame_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(chatd::presence_session)
