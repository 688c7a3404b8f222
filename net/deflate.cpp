#include "net/deflate.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <zlib.h>

#include <charconv>
#include <cstring>

namespace chatd::net {

namespace {

namespace http = boost::beast::http;

constexpr std::string_view extension_name = "permessage-deflate";
constexpr std::string_view window_param = "server_max_window_bits";
// What Z_SYNC_FLUSH ends a message with and RFC 7692 7.2.1 leaves off.
constexpr char flush_tail[4] = {'\0', '\0', '\xff', '\xff'};
// Level 6, zlib's default: the message is compressed once for all its
// receivers, so the level costs little per delivery. memLevel 8: zlib's
// default too; the compressor is one per loop thread, not per connection.
constexpr int compression_level = 6;
constexpr int memory_level = 8;

int parse_bits(std::string_view s) {
  int bits = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), bits);
  if (ec != std::errc{} || end != s.data() + s.size() || bits < 8 || bits > 15)
    return 0;
  return bits;
}

// The window parameter of the first permessage-deflate extension in `header`:
// -1 when there is no such extension, 0 when it has no window parameter.
int first_window_param(std::string_view header) {
  http::ext_list list{header};
  for (auto const& ext : list) {
    if (!boost::beast::iequals(ext.first, extension_name))
      continue;
    for (auto const& param : ext.second)
      if (boost::beast::iequals(param.first, window_param))
        return parse_bits(param.second);
    return 0;
  }
  return -1;
}

struct compressor {
  z_stream z{};
  bool ok = false;
  compressor() { ok = deflateInit2(&z, compression_level, Z_DEFLATED, -15, memory_level, Z_DEFAULT_STRATEGY) == Z_OK; }
  ~compressor() {
    if (ok)
      deflateEnd(&z);
  }
  compressor(const compressor&) = delete;
  compressor& operator=(const compressor&) = delete;
};

} // namespace

int offered_server_window_bits(std::string_view request_extensions) {
  return std::max(first_window_param(request_extensions), 0);
}

int agreed_server_window_bits(std::string_view response_extensions) {
  int bits = first_window_param(response_extensions);
  if (bits < 0)
    return 0;
  return bits == 0 ? 15 : bits;
}

std::string honour_offered_window(std::string_view response_extensions, int offered_bits) {
  std::string out{response_extensions};
  if (offered_bits != 8 || agreed_server_window_bits(out) != 9)
    return out;
  constexpr std::string_view nine = "server_max_window_bits=9";
  if (auto at = out.find(nine); at != std::string::npos)
    out[at + nine.size() - 1] = '8';
  return out;
}

frame_ptr deflate_message(const frame& f) {
  thread_local compressor c;
  if (!c.ok)
    return nullptr;
  auto in = f.payload();
  auto out = std::make_shared<frame>();
  // deflateBound covers the data; a sync flush adds an empty stored block.
  const auto room = deflateBound(&c.z, static_cast<uLong>(in.size())) + 16;
  out->wire.resize(frame_header_room + room);
  if (deflateReset(&c.z) != Z_OK)
    return nullptr;
  c.z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  c.z.avail_in = static_cast<uInt>(in.size());
  c.z.next_out = reinterpret_cast<Bytef*>(out->wire.data() + frame_header_room);
  c.z.avail_out = static_cast<uInt>(room);
  if (deflate(&c.z, Z_SYNC_FLUSH) != Z_OK || c.z.avail_in != 0 || c.z.avail_out == 0)
    return nullptr;
  std::size_t produced = room - c.z.avail_out;
  if (produced < sizeof flush_tail || std::memcmp(out->wire.data() + frame_header_room + produced - sizeof flush_tail,
                                                  flush_tail, sizeof flush_tail) != 0)
    return nullptr;
  produced -= sizeof flush_tail;
  if (produced >= in.size())
    return nullptr;
  out->wire.resize(frame_header_room + produced);
  out->binary = f.binary;
  out->compressed = true;
  out->received_at = f.received_at;
  seal(*out);
  return out;
}

std::optional<std::string> inflate_message(std::string_view payload, std::size_t max_bytes) {
  z_stream z{};
  if (inflateInit2(&z, -15) != Z_OK)
    return std::nullopt;
  std::string in{payload};
  in.append(flush_tail, sizeof flush_tail);
  z.next_in = reinterpret_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  std::string out;
  bool ok = true;
  for (;;) {
    char chunk[16 * 1024];
    z.next_out = reinterpret_cast<Bytef*>(chunk);
    z.avail_out = sizeof chunk;
    int rc = inflate(&z, Z_SYNC_FLUSH);
    out.append(chunk, sizeof chunk - z.avail_out);
    if ((rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) || out.size() > max_bytes) {
      ok = false;
      break;
    }
    // Done when all input is used and zlib had room to spare (nothing held back).
    if (rc == Z_STREAM_END || (z.avail_in == 0 && z.avail_out != 0))
      break;
    if (rc == Z_BUF_ERROR && z.avail_out != 0) {
      ok = false; // no progress with input left: the data is cut short
      break;
    }
  }
  inflateEnd(&z);
  if (!ok)
    return std::nullopt;
  return out;
}

const frame_ptr& compressed_form(const frame& f, prometheus::Counter* made) {
  std::call_once(f.deflate_once, [&] {
    f.deflated = deflate_message(f);
    if (f.deflated && made)
      made->Increment();
  });
  return f.deflated;
}

} // namespace chatd::net
