// chatd: wires the network loops to the actors and runs until SIGTERM/SIGINT.
#include "actors/broadcaster.hpp"
#include "actors/cluster.hpp"
#include "actors/loop_actor.hpp"
#include "actors/presence.hpp"
#include "actors/registry.hpp"
#include "actors/ticker.hpp"
#include "app/cluster_tls.hpp"
#include "app/options.hpp"
#include "app/token_command.hpp"
#include "net/auth.hpp"
#include "net/server.hpp"
#include "proto/chat_metrics.hpp"
#include "proto/cluster_messages.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/send.hpp>
#include <spdlog/fmt/ranges.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <iostream>

namespace {

void set_up_logging() {
  auto logger = spdlog::stderr_color_mt("chatd");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_default_logger(logger);
  spdlog::flush_on(spdlog::level::info);
}

} // namespace

int main(int argc, char** argv) {
  chatd::app::options opts;
  if (auto code = chatd::app::parse_options(argc, argv, opts, std::cout, std::cerr))
    return *code;
  if (opts.token)
    return chatd::app::mint_token(*opts.token, std::cout, std::cerr);
  set_up_logging();
  // A client that goes away mid-write must not kill the process.
  std::signal(SIGPIPE, SIG_IGN);

  if (opts.cluster_tls())
    if (auto problem = chatd::app::check_cluster_credentials(opts.cluster_cert, opts.cluster_key, opts.cluster_ca)) {
      spdlog::error("{}", *problem);
      return 1;
    }

  chatd::chat_metrics metrics;
  chatd::net::server server{opts.server, metrics};
  // In a cluster a node's first member of a room waits until peers know of it.
  server.directory().set_clustered(opts.clustered());
  // Not ready (/readyz) until its seeds are linked or the grace is over: the
  // cluster actor says when.
  if (!opts.peers.empty() && opts.cluster_ready_grace.count() > 0)
    metrics.cluster_ready.Set(0);
  try {
    server.listen();
  } catch (const std::system_error& e) {
    spdlog::error("{}", e.what());
    return 1;
  }

  caf::actor_system_config config;
  // The actors do little work per message; the loops need the cores. CAF's
  // default (at least 4 workers) spent about a quarter of chatd's CPU waking
  // and parking idle workers in bench/ echo runs on 2 cores.
  config.set("scheduler.max-threads", std::size_t{1});
  if (opts.clustered()) {
    config.load<caf::io::middleman>();
    chatd::add_cluster_message_types(config);
    // A peer that sends nothing (not even a heartbeat) for --cluster-timeout is gone.
    config.set("middleman.heartbeat-interval", caf::timespan{opts.cluster_timeout / 5});
    config.set("middleman.connection-timeout", caf::timespan{opts.cluster_timeout});
    if (opts.cluster_tls()) {
      // Both ends present a certificate and check the other's against the CA.
      config.load<caf::openssl::manager>();
      config.openssl_certificate = opts.cluster_cert;
      config.openssl_key = opts.cluster_key;
      config.openssl_cafile = opts.cluster_ca;
    }
  }
  caf::actor_system system{config};
  std::vector<std::unique_ptr<chatd::actors::loop_actor>> bridges;
  std::vector<caf::actor> loop_handles;
  for (std::size_t i = 0; i < server.loop_count(); ++i) {
    bridges.push_back(std::make_unique<chatd::actors::loop_actor>(system, server.loop(i)));
    loop_handles.push_back(bridges.back()->handle());
  }
  auto broadcaster = system.spawn(chatd::actors::broadcaster, loop_handles);
  auto registry = system.spawn(chatd::actors::registry, server.loop_count(), &metrics);
  caf::actor cluster;
  if (opts.clustered()) {
    auto dialer = opts.cluster_tls() ? system.openssl_manager().actor_handle() : system.middleman().actor_handle();
    cluster = system.spawn(chatd::actors::cluster, opts.server.node_id, opts.peers, opts.cluster_ready_grace,
                           broadcaster, dialer, &metrics, &server.directory());
    caf::anon_send(broadcaster, chatd::cluster_atom::value, cluster);
    if (opts.cluster_port != 0) {
      // Without certificates anyone who reaches the port could inject
      // messages into every room: then only this host may, unless told otherwise.
      auto bind = opts.cluster_bind.empty() ? (opts.cluster_tls() ? std::string{"0.0.0.0"} : std::string{"127.0.0.1"})
                                            : opts.cluster_bind;
      const char* in = bind == "0.0.0.0" ? nullptr : bind.c_str();
      auto published = opts.cluster_tls() ? caf::openssl::publish(cluster, opts.cluster_port, in, true)
                                          : system.middleman().publish(cluster, opts.cluster_port, in, true);
      if (!published) {
        spdlog::error("cannot open cluster port {}:{}: {}", bind, opts.cluster_port, system.render(published.error()));
        caf::anon_send_exit(cluster, caf::exit_reason::user_shutdown);
        for (auto& actor : {registry, broadcaster})
          caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
        return 1;
      }
      spdlog::info("cluster port {}:{} open, peers: {}", bind, *published, opts.peers.size());
      if (opts.cluster_tls())
        spdlog::info("cluster links: TLS, peers must present a certificate signed by {}", opts.cluster_ca);
      else if (opts.cluster_bind.empty())
        spdlog::warn("cluster links are not authenticated (no --cluster-cert/--cluster-key/--cluster-ca): "
                     "the cluster port listens on 127.0.0.1 only; --cluster-bind opens it wider");
      else
        spdlog::warn("cluster links are not authenticated (no --cluster-cert/--cluster-key/--cluster-ca) and the "
                     "cluster port listens on {}: anyone who can reach it can inject messages into every room",
                     bind);
    }
  }
  auto presence = system.spawn(chatd::actors::presence, &server.presence(), loop_handles, cluster);
  if (cluster)
    caf::anon_send(cluster, chatd::presence_atom::value, presence);
  auto ticker = system.spawn(chatd::actors::ticker, registry, cluster, opts.tick, opts.server.node_id);
  for (std::size_t i = 0; i < server.loop_count(); ++i) {
    bridges[i]->connect(registry, broadcaster, cluster, presence);
    server.loop(i).set_events(bridges[i].get());
  }

  // Handlers first, so a signal that comes right after start-up is not fatal.
  boost::asio::io_context signal_context;
  boost::asio::signal_set signals(signal_context, SIGINT, SIGTERM);
  signals.async_wait([](boost::system::error_code, int signo) {
    spdlog::info("received {}, shutting down", signo == SIGTERM ? "SIGTERM" : "SIGINT");
  });

  server.start();
  spdlog::info("listening on {}:{} threads={} node={}", opts.server.bind, server.port(), server.loop_count(),
               opts.server.node_id);
  auto limit = [](auto value) { return value == 0 ? std::string{"none"} : fmt::format("{}", value); };
  spdlog::info("limits: max-connections={} max-messages-per-second={} max-handshakes-per-second={}",
               limit(opts.server.max_connections), limit(opts.server.max_messages_per_second),
               limit(opts.server.max_handshakes_per_second));
  if (server.admission().origins_open())
    spdlog::warn("--allowed-origins is *: a page from any site may open WebSockets here on its visitors' behalf; "
                 "set it to the chat page's origin(s)");
  else
    spdlog::info("allowed origins: {}", fmt::join(opts.server.allowed_origins, ","));
  if (const auto& auth = opts.server.auth) {
    const auto& checks = auth->options();
    spdlog::info("authentication: JWT {} key from {}{}{}", to_string(auth->kind()), opts.auth_jwt_key,
                 checks.issuer.empty() ? std::string{} : ", issuer " + checks.issuer,
                 checks.audience.empty() ? std::string{} : ", audience " + checks.audience);
  } else {
    spdlog::warn("authentication off: no --auth-jwt-key, anyone may join any room");
  }

  signal_context.run();
  server.stop();
  // Leaving the cluster: peers see the cluster actor go down.
  for (auto& actor : {ticker, cluster, presence, registry, broadcaster})
    if (actor)
      caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
  spdlog::info("stopped");
  return 0;
}
