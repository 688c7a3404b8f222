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
void seed_is_linked(self_ptr self, std::size_t index, const std::string& id) {
  auto& seed = self->state.seeds[index];
  seed.dialing = false;
  seed.backoff = first_dial_backoff;
  self->state.seed_of[id] = index;
}

// Adds or replaces the peer known as `id`. A restarted peer comes back as a
// new actor under the same id: the new handle wins.
void add_peer(self_ptr self, const std::string& id, const caf::actor& handle) {
  auto& peers = self->state.peers;
  auto it = peers.find(id);
  if (it != peers.end()) {
    if (it->second.handle == handle)
      return;
    self->demonitor(it->second.handle);
    it->second = {handle, 0};
  } else {
    peers.emplace(id, cluster_state::peer{handle, 0});
  }
  self->monitor(handle);
  auto& m = *self->state.metrics;
  auto [node, first_seen] = self->state.known.try_emplace(
      id, cluster_state::known_node{&m.cluster_link_sent(id), &m.cluster_link_received(id),
                                    &m.cluster_peer_down_drops(id)});
  // What was published before this node was first seen never went to it
  // either (e.g. a restarted node's first messages, before its links are
  // up): count those as if it had been known and down all along.
  if (first_seen && self->state.published > 0)
    node->second.dropped->Increment(static_cast<double>(self->state.published));
  update_peer_gauge(self);
  spdlog::info("node={} cluster: peer {} joined ({} peers)", self->state.node_id, id, peers.size());
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
                      caf::actor broadcaster, caf::io::middleman_actor dialer, chat_metrics* metrics) {
  auto& st = self->state;
  st.dialer = std::move(dialer);
  st.node_id = std::move(node_id);
  st.broadcaster = std::move(broadcaster);
  st.metrics = metrics;
  for (auto& address : seeds)
    st.seeds.push_back({address, first_dial_backoff, false});
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
    peers.erase(it);
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
      // A message from a local loop (via the broadcaster): once to every peer.
      [=](publish_atom, const frame_ptr& f) {
        ++self->state.published;
        auto& peers = self->state.peers;
        // A known node without a link now misses this message: say so.
        for (auto& [id, node] : self->state.known)
          if (peers.count(id) == 0)
            node.dropped->Increment();
        if (peers.empty())
          return;
        cluster_frame out{f->room, f->bytes, f->binary};
        self->state.metrics->cluster_messages_sent.Increment(static_cast<double>(peers.size()));
        for (auto& [id, p] : peers) {
          self->send(p.handle, forward_atom::value, out);
          self->state.known[id].sent->Increment();
        }
      },
      // A message from a peer: delivered here only, never forwarded again.
      [=](forward_atom, cluster_frame& in) {
        auto* from = sender_peer(self);
        if (!from)
          return; // not a greeted peer: ignore
        self->state.known[*from].received->Increment();
        auto f = std::make_shared<frame>();
        f->room = std::move(in.room);
        f->bytes = std::move(in.bytes);
        f->binary = in.binary;
        f->received_at = std::chrono::steady_clock::now();
        self->state.metrics->cluster_messages_received.Increment();
        self->send(self->state.broadcaster, publish_atom::value, frame_ptr{std::move(f)}, remote_origin);
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
