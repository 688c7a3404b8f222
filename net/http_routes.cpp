#include "net/http_routes.hpp"

#include "web/assets.hpp"

namespace chatd::net {

namespace {

// The page loads only its own script and style and talks only to its origin.
constexpr std::string_view content_security_policy =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

http_response build_response(http::status status, unsigned version, bool keep_alive, std::string_view content_type,
                             std::string body) {
  http_response res{status, version};
  res.set(http::field::server, "chatd");
  res.set(http::field::content_type, content_type);
  res.keep_alive(keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

http_response make_response(const http_request& req, http::status status, std::string_view content_type,
                            std::string body) {
  auto res = build_response(status, req.version(), req.keep_alive(), content_type, std::move(body));
  if (req.method() == http::verb::head)
    res.body().clear(); // Content-Length still tells the size of the GET answer
  return res;
}

// Node names are [A-Za-z0-9._-] in practice; escape the rest for JSON anyway.
std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\';
    if (static_cast<unsigned char>(c) < 0x20)
      continue;
    out += c;
  }
  return out + "\"";
}

} // namespace

http_response text_response(http::status status, std::string body, unsigned version, bool keep_alive) {
  return build_response(status, version, keep_alive, "text/plain; charset=utf-8", std::move(body) + "\n");
}

http_response route_request(const http_request& req, const chat_metrics& metrics, std::string_view node_id) {
  auto target = std::string_view{req.target()};
  auto path = target.substr(0, target.find('?'));
  auto asset = web::find_asset(path);
  bool known = asset || path == "/metrics" || path == "/healthz" || path == "/readyz" || path == "/api/info";
  if (!known)
    return make_response(req, http::status::not_found, "text/plain; charset=utf-8", "not found\n");
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    auto res =
        make_response(req, http::status::method_not_allowed, "text/plain; charset=utf-8", "method not allowed\n");
    res.set(http::field::allow, "GET, HEAD");
    return res;
  }
  if (path == "/metrics")
    return make_response(req, http::status::ok, "text/plain; version=0.0.4; charset=utf-8", metrics.serialize());
  if (path == "/healthz")
    return make_response(req, http::status::ok, "text/plain; charset=utf-8", "ok\n");
  if (path == "/readyz") {
    // Serving, and the cluster has formed (or the start-up grace is over).
    auto res = metrics.cluster_ready.Value() != 0
                   ? make_response(req, http::status::ok, "text/plain; charset=utf-8", "ready\n")
                   : make_response(req, http::status::service_unavailable, "text/plain; charset=utf-8", "starting\n");
    res.set(http::field::cache_control, "no-store");
    return res;
  }
  if (path == "/api/info") {
    auto res = make_response(req, http::status::ok, "application/json", "{\"node\":" + json_string(node_id) + "}\n");
    res.set(http::field::cache_control, "no-store");
    return res;
  }
  auto res = make_response(req, http::status::ok, asset->content_type, std::string{asset->body});
  // Small files without fingerprints: always revalidate, never serve stale.
  res.set(http::field::cache_control, "no-cache");
  res.set("Content-Security-Policy", content_security_policy);
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Referrer-Policy", "no-referrer");
  return res;
}

} // namespace chatd::net
