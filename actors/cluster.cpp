#include "actors/cluster.hpp"

#include "actors/broadcaster.hpp"
#include "net/room_history.hpp"
#include "proto/cluster_messages.hpp"

#include <caf/io/middleman_actor.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

namespace chatd::actors {

void held_frames::push(const frame_ptr& f) {
  bytes += f->payload().size();
  frames.push_back(f);
}

frame_ptr held_frames::pop() {
  auto f = std::move(frames.front());
  frames.pop_front();
  bytes -= f->payload().size();
  return f;
}

void held_frames::clear() {
  frames.clear();
  bytes = 0;
}

namespace {

using self_ptr = caf::stateful_actor<cluster_state>*;

// How long a dial may take before it counts as failed.
constexpr std::chrono::seconds dial_timeout{5};

// How long a hello or a room-list request waits after `attempt` (from 0)
// unanswered ones.
std::chrono::milliseconds attempt_timeout(int attempt) {
  return std::min(first_attempt_timeout * (1 << std::min(attempt, 8)), max_attempt_timeout);
}

// Keeps `f` in `h`; returns how many of the oldest had to go to stay within bounds.
std::size_t hold(held_frames& h, const frame_ptr& f) {
  h.push(f);
  std::size_t evicted = 0;
  while (!h.frames.empty() && (h.frames.size() > hold_max_messages || h.bytes > hold_max_bytes)) {
    h.pop();
    ++evicted;
  }
  return evicted;
}

void update_peer_gauge(self_ptr self) {
  self->state.metrics->cluster_peers.Set(static_cast<double>(self->state.peers.size()));
}

// A known node whose rooms we do not know (down, or linked but not told
// yet) makes every loop send every message to this actor, which sends it or
// counts it as dropped: see room_directory::unknown_peers.
void set_unknown(self_ptr self, cluster_state::known_node& node, bool unknown) {
  if (node.unknown == unknown)
    return;
  node.unknown = unknown;
  if (unknown)
    self->state.directory->add_unknown_peer();
  else
    self->state.directory->remove_unknown_peer();
}

void forget_rooms(cluster_state::peer& p) {
  for (auto& [room, presence] : p.rooms)
    presence->remove_peer();
  p.rooms.clear();
  p.rooms_known = false;
}

void add_room(self_ptr self, cluster_state::peer& p, const std::string& room) {
  auto [it, added] = p.rooms.try_emplace(room);
  if (!added)
    return;
  it->second = self->state.directory->get(room);
  it->second->add_peer();
}

room_list local_room_list(self_ptr self) {
  room_list out;
  for (auto& [room, generation] : self->state.local_rooms)
    out.rooms.push_back(room);
  return out;
}

// Peers know (or did not answer in time): clients waiting on generation `g`
// of `room` may be let in.
void announce(self_ptr self, const std::string& room, std::uint64_t g) {
  auto it = self->state.local_rooms.find(room);
  if (it == self->state.local_rooms.end() || it->second != g)
    return; // out of date: the room emptied or started again since
  if (self->state.directory->get(room)->announce(g))
    self->send(self->state.broadcaster, announced_atom::value, room, g);
}

// 0 to `most`, uniformly.
std::chrono::milliseconds random_delay(std::chrono::milliseconds most) {
  thread_local std::minstd_rand rng{std::random_device{}()};
  return std::chrono::milliseconds{std::uniform_int_distribution<long>(0, most.count())(rng)};
}

// Up to a quarter more or less: two nodes that dial each other at the same
// moment open two links, and CAF keeps neither for a while (seen with TLS,
// whose slower handshake widens the window); jitter pulls them apart.
std::chrono::milliseconds jittered(std::chrono::milliseconds d) { return d * 3 / 4 + random_delay(d / 2); }

void schedule_dial(self_ptr self, std::size_t index, std::chrono::milliseconds extra = {}) {
  auto& seed = self->state.seeds[index];
  if (seed.dialing)
    return;
  seed.dialing = true;
  self->delayed_send(self, jittered(seed.backoff) + extra, dial_atom::value, static_cast<std::uint64_t>(index));
  seed.backoff = std::min(seed.backoff * 2, max_dial_backoff);
}

cluster_frame to_wire(const frame& f) {
  return cluster_frame{f.room,
                       std::string{f.payload()},
                       static_cast<std::uint8_t>(f.kind),
                       f.v1_only,
                       f.user,
                       f.name,
                       f.ts_ms,
                       f.offset,
                       f.epoch ? *f.epoch : std::string{}};
}

// A frame for this node's loops; frames of one epoch share its string.
frame_ptr from_wire(self_ptr self, cluster_frame& m, std::chrono::steady_clock::time_point now) {
  auto kind = static_cast<message_kind>(m.kind);
  auto f = make_message_frame(std::move(m.room), m.bytes, kind == message_kind::binary, now);
  f->kind = kind;
  f->v1_only = m.v1_only;
  f->user = std::move(m.user);
  f->name = std::move(m.name);
  f->ts_ms = m.ts_ms;
  if (m.offset != 0) {
    auto& last = self->state.last_epoch;
    if (!last || *last != m.epoch)
      last = std::make_shared<const std::string>(std::move(m.epoch));
    f->offset = m.offset;
    f->epoch = last;
  }
  return f;
}

frame_batch from_wire(self_ptr self, cluster_batch& in) {
  auto now = std::chrono::steady_clock::now();
  frame_batch batch;
  batch.reserve(in.size());
  for (auto& m : in)
    batch.push_back(from_wire(self, m, now));
  return batch;
}

// This node and its peers: when the set changes, every loop learns it (and
// drops its logs of the rooms it no longer orders), in the order of the
// changes, through the broadcaster.
void update_view(self_ptr self, bool force = false) {
  auto& st = self->state;
  std::vector<std::string> view{st.node_id};
  for (auto& [id, p] : st.peers)
    view.push_back(id);
  std::sort(view.begin(), view.end());
  if (view == st.view && !force)
    return;
  st.view = view;
  const auto known = static_cast<std::uint64_t>(st.known.size() + 1);
  self->send(st.broadcaster, view_atom::value, std::move(view), st.ready, known);
}

// The peer that orders `room` in this node's view; null when it is this node.
cluster_state::peer* orderer(self_ptr self, const std::string& room, const std::string** id = nullptr) {
  auto& st = self->state;
  auto* node = net::ordering_node(room, st.view);
  if (!node || *node == st.node_id)
    return nullptr;
  auto it = st.peers.find(*node);
  if (it == st.peers.end())
    return nullptr;
  if (id)
    *id = &it->first;
  return &it->second;
}

// Each message to the node that orders its room in this node's view: a
// peer, or this node's broadcaster, or nowhere (counted) when the view names
// a peer that is not linked. One hop per node, one sender per receiver.
void send_to_order(self_ptr self, frame_batch batch) {
  auto& st = self->state;
  frame_batch here;
  std::map<const std::string*, cluster_batch> out;
  for (auto& f : batch) {
    const std::string* id = nullptr;
    if (orderer(self, f->room, &id))
      out[id].push_back(to_wire(*f));
    else if (*net::ordering_node(f->room, st.view) == st.node_id)
      here.push_back(std::move(f));
    else
      st.metrics->cluster_order_dropped.Increment();
  }
  if (!here.empty())
    self->send(st.broadcaster, order_atom::value, std::move(here));
  for (auto& [id, frames] : out) {
    st.metrics->cluster_order_sent(*id).Increment(static_cast<double>(frames.size()));
    self->send(st.peers[*id].handle, order_request_atom::value, std::move(frames));
  }
}

net::history_answer from_wire(self_ptr self, cluster_history_answer& a) {
  net::history_answer out;
  out.recovered = a.recovered;
  out.offset = a.offset;
  if (!a.epoch.empty())
    out.epoch = std::make_shared<const std::string>(a.epoch);
  out.frames = from_wire(self, a.frames);
  // The answer's frames and epoch are one: the session compares them.
  for (auto& f : out.frames)
    if (f->epoch && out.epoch && *f->epoch == *out.epoch)
      f->epoch = out.epoch;
  return out;
}

// Sends peer `id` (whose entry is `p`) those of `frames` whose room it has
// members of (all of them until it has said which rooms it has).
template <class Frames>
void send_to_peer(self_ptr self, const std::string& id, cluster_state::peer& p, const Frames& frames) {
  auto& st = self->state;
  cluster_batch out;
  out.reserve(frames.size());
  for (auto& f : frames)
    if (!p.rooms_known || p.rooms.count(f->room) != 0)
      out.push_back(to_wire(*f));
  auto& node = st.known[id];
  // No members there: not sent, and no drop either.
  if (out.size() < frames.size())
    node.unrouted->Increment(static_cast<double>(frames.size() - out.size()));
  if (out.empty())
    return;
  const auto sent = static_cast<double>(out.size());
  node.sent->Increment(sent);
  st.metrics->cluster_messages_sent.Increment(sent);
  self->send(p.handle, forward_atom::value, std::move(out));
}

// Peer `id` can take messages now: what waited for it goes first.
void release_backlog(self_ptr self, const std::string& id, cluster_state::peer& p) {
  p.holding = false;
  send_to_peer(self, id, p, p.backlog.frames);
  p.backlog.clear();
}

std::string pending_seeds(self_ptr self) {
  std::string out;
  for (auto& seed : self->state.seeds)
    if (seed.pending) {
      if (!out.empty())
        out += ',';
      out += seed.address.to_string();
    }
  return out;
}

// Nodes not seen yet get nothing held any more. What was held is counted for
// such a node when it is first seen, if ever (see add_peer); for a seed that
// was this node there is nobody to count it for.
void stop_holding(self_ptr self) {
  self->state.holding = false;
  self->state.held.clear();
}

// /readyz says ready from now on: every seed is linked or this node, or the
// grace period is over.
void become_ready(self_ptr self) {
  auto& st = self->state;
  if (st.ready)
    return;
  st.ready = true;
  st.metrics->cluster_ready.Set(1);
  update_view(self, true); // the loops' resumes that waited for it go out
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - st.started).count();
  if (auto pending = pending_seeds(self); pending.empty())
    spdlog::info("node={} cluster: ready: every seed linked or this node ({} peers) after {} ms", st.node_id,
                 st.peers.size(), ms);
  else
    spdlog::warn("node={} cluster: ready after the {} ms start-up grace period ({} ms), not linked yet: {}", st.node_id,
                 st.ready_grace.count(), ms, pending);
}

// The node id behind seed `index` if we have linked to it before and it is a
// peer right now (it dialled us): then there is nothing to dial.
bool seed_is_peer(self_ptr self, std::size_t index) {
  for (auto& [id, seed_index] : self->state.seed_of)
    if (seed_index == index && self->state.peers.count(id) != 0)
      return true;
  return false;
}

void redial_later(self_ptr self, std::size_t index) {
  self->state.seeds[index].dialing = false;
  schedule_dial(self, index);
}

// The peer whose cluster actor lives on CAF node `node`, if it is linked now.
const std::string* linked_peer_on(self_ptr self, const caf::node_id& node) {
  for (auto& [id, p] : self->state.peers)
    if (p.handle.node() == node)
      return &id;
  return nullptr;
}

// Seed `index` is linked (or turned out to be this node): it no longer keeps
// every message going through this actor, which counts what a node first
// seen later missed (see add_peer). Once every seed is, the node is ready.
void seed_resolved(self_ptr self, std::size_t index) {
  auto& seed = self->state.seeds[index];
  if (!seed.pending)
    return;
  seed.pending = false;
  self->state.directory->remove_unknown_peer();
  if (pending_seeds(self).empty()) {
    stop_holding(self);
    become_ready(self);
  }
}

// Seed `index` is peer `id`: remember it, so that seed_is_peer() stops us
// from dialling it while the link is up (a second connection to a linked
// node makes CAF drop the link, seen with TLS: a node that kept dialling a
// seed it had only been dialled by dropped that link every 5 s, for good).
// Answers to the dial still on their way are ignored.
void seed_is_linked(self_ptr self, std::size_t index, const std::string& id) {
  auto& seed = self->state.seeds[index];
  seed.dialing = false;
  seed.backoff = first_dial_backoff;
  seed.unanswered = 0;
  ++seed.attempt;
  self->state.seed_of[id] = index;
  seed_resolved(self, index);
}

// The link to peer `id` is usable both ways: it gets this node's full
// presence (replacing whatever it knew of us), then every change after it.
void link_presence(self_ptr self, const std::string& id, cluster_state::peer& p) {
  p.presence_linked = false;
  ++p.presence_epoch;
  if (self->state.presence)
    self->send(self->state.presence, pdump_atom::value, id, p.presence_epoch);
}

// Peer `id` is gone or came back as a new actor: its users leave here.
void unlink_presence(self_ptr self, const std::string& id, cluster_state::peer& p) {
  p.presence_linked = false;
  ++p.presence_epoch;
  if (self->state.presence)
    self->send(self->state.presence, pdrop_atom::value, id);
}

// What peer `id` (still at `handle`) has members of: filtering starts, and
// what waited for it is sent.
void take_room_list(self_ptr self, const std::string& id, const caf::actor& handle, room_list& list) {
  auto it = self->state.peers.find(id);
  if (it == self->state.peers.end() || it->second.handle != handle)
    return; // it has gone or come back since
  forget_rooms(it->second);
  for (auto& room : list.rooms)
    add_room(self, it->second, room);
  it->second.rooms_known = true;
  set_unknown(self, self->state.known[id], false);
  if (it->second.holding)
    release_backlog(self, id, it->second);
  link_presence(self, id, it->second);
}

// Asks peer `id` (at `handle`) which rooms it has members of: try `attempt`
// of greeting_attempts. It answers once it has greeted us; a request lost
// while simultaneous dials settle is sent again. Should it never answer, it
// gets every message, the waiting ones first.
void request_rooms(self_ptr self, const std::string& id, const caf::actor& handle, int attempt) {
  self->request(handle, attempt_timeout(attempt), get_rooms_atom::value)
      .then([=](rooms_atom, room_list& list) { take_room_list(self, id, handle, list); },
            [=](caf::error& err) {
              auto it = self->state.peers.find(id);
              if (it == self->state.peers.end() || it->second.handle != handle || it->second.rooms_known)
                return;
              if (attempt + 1 < greeting_attempts) {
                if (err == caf::sec::request_timeout)
                  request_rooms(self, id, handle, attempt + 1);
                else // not greeted by it yet: its hello (or our answer) is on its way
                  self->delayed_send(self, attempt_timeout(attempt), rooms_again_atom::value, id, handle, attempt + 1);
                return;
              }
              spdlog::warn("node={} cluster: peer {} did not say which rooms it has ({}): it gets every message",
                           self->state.node_id, id, self->system().render(err));
              if (it->second.holding)
                release_backlog(self, id, it->second);
              link_presence(self, id, it->second);
            });
}

// Adds or replaces the peer known as `id`. A restarted peer comes back as a
// new actor under the same id: the new handle wins.
void add_peer(self_ptr self, const std::string& id, const caf::actor& handle) {
  auto& st = self->state;
  auto it = st.peers.find(id);
  if (it != st.peers.end()) {
    if (it->second.handle == handle) {
      // Greeted again by a peer we still hold: it may have dropped us (and
      // what it knew of our presence) while we did not notice. Our full
      // presence again costs one dump; a stale view costs ghosts.
      if (it->second.rooms_known)
        link_presence(self, id, it->second);
      return;
    }
    self->demonitor(it->second.handle);
    forget_rooms(it->second);
    unlink_presence(self, id, it->second);
    it->second.handle = handle;
    it->second.connections = 0;
    it->second.holding = true; // what waits for it now waits for the new handle
  } else {
    cluster_state::peer p;
    p.handle = handle;
    it = st.peers.emplace(id, std::move(p)).first;
  }
  self->monitor(handle);
  auto& m = *st.metrics;
  auto [node, first_seen] =
      st.known.try_emplace(id, cluster_state::known_node{&m.cluster_link_sent(id), &m.cluster_link_received(id),
                                                         &m.cluster_peer_down_drops(id), &m.cluster_unrouted(id)});
  if (first_seen) {
    // What was published before this node was first seen never went to it,
    // except the latest messages still held at start-up: it gets those now.
    // The others count as if it had been known and down all along (e.g. a
    // node that came up after the grace period).
    const auto held = st.held.frames.size();
    if (st.published > held)
      node->second.dropped->Increment(static_cast<double>(st.published - held));
    for (auto& f : st.held.frames)
      it->second.backlog.push(f);
  }
  // Until it says which rooms it has members of, it gets every message.
  set_unknown(self, node->second, true);
  request_rooms(self, id, handle, 0);
  update_peer_gauge(self);
  update_view(self);
  spdlog::info("node={} cluster: peer {} joined ({} peers)", st.node_id, id, st.peers.size());
}

bool version_ok(self_ptr self, std::uint32_t version, const std::string& id) {
  if (version == cluster_protocol_version && id != self->state.node_id)
    return true;
  if (id == self->state.node_id)
    spdlog::error("node={} cluster: refusing a peer with our own node id", id);
  else
    spdlog::error("node={} cluster: refusing peer {}: it speaks protocol version {}, we speak {}", self->state.node_id,
                  id, version, cluster_protocol_version);
  return false;
}

// The peer this message came from, if it is one we greeted.
const std::string* sender_peer(self_ptr self) {
  auto sender = self->current_sender();
  for (auto& [id, p] : self->state.peers)
    if (caf::actor_cast<caf::strong_actor_ptr>(p.handle) == sender)
      return &id;
  return nullptr;
}

// Says hello to the cluster actor a dial of seed `index` reached. When two
// nodes dial each other at the same moment, CAF may keep a connection for
// one of them that the other has dropped: what is sent over it is lost
// until CAF times it out (5 s). So a hello unanswered within a short time
// (longer after each one, for a busy node) makes a new dial, which gets a
// live connection.
void greet(self_ptr self, std::size_t index, std::uint64_t dial, const caf::actor& remote) {
  const auto timeout = attempt_timeout(self->state.seeds[index].unanswered);
  self->request(remote, timeout, hello_atom::value, cluster_protocol_version, self->state.node_id)
      .then(
          [=](std::uint32_t version, const std::string& id) {
            if (self->state.seeds[index].attempt != dial)
              return; // its node greeted us first: linked already
            if (!version_ok(self, version, id)) {
              redial_later(self, index); // it may be upgraded; keep trying, slowly
              return;
            }
            add_peer(self, id, remote);
            seed_is_linked(self, index, id);
          },
          [=](caf::error& err) {
            auto& seed = self->state.seeds[index];
            if (seed.attempt != dial)
              return;
            if (auto* id = linked_peer_on(self, seed.node)) {
              seed_is_linked(self, index, *id); // it dialled us meanwhile: linked
              return;
            }
            if (err == caf::sec::request_timeout) {
              ++seed.unanswered;
              spdlog::info("node={} cluster: no answer to hello to {} within {} ms, dialling again",
                           self->state.node_id, seed.address.to_string(), timeout.count());
            } else {
              spdlog::warn("node={} cluster: hello to {} failed: {}", self->state.node_id, seed.address.to_string(),
                           self->system().render(err));
            }
            redial_later(self, index);
          });
}

void start_next_first_dial(self_ptr self);

// Seed `index` is this node's own entry: the seeds after it are never
// dialled from here (each of them dials this node), so no two nodes of one
// --peers list dial each other.
void found_self(self_ptr self, std::size_t index) {
  auto& st = self->state;
  st.found_self = true;
  seed_resolved(self, index);
  for (std::size_t k = index + 1; k < st.seeds.size(); ++k)
    st.seeds[k].passive = true;
  if (index + 1 < st.seeds.size())
    self->delayed_send(self, passive_fallback, passive_atom::value);
}

// Seeds listed after this node that never dialled it: dialled from here
// after all (slowly), in case --peers is in another order on their node.
void dial_silent_passive_seeds(self_ptr self) {
  auto& st = self->state;
  for (std::size_t k = 0; k < st.seeds.size(); ++k) {
    auto& seed = st.seeds[k];
    if (!seed.passive || !seed.pending)
      continue;
    spdlog::info("node={} cluster: {} has not dialled this node within {} s: dialling it (give every node the same "
                 "--peers list, in the same order)",
                 st.node_id, seed.address.to_string(), passive_fallback.count());
    seed.passive = false;
    seed.backoff = max_dial_backoff;
    schedule_dial(self, k);
  }
}

// The first dial of seed `index` has its answer (whatever it was): the next
// seed may be dialled, unless this node has found its own entry.
void first_dial_done(self_ptr self, std::size_t index) {
  auto& seed = self->state.seeds[index];
  if (seed.first_dial_done)
    return;
  seed.first_dial_done = true;
  if (index + 1 == self->state.next_first_dial)
    start_next_first_dial(self);
}

void start_next_first_dial(self_ptr self) {
  auto& st = self->state;
  if (st.found_self || st.next_first_dial >= st.seeds.size())
    return;
  const auto index = st.next_first_dial++;
  st.seeds[index].dialing = true;
  self->send(self, dial_atom::value, static_cast<std::uint64_t>(index));
}

// A peer that greeted us and is no seed we dial: one of the seeds listed
// after this node (they dial us), which is then linked.
void passive_seed_linked(self_ptr self, const std::string& id) {
  auto& st = self->state;
  if (st.seed_of.count(id) != 0)
    return;
  for (std::size_t k = 0; k < st.seeds.size(); ++k)
    if (st.seeds[k].passive && st.seeds[k].pending) {
      seed_is_linked(self, k, id);
      return;
    }
}

void dial(self_ptr self, std::size_t index) {
  auto& seed = self->state.seeds[index];
  if (seed.passive) {
    seed.dialing = false;
    return;
  }
  if (seed_is_peer(self, index)) {
    seed.dialing = false;
    first_dial_done(self, index);
    return;
  }
  const auto attempt = ++seed.attempt;
  seed.node = caf::node_id{};
  auto address = seed.address;
  self->request(self->state.dialer, dial_timeout, caf::connect_atom::value, address.host, address.port)
      .then(
          [=](const caf::node_id& node, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
            auto& seed = self->state.seeds[index];
            if (node == self->node()) {
              // The same --peers list on every node names this node too.
              spdlog::debug("node={} cluster: {} is this node", self->state.node_id, address.to_string());
              seed.dialing = false;
              found_self(self, index);
              return;
            }
            first_dial_done(self, index);
            if (seed.attempt != attempt)
              return;
            if (auto* id = linked_peer_on(self, node)) {
              seed_is_linked(self, index, *id); // it dialled us first; no hello needed
              return;
            }
            if (!ptr) {
              spdlog::warn("node={} cluster: {} publishes no actor", self->state.node_id, address.to_string());
              redial_later(self, index);
              return;
            }
            seed.node = node;
            greet(self, index, attempt, caf::actor_cast<caf::actor>(ptr));
          },
          [=](caf::error& err) {
            first_dial_done(self, index);
            if (self->state.seeds[index].attempt != attempt)
              return;
            spdlog::debug("node={} cluster: cannot reach {}: {}", self->state.node_id, address.to_string(),
                          self->system().render(err));
            redial_later(self, index);
          });
}

} // namespace

caf::behavior cluster(caf::stateful_actor<cluster_state>* self, std::string node_id, std::vector<peer_address> seeds,
                      std::chrono::milliseconds ready_grace, caf::actor broadcaster, caf::io::middleman_actor dialer,
                      chat_metrics* metrics, net::room_directory* directory) {
  auto& st = self->state;
  st.started = std::chrono::steady_clock::now();
  st.ready_grace = ready_grace;
  st.directory = directory;
  st.dialer = std::move(dialer);
  st.node_id = std::move(node_id);
  st.view = {st.node_id}; // the loops' view too, until a peer comes
  st.broadcaster = std::move(broadcaster);
  st.metrics = metrics;
  for (auto& address : seeds) {
    cluster_state::seed seed;
    seed.address = address;
    seed.backoff = first_dial_backoff;
    st.seeds.push_back(std::move(seed));
    st.directory->add_unknown_peer();
  }
  start_next_first_dial(self);
  if (st.seeds.empty() || ready_grace.count() == 0) {
    st.ready = true;
    st.metrics->cluster_ready.Set(1);
    update_view(self, true);
  } else {
    st.metrics->cluster_ready.Set(0);
    st.holding = true;
    self->delayed_send(self, ready_grace, grace_atom::value);
  }

  self->set_down_handler([=](caf::down_msg& down) {
    auto& peers = self->state.peers;
    auto it =
        std::find_if(peers.begin(), peers.end(), [&](auto& p) { return p.second.handle.address() == down.source; });
    if (it == peers.end())
      return; // an old handle of a peer that has since come back
    auto id = it->first;
    auto& node = self->state.known[id];
    // What waited for it was never sent.
    if (it->second.holding && !it->second.backlog.frames.empty())
      node.dropped->Increment(static_cast<double>(it->second.backlog.frames.size()));
    forget_rooms(it->second);
    unlink_presence(self, id, it->second);
    peers.erase(it);
    set_unknown(self, node, true);
    update_peer_gauge(self);
    update_view(self);
    spdlog::warn("node={} cluster: lost peer {}: {} ({} peers)", self->state.node_id, id,
                 self->system().render(down.reason), peers.size());
    // A lost link is dialled again by the node listed after the other
    // (the one that dialled it first); a seed listed after this node dials us.
    if (auto seed = self->state.seed_of.find(id);
        seed != self->state.seed_of.end() && !self->state.seeds[seed->second].passive) {
      self->state.seeds[seed->second].backoff = first_dial_backoff;
      schedule_dial(self, seed->second);
    }
  });

  return {
      [=](dial_atom, std::uint64_t index) { dial(self, index); },
      [=](passive_atom) { dial_silent_passive_seeds(self); },
      [=](grace_atom) {
        stop_holding(self);
        become_ready(self);
      },
      [=](hello_atom, std::uint32_t version, const std::string& id) {
        auto sender = caf::actor_cast<caf::actor>(self->current_sender());
        // Answered before anything else goes to it (our room-list request),
        // so that it has greeted us when that arrives.
        auto answer = self->make_response_promise();
        answer.deliver(cluster_protocol_version, self->state.node_id);
        if (sender && version_ok(self, version, id)) {
          add_peer(self, id, sender);
          passive_seed_linked(self, id);
          // A dial of ours that reached its node is done: when both dial at
          // once, the answer to our own hello may never come.
          auto& seeds = self->state.seeds;
          for (std::size_t i = 0; i < seeds.size(); ++i)
            if (seeds[i].dialing && seeds[i].node && seeds[i].node == sender.node())
              seed_is_linked(self, i, id);
        }
        return answer;
      },
      // Messages from local loops (via the broadcaster): once to every peer
      // that has members of their room, one hop per peer for the batch.
      [=](publish_atom, const frame_batch& batch) {
        auto& st = self->state;
        st.published += batch.size();
        if (st.holding)
          for (auto& f : batch)
            hold(st.held, f);
        // A known node without a link now misses these messages: say so.
        for (auto& [id, node] : st.known)
          if (st.peers.count(id) == 0)
            node.dropped->Increment(static_cast<double>(batch.size()));
        for (auto& [id, p] : st.peers) {
          if (!p.holding) {
            send_to_peer(self, id, p, batch);
            continue;
          }
          std::size_t evicted = 0;
          for (auto& f : batch)
            evicted += hold(p.backlog, f);
          if (evicted != 0)
            st.known[id].dropped->Increment(static_cast<double>(evicted));
        }
      },
      // Messages from a peer: delivered here only, never forwarded again.
      [=](forward_atom, cluster_batch& in) {
        auto* from = sender_peer(self);
        if (!from)
          return; // not a greeted peer: ignore
        const auto n = static_cast<double>(in.size());
        self->state.known[*from].received->Increment(n);
        self->state.metrics->cluster_messages_received.Increment(n);
        self->send(self->state.broadcaster, publish_atom::value, from_wire(self, in), remote_origin);
      },
      // From local loops: messages of rooms another node orders, each to
      // the node that orders it in this actor's view (this one, if the view
      // changed since the loop looked).
      [=](order_atom, frame_batch& batch) { send_to_order(self, std::move(batch)); },
      // From a peer: messages for this node to order, then deliver and fan
      // out like its own clients' (to every node with members, the sender's
      // too). While views disagree (a node linking back sees fewer nodes
      // than this one) the sender may have picked this node for a room a
      // node it does not see yet orders: this node passes such messages on,
      // rather than order them under an epoch of its own beside the room's.
      // Each such hop goes to a node with a higher rendezvous hash for the
      // room (the sender's pick won among fewer nodes), so it ends.
      [=](order_request_atom, cluster_batch& in) {
        auto* from = sender_peer(self);
        if (!from)
          return; // not a greeted peer: ignore
        self->state.metrics->cluster_order_received(*from).Increment(static_cast<double>(in.size()));
        send_to_order(self, from_wire(self, in));
      },
      // From a local loop: a session's history request for a room another
      // node orders. Answered through the broadcaster like a local one; if
      // that node does not answer in time, as not recovered.
      [=](histreq_atom, const std::string& room, const net::history_request& request, std::uint64_t loop,
          std::uint64_t session) {
        auto& st = self->state;
        auto* p = orderer(self, room);
        if (!p) {
          self->send(st.broadcaster, histreq_atom::value, room, request, loop, session);
          return;
        }
        cluster_history_request out{room, request.resume, request.epoch, request.offset, request.count};
        self->request(p->handle, remote_history_timeout, remote_history_atom::value, std::move(out))
            .then(
                [=](cluster_history_answer& a) {
                  self->send(self->state.broadcaster, histans_atom::value, loop, session, from_wire(self, a));
                },
                [=](caf::error& err) {
                  spdlog::warn("node={} cluster: no history for a session of room {}: {}", self->state.node_id, room,
                               self->system().render(err));
                  self->send(self->state.broadcaster, histans_atom::value, loop, session, net::history_answer{});
                });
      },
      // From a peer: a history request for a room this node orders, for its
      // loop to answer (behind what it has ordered so far).
      [=](remote_history_atom, cluster_history_request& in) {
        // Before the promise, which takes the sender out of the message.
        const bool greeted = sender_peer(self) != nullptr;
        auto answer = self->make_response_promise();
        if (!greeted) {
          answer.deliver(caf::make_error(caf::sec::unexpected_message));
          return answer;
        }
        auto& st = self->state;
        auto id = ++st.history_requests;
        st.history_asked.emplace(id, answer);
        net::history_request request;
        request.resume = in.resume;
        request.epoch = std::move(in.epoch);
        request.offset = in.offset;
        request.count = static_cast<std::size_t>(in.count);
        self->send(st.broadcaster, histreq_atom::value, in.room, request, remote_origin, id);
        return answer;
      },
      [=](histans_atom, std::uint64_t id, const net::history_answer& answer) {
        auto& asked = self->state.history_asked;
        auto it = asked.find(id);
        if (it == asked.end())
          return;
        cluster_history_answer out;
        out.recovered = answer.recovered;
        out.epoch = answer.epoch ? *answer.epoch : std::string{};
        out.offset = answer.offset;
        for (auto& f : answer.frames)
          out.frames.push_back(to_wire(*f));
        it->second.deliver(std::move(out));
        asked.erase(it);
      },
      // The server API removes a user from a room: every linked peer closes
      // that user's connections there too (a peer without a link now misses it).
      [=](remove_atom, const std::string& room, const std::string& user) {
        for (auto& [id, p] : self->state.peers)
          self->send(p.handle, remove_user_atom::value, room, user);
      },
      [=](remove_user_atom, const std::string& room, const std::string& user) {
        if (sender_peer(self))
          self->send(self->state.broadcaster, remove_atom::value, room, user, remote_origin);
      },
      // From a loop: this node got its first member of a room (peers must
      // know before that client is let in) or lost its last.
      [=](node_room_atom, const std::string& room, bool present, std::uint64_t generation) {
        auto& st = self->state;
        if (!present) {
          st.local_rooms.erase(room);
          for (auto& [id, p] : st.peers)
            self->send(p.handle, nointerest_atom::value, room);
          return;
        }
        st.local_rooms[room] = generation;
        auto waiting = std::make_shared<std::size_t>(st.peers.size());
        if (*waiting == 0) {
          announce(self, room, generation);
          return;
        }
        auto done = [=] {
          if (--*waiting == 0)
            announce(self, room, generation);
        };
        for (auto& [id, p] : st.peers)
          self->request(p.handle, interest_timeout, interest_atom::value, room)
              .then([=](ack_atom) { done(); }, [=](caf::error&) { done(); });
      },
      [=](interest_atom, const std::string& room) {
        if (auto* from = sender_peer(self))
          add_room(self, self->state.peers[*from], room);
        return ack_atom::value;
      },
      [=](nointerest_atom, const std::string& room) {
        auto* from = sender_peer(self);
        if (!from)
          return;
        auto& p = self->state.peers[*from];
        if (auto it = p.rooms.find(room); it != p.rooms.end()) {
          it->second->remove_peer();
          p.rooms.erase(it);
        }
      },
      [=](rooms_atom, room_list& list) {
        if (auto* from = sender_peer(self)) {
          auto id = *from;
          take_room_list(self, id, self->state.peers[id].handle, list);
        }
      },
      [=](rooms_again_atom, const std::string& id, const caf::actor& handle, int attempt) {
        auto it = self->state.peers.find(id);
        if (it != self->state.peers.end() && it->second.handle == handle && !it->second.rooms_known)
          request_rooms(self, id, handle, attempt);
      },
      // Answered only to a peer that has greeted us, so that what we send
      // after the answer is not dropped as coming from a stranger.
      [=](get_rooms_atom) -> caf::result<rooms_atom, room_list> {
        if (!sender_peer(self))
          return caf::make_error(caf::sec::unexpected_message);
        return {rooms_atom::value, local_room_list(self)};
      },
      [=](presence_atom, caf::actor presence) {
        self->state.presence = std::move(presence);
        for (auto& [id, p] : self->state.peers)
          if (p.rooms_known)
            link_presence(self, id, p);
      },
      // From the presence actor: its full dump for peer `id`, asked at link-up.
      [=](pdump_atom, const std::string& id, std::uint64_t epoch, presence_update& dump) {
        auto it = self->state.peers.find(id);
        if (it == self->state.peers.end() || it->second.presence_epoch != epoch)
          return; // gone or linked again since: a newer dump is on its way
        self->send(it->second.handle, pstate_atom::value, self->state.node_id, std::move(dump), true);
        it->second.presence_linked = true;
      },
      // From the presence actor: this node's changed counts, to every peer
      // that has had its dump (the others get them in theirs).
      [=](pstate_atom, const presence_update& update) {
        for (auto& [id, p] : self->state.peers)
          if (p.presence_linked)
            self->send(p.handle, pstate_atom::value, self->state.node_id, update, false);
      },
      // From a peer: its counts (`replace`: all of them). Taken from greeted
      // peers only, and only as what that peer says of itself.
      [=](pstate_atom, const std::string& id, presence_update& update, bool replace) {
        if (auto* from = sender_peer(self); from && *from == id && self->state.presence)
          self->send(self->state.presence, pstate_atom::value, id, std::move(update), replace);
      },
      [=](census_atom, const std::string& id, std::uint64_t connections) {
        if (auto* from = sender_peer(self); from && *from == id)
          self->state.peers[id].connections = connections;
      },
      // From the ticker: this node's count in, the whole cluster's count out.
      [=](count_atom, std::uint64_t local) {
        std::uint64_t total = local;
        for (auto& [id, p] : self->state.peers) {
          self->send(p.handle, census_atom::value, self->state.node_id, local);
          total += p.connections;
        }
        return caf::make_message(total, static_cast<std::uint64_t>(self->state.peers.size()));
      },
  };
}

} // namespace chatd::actors
