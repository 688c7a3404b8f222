#include "actors/cluster.hpp"

#include "proto/cluster_messages.hpp"

#include <caf/io/middleman_actor.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

namespace chatd::actors {

namespace {

using self_ptr = caf::stateful_actor<cluster_state>*;

// How long a dial or a hello may take before it counts as failed.
constexpr std::chrono::seconds handshake_timeout{5};

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

// Seed `index` turned out to be peer `id`, which dialled us and is linked:
// remember it, so that seed_is_peer() stops us from dialling it while the
// link is up. A second connection to a linked node makes CAF drop the link
// (seen with TLS): a node that kept dialling a seed it had only been dialled
// by dropped that link every 5 s, for good.
// Seed `index` is linked (or turned out to be this node): it no longer keeps
// every message going through this actor, which counts what a node first
// seen later missed (see add_peer).
void seed_resolved(self_ptr self, std::size_t index) {
  auto& seed = self->state.seeds[index];
  if (!seed.pending)
    return;
  seed.pending = false;
  self->state.directory->remove_unknown_peer();
}

void seed_is_linked(self_ptr self, std::size_t index, const std::string& id) {
  auto& seed = self->state.seeds[index];
  seed.dialing = false;
  seed.backoff = first_dial_backoff;
  self->state.seed_of[id] = index;
  seed_resolved(self, index);
}

void take_room_list(self_ptr self, const std::string& id, const caf::actor& handle, room_list& list);

// Adds or replaces the peer known as `id`. A restarted peer comes back as a
// new actor under the same id: the new handle wins.
void add_peer(self_ptr self, const std::string& id, const caf::actor& handle) {
  auto& peers = self->state.peers;
  auto it = peers.find(id);
  if (it != peers.end()) {
    if (it->second.handle == handle)
      return;
    self->demonitor(it->second.handle);
    forget_rooms(it->second);
    it->second.handle = handle;
    it->second.connections = 0;
  } else {
    it = peers.emplace(id, cluster_state::peer{handle, 0}).first;
  }
  self->monitor(handle);
  auto& m = *self->state.metrics;
  auto [node, first_seen] = self->state.known.try_emplace(
      id, cluster_state::known_node{&m.cluster_link_sent(id), &m.cluster_link_received(id),
                                    &m.cluster_peer_down_drops(id), &m.cluster_unrouted(id)});
  // What was published before this node was first seen never went to it
  // either (e.g. a restarted node's first messages, before its links are
  // up): count those as if it had been known and down all along.
  if (first_seen && self->state.published > 0)
    node->second.dropped->Increment(static_cast<double>(self->state.published));
  // Until it says which rooms it has members of, it gets every message.
  set_unknown(self, node->second, true);
  self->request(handle, handshake_timeout, get_rooms_atom::value)
      .then([=](rooms_atom, room_list& list) { take_room_list(self, id, handle, list); }, [](caf::error&) {});
  update_peer_gauge(self);
  spdlog::info("node={} cluster: peer {} joined ({} peers)", self->state.node_id, id, peers.size());
}

// What peer `id` (still at `handle`) has members of: filtering starts.
void take_room_list(self_ptr self, const std::string& id, const caf::actor& handle, room_list& list) {
  auto it = self->state.peers.find(id);
  if (it == self->state.peers.end() || it->second.handle != handle)
    return; // it has gone or come back since
  forget_rooms(it->second);
  for (auto& room : list.rooms)
    add_room(self, it->second, room);
  it->second.rooms_known = true;
  set_unknown(self, self->state.known[id], false);
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

void dial(self_ptr self, std::size_t index) {
  if (seed_is_peer(self, index)) {
    self->state.seeds[index].dialing = false;
    return;
  }
  auto address = self->state.seeds[index].address;
  self->request(self->state.dialer, handshake_timeout, caf::connect_atom::value, address.host, address.port)
      .then(
          [=](const caf::node_id& node, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
            if (node == self->node()) {
              // The same --peers list on every node names this node too.
              spdlog::debug("node={} cluster: {} is this node", self->state.node_id, address.to_string());
              seed_resolved(self, index);
              return;
            }
            if (auto* id = linked_peer_on(self, node)) {
              seed_is_linked(self, index, *id); // it dialled us first; no hello needed
              return;
            }
            if (!ptr) {
              spdlog::warn("node={} cluster: {} publishes no actor", self->state.node_id, address.to_string());
              redial_later(self, index);
              return;
            }
            auto remote = caf::actor_cast<caf::actor>(ptr);
            self->request(remote, handshake_timeout, hello_atom::value, cluster_protocol_version, self->state.node_id)
                .then(
                    [=](std::uint32_t version, const std::string& id) {
                      if (!version_ok(self, version, id)) {
                        redial_later(self, index); // it may be upgraded; keep trying, slowly
                        return;
                      }
                      auto& seed = self->state.seeds[index];
                      seed.dialing = false;
                      seed.backoff = first_dial_backoff;
                      self->state.seed_of[id] = index;
                      add_peer(self, id, remote);
                      seed_resolved(self, index);
                    },
                    [=](caf::error& err) {
                      if (auto* id = linked_peer_on(self, node)) {
                        seed_is_linked(self, index, *id); // it dialled us meanwhile: linked
                        return;
                      }
                      spdlog::warn("node={} cluster: hello to {} failed: {}", self->state.node_id, address.to_string(),
                                   self->system().render(err));
                      redial_later(self, index);
                    });
          },
          [=](caf::error& err) {
            spdlog::debug("node={} cluster: cannot reach {}: {}", self->state.node_id, address.to_string(),
                          self->system().render(err));
            redial_later(self, index);
          });
}

} // namespace

caf::behavior cluster(caf::stateful_actor<cluster_state>* self, std::string node_id, std::vector<peer_address> seeds,
                      caf::actor broadcaster, caf::io::middleman_actor dialer, chat_metrics* metrics,
                      net::room_directory* directory) {
  auto& st = self->state;
  st.directory = directory;
  st.dialer = std::move(dialer);
  st.node_id = std::move(node_id);
  st.broadcaster = std::move(broadcaster);
  st.metrics = metrics;
  for (auto& address : seeds) {
    st.seeds.push_back({address, first_dial_backoff, false});
    st.directory->add_unknown_peer();
  }
  for (std::size_t i = 0; i < st.seeds.size(); ++i) {
    st.seeds[i].dialing = true;
    // Spread out so that nodes started together rarely dial each other at once.
    self->delayed_send(self, random_delay(2 * first_dial_backoff), dial_atom::value, static_cast<std::uint64_t>(i));
  }

  self->set_down_handler([=](caf::down_msg& down) {
    auto& peers = self->state.peers;
    auto it =
        std::find_if(peers.begin(), peers.end(), [&](auto& p) { return p.second.handle.address() == down.source; });
    if (it == peers.end())
      return; // an old handle of a peer that has since come back
    auto id = it->first;
    forget_rooms(it->second);
    peers.erase(it);
    set_unknown(self, self->state.known[id], true);
    update_peer_gauge(self);
    spdlog::warn("node={} cluster: lost peer {}: {} ({} peers)", self->state.node_id, id,
                 self->system().render(down.reason), peers.size());
    if (auto seed = self->state.seed_of.find(id); seed != self->state.seed_of.end()) {
      // Both ends redial a lost link; the one with the smaller id goes first
      // and the other finds it connected (see jittered()).
      self->state.seeds[seed->second].backoff = first_dial_backoff;
      schedule_dial(self, seed->second, self->state.node_id < id ? std::chrono::milliseconds{} : max_dial_backoff / 5);
    }
  });

  return {
      [=](dial_atom, std::uint64_t index) { dial(self, index); },
      [=](hello_atom, std::uint32_t version, const std::string& id) {
        auto sender = caf::actor_cast<caf::actor>(self->current_sender());
        if (sender && version_ok(self, version, id))
          add_peer(self, id, sender);
        return caf::make_message(cluster_protocol_version, self->state.node_id);
      },
      // Messages from local loops (via the broadcaster): once to every peer
      // that has members of their room, one hop per peer for the batch.
      [=](publish_atom, const frame_batch& batch) {
        auto& st = self->state;
        st.published += batch.size();
        const auto n = static_cast<double>(batch.size());
        // A known node without a link now misses these messages: say so.
        for (auto& [id, node] : st.known)
          if (st.peers.count(id) == 0)
            node.dropped->Increment(n);
        for (auto& [id, p] : st.peers) {
          cluster_batch out;
          for (auto& f : batch)
            if (!p.rooms_known || p.rooms.count(f->room) != 0)
              out.push_back(cluster_frame{f->room, std::string{f->payload()}, f->binary});
          auto& node = st.known[id];
          // No members there: not sent, and no drop either.
          if (out.size() < batch.size())
            node.unrouted->Increment(static_cast<double>(batch.size() - out.size()));
          if (out.empty())
            continue;
          const auto sent = static_cast<double>(out.size());
          node.sent->Increment(sent);
          st.metrics->cluster_messages_sent.Increment(sent);
          self->send(p.handle, forward_atom::value, std::move(out));
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
        auto now = std::chrono::steady_clock::now();
        frame_batch batch;
        batch.reserve(in.size());
        for (auto& m : in)
          batch.push_back(make_message_frame(std::move(m.room), m.bytes, m.binary, now));
        self->send(self->state.broadcaster, publish_atom::value, std::move(batch), remote_origin);
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
      [=](get_rooms_atom) { return caf::make_message(rooms_atom::value, local_room_list(self)); },
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
