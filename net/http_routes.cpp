#include "net/http_routes.hpp"

#include "web/assets.hpp"

namespace chatd::net {

namespace {

http_response make_response(const http_request& req, http::status status, std::string_view content_type,
                            std::string body) {
  http_response res{status, req.version()};
  res.set(http::field::server, "chatd");
  res.set(http::field::content_type, content_type);
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  if (req.method() == http::verb::head)
    res.body().clear(); // Content-Length still tells the size of the GET answer
  return res;
}

} // namespace

http_response text_response(http::status status, std::string body, unsigned version, bool keep_alive) {
  http_response res{status, version};
  res.set(http::field::server, "chatd");
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.keep_alive(keep_alive);
  res.body() = std::move(body) + "\n";
  res.prepare_payload();
  return res;
}

http_response route_request(const http_request& req, const chat_metrics& metrics) {
  auto target = std::string_view{req.target()};
  auto path = target.substr(0, target.find('?'));
  bool known = path == "/" || path == "/metrics" || path == "/healthz";
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
  auto res = make_response(req, http::status::ok, "text/html; charset=utf-8", std::string{web::index_html()});
  res.set(http::field::cache_control, "no-cache");
  return res;
}

} // namespace chatd::net
