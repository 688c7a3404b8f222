#include "net/http_routes.hpp"

#include <gtest/gtest.h>

using namespace chatd::net;

namespace {
http_request get(std::string target, http::verb verb = http::verb::get) {
  http_request req{verb, target, 11};
  req.set(http::field::host, "localhost");
  return req;
}
} // namespace

TEST(http_routes, metrics_is_prometheus_text) {
  chatd::chat_metrics metrics;
  metrics.connections.Set(2);
  auto res = route_request(get("/metrics"), metrics, "n1");
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res[http::field::content_type], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(res.body().find("chat_connections 2\n"), std::string::npos);
}

TEST(http_routes, healthz_and_page) {
  chatd::chat_metrics metrics;
  EXPECT_EQ(route_request(get("/healthz"), metrics, "n1").result(), http::status::ok);
  auto page = route_request(get("/"), metrics, "n1");
  EXPECT_EQ(page.result(), http::status::ok);
  EXPECT_EQ(page[http::field::content_type], "text/html; charset=utf-8");
  EXPECT_NE(page.body().find("<title>chatd</title>"), std::string::npos);
}

TEST(http_routes, readyz_says_whether_the_cluster_has_formed) {
  chatd::chat_metrics metrics; // no seeds to wait for: ready
  auto ready = route_request(get("/readyz"), metrics, "n1");
  EXPECT_EQ(ready.result(), http::status::ok);
  EXPECT_EQ(ready.body(), "ready\n");
  metrics.cluster_ready.Set(0); // seeds not linked yet, grace not over
  auto starting = route_request(get("/readyz"), metrics, "n1");
  EXPECT_EQ(starting.result(), http::status::service_unavailable);
  EXPECT_EQ(starting.body(), "starting\n");
  auto head = route_request(get("/readyz", http::verb::head), metrics, "n1");
  EXPECT_EQ(head.result(), http::status::service_unavailable);
  EXPECT_TRUE(head.body().empty());
  EXPECT_EQ(route_request(get("/readyz", http::verb::post), metrics, "n1").result(), http::status::method_not_allowed);
  // Liveness does not wait for the cluster.
  EXPECT_EQ(route_request(get("/healthz"), metrics, "n1").result(), http::status::ok);
}

TEST(http_routes, unknown_paths_are_404_and_wrong_methods_405) {
  chatd::chat_metrics metrics;
  EXPECT_EQ(route_request(get("/nope"), metrics, "n1").result(), http::status::not_found);
  EXPECT_EQ(route_request(get("/rooms/a"), metrics, "n1").result(), http::status::not_found);
  auto post = route_request(get("/metrics", http::verb::post), metrics, "n1");
  EXPECT_EQ(post.result(), http::status::method_not_allowed);
  EXPECT_EQ(post[http::field::allow], "GET, HEAD");
}

TEST(http_routes, head_gets_headers_without_body) {
  chatd::chat_metrics metrics;
  auto res = route_request(get("/healthz", http::verb::head), metrics, "n1");
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_TRUE(res.body().empty());
  EXPECT_EQ(res[http::field::content_length], "3");
}

TEST(http_routes, page_files_have_their_types_and_a_strict_policy) {
  chatd::chat_metrics metrics;
  for (auto [path, type] : {std::pair{"/", "text/html; charset=utf-8"},
                            {"/app.js", "text/javascript; charset=utf-8"},
                            {"/style.css", "text/css; charset=utf-8"}}) {
    auto res = route_request(get(path), metrics, "n1");
    EXPECT_EQ(res.result(), http::status::ok) << path;
    EXPECT_EQ(res[http::field::content_type], type) << path;
    EXPECT_EQ(res[http::field::cache_control], "no-cache") << path;
    EXPECT_NE(res["Content-Security-Policy"].find("script-src 'self'"), std::string::npos) << path;
    EXPECT_EQ(res["X-Content-Type-Options"], "nosniff") << path;
    EXPECT_FALSE(res.body().empty()) << path;
  }
}

TEST(http_routes, info_names_the_node) {
  chatd::chat_metrics metrics;
  auto res = route_request(get("/api/info"), metrics, "node-\"7\"");
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res[http::field::content_type], "application/json");
  EXPECT_EQ(res.body(), "{\"node\":\"node-\\\"7\\\"\"}\n");
}
