#include "net/api.hpp"

#include "net/io_loop.hpp"
#include "net/presence_json.hpp"
#include "net/utf8.hpp"
#include "proto/room_name.hpp"

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace chatd::net {

namespace {

using json = nlohmann::json;

constexpr std::string_view api_prefix = "/api/";
constexpr std::string_view public_info = "/api/info";

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

http_response json_response(const http_request& req, http::status status, const json& body) {
  http_response res{status, req.version()};
  res.set(http::field::server, "chatd");
  res.set(http::field::content_type, "application/json");
  res.keep_alive(req.keep_alive());
  res.body() = body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  res.prepare_payload();
  return res;
}

// A body that is JSON text already.
http_response json_text_response(const http_request& req, std::string body) {
  http_response res{http::status::ok, req.version()};
  res.set(http::field::server, "chatd");
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body) + "\n";
  res.prepare_payload();
  return res;
}

http_response error_response(const http_request& req, http::status status, std::string_view message) {
  return json_response(req, status, {{"error", message}});
}

// What a route's handler gets: the request, the loop it runs on, and the
// path segments that matched the route's "{}" (percent-decoded), in order.
struct api_call {
  const http_request& req;
  io_loop& loop;
  std::vector<std::string> params;
};

http_response publish_message(const api_call& call);
http_response remove_user(const api_call& call);
http_response list_rooms(const api_call& call);
http_response room_presence(const api_call& call);

struct api_route {
  std::string_view pattern; // "{}" stands for one non-empty path segment
  http::verb method;
  http_response (*handle)(const api_call&);
};

// Every route of the API, in one place.
constexpr api_route routes[] = {
    {"/api/rooms/{}/messages", http::verb::post, publish_message},
    {"/api/rooms/{}/users/{}", http::verb::delete_, remove_user},
    {"/api/rooms", http::verb::get, list_rooms},
    {"/api/rooms/{}/presence", http::verb::get, room_presence},
};

std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  path.remove_prefix(1);
  while (true) {
    auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos)
      return out;
    path.remove_prefix(slash + 1);
  }
}

// The raw segments `path` gives the pattern's "{}", or nullopt if it does not match.
std::optional<std::vector<std::string_view>> match(std::string_view pattern, std::string_view path) {
  auto want = segments(pattern), got = segments(path);
  if (want.size() != got.size())
    return std::nullopt;
  std::vector<std::string_view> params;
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (want[i] == "{}") {
      if (got[i].empty())
        return std::nullopt;
      params.push_back(got[i]);
    } else if (want[i] != got[i]) {
      return std::nullopt;
    }
  }
  return params;
}

std::string media_type(std::string_view content_type) {
  auto type = content_type.substr(0, content_type.find(';'));
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t'))
    type.remove_prefix(1);
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t'))
    type.remove_suffix(1);
  std::string out{type};
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::array<unsigned char, 32> sha256(std::string_view bytes) {
  std::array<unsigned char, 32> digest{};
  unsigned int size = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest.data(), &size, EVP_sha256(), nullptr);
  return digest;
}

http_response publish_message(const api_call& call) {
  const auto& room = call.params[0];
  if (!is_valid_room_name(room))
    return error_response(call.req, http::status::bad_request, "invalid room name");
  const auto& body = call.req.body();
  if (body.size() > call.loop.options().max_message_bytes)
    return error_response(call.req, http::status::payload_too_large, "message over --max-message-bytes");
  auto type = media_type(call.req[http::field::content_type]);
  message_kind kind;
  std::string payload;
  if (type == "text/plain") {
    if (!valid_utf8(body))
      return error_response(call.req, http::status::bad_request, "text/plain body is not valid UTF-8");
    kind = message_kind::text;
  } else if (type == "application/octet-stream") {
    kind = message_kind::binary;
  } else if (type == "application/json") {
    auto data = json::parse(body, nullptr, false);
    if (data.is_discarded())
      return error_response(call.req, http::status::bad_request, "application/json body is not JSON");
    kind = message_kind::json;
    payload = data.dump(-1, ' ', false, json::error_handler_t::replace);
  } else {
    return error_response(call.req, http::status::unsupported_media_type,
                          "Content-Type must be text/plain, application/octet-stream or application/json");
  }
  auto f = make_message_frame(room, kind == message_kind::json ? std::string_view{payload} : std::string_view{body},
                              kind == message_kind::binary, std::chrono::steady_clock::now());
  f->kind = kind;
  f->user = "api";
  f->ts_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
                 .count();
  call.loop.metrics().messages_received.Increment();
  call.loop.publish_from_api(std::move(f));
  return json_response(call.req, http::status::accepted, {{"room", room}});
}

http_response remove_user(const api_call& call) {
  const auto& room = call.params[0];
  const auto& user = call.params[1];
  if (!is_valid_room_name(room))
    return error_response(call.req, http::status::bad_request, "invalid room name");
  call.loop.remove_everywhere(room, user);
  return json_response(call.req, http::status::accepted, {{"room", room}, {"user", user}});
}

// Both read the node's presence table (written by the presence actor,
// read under its lock): the cluster as this node sees it.
http_response list_rooms(const api_call& call) {
  const auto* table = call.loop.presence();
  return json_text_response(call.req, rooms_document(table ? table->rooms() : decltype(table->rooms()){}));
}

http_response room_presence(const api_call& call) {
  const auto& room = call.params[0];
  if (!is_valid_room_name(room))
    return error_response(call.req, http::status::bad_request, "invalid room name");
  const auto* table = call.loop.presence();
  return json_text_response(call.req,
                            room_presence_document(room, table ? table->snapshot(room) : presence_snapshot{}));
}

} // namespace

bool is_api_target(std::string_view target) {
  auto path = path_of(target);
  return path.starts_with(api_prefix) && path != public_info;
}

std::size_t api_body_limit(const http_request& header, std::size_t max_message_bytes) {
  if (header.method() != http::verb::post || !is_api_target(header.target()))
    return 0;
  return max_message_bytes + 1;
}

bool bearer_key_matches(std::string_view authorization, std::string_view key) {
  constexpr std::string_view scheme = "bearer ";
  if (authorization.size() < scheme.size())
    return false;
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    char c = authorization[i];
    if ((c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c) != scheme[i])
      return false;
  }
  auto presented = authorization.substr(scheme.size());
  auto a = sha256(presented), b = sha256(key);
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

http_response handle_api_request(const http_request& req, io_loop& loop) {
  const auto& key = loop.options().api_key;
  if (key.empty())
    return text_response(http::status::not_found, "not found", req.version(), req.keep_alive());
  if (!bearer_key_matches(req[http::field::authorization], key)) {
    auto res = error_response(req, http::status::unauthorized, "missing or wrong API key");
    res.set(http::field::www_authenticate, "Bearer");
    return res;
  }
  auto path = path_of(req.target());
  std::string allow;
  for (const auto& route : routes) {
    auto raw = match(route.pattern, path);
    if (!raw)
      continue;
    if (route.method != req.method()) {
      allow += (allow.empty() ? "" : ", ") + std::string{http::to_string(route.method)};
      continue;
    }
    api_call call{req, loop, {}};
    for (auto param : *raw) {
      auto decoded = percent_decode(param);
      if (!decoded)
        return error_response(req, http::status::bad_request, "bad percent-encoding in the path");
      call.params.push_back(std::move(*decoded));
    }
    return route.handle(call);
  }
  if (!allow.empty()) {
    auto res = error_response(req, http::status::method_not_allowed, "method not allowed");
    res.set(http::field::allow, allow);
    return res;
  }
  return error_response(req, http::status::not_found, "no such API route");
}

} // namespace chatd::net
