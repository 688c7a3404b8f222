#pragma once

#include "net/http_routes.hpp"

#include <string_view>

namespace chatd::net {

class io_loop;

// The server API for backends (README "Server API"): everything under /api/
// but /api/info (public, see route_request). Every request carries
// `Authorization: Bearer <key>` with the key of --api-key-file; without a
// configured key the API does not exist (404).
bool is_api_target(std::string_view target);

// Answers one API request; called on `loop`'s thread, which publishes and
// removes for it.
http_response handle_api_request(const http_request& req, io_loop& loop);

// The body limit of a request with this header: an API POST may carry a
// message of up to --max-message-bytes (one byte more reaches the API,
// which answers 413 itself); 0 for requests the API does not take bodies of.
std::size_t api_body_limit(const http_request& header, std::size_t max_message_bytes);

// Whether an Authorization header value is "Bearer <key>". Compares
// SHA-256 digests in constant time, so neither the key's bytes nor its
// length show in the time it takes.
bool bearer_key_matches(std::string_view authorization, std::string_view key);

} // namespace chatd::net
