#pragma once

#include "proto/chat_metrics.hpp"

#include <boost/beast/http.hpp>

namespace chatd::net {

namespace http = boost::beast::http;

using http_request = http::request<http::string_body>;
using http_response = http::response<http::string_body>;

// The plain-HTTP side of the port: /metrics, /healthz (serving), /readyz
// (and the cluster has formed), /api/info (this node's name), the chat page at / with its files, and a clear status for
// everything else. WebSocket upgrades never come here.
http_response route_request(const http_request& req, const chat_metrics& metrics, std::string_view node_id);

// A response with a short text body, e.g. for 400 and 404.
http_response text_response(http::status status, std::string body, unsigned version = 11, bool keep_alive = false);

} // namespace chatd::net
