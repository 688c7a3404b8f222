#include "api_probe.hpp"

#include "http_probe.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <unistd.h>

namespace chatd::itest {

api_reply api_request(unsigned short port, std::string_view method, std::string_view target,
                      std::string_view authorization, std::string_view content_type, std::string_view body) {
  std::string request =
      std::string{method} + " " + std::string{target} + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!authorization.empty())
    request += "Authorization: " + std::string{authorization} + "\r\n";
  if (!content_type.empty())
    request += "Content-Type: " + std::string{content_type} + "\r\n";
  request += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  request += body;
  auto raw = raw_exchange(port, request);
  api_reply reply;
  auto end_of_head = raw.data.find("\r\n\r\n");
  if (raw.data.size() < 12 || !raw.data.starts_with("HTTP/1.1 ") || end_of_head == std::string::npos)
    throw std::runtime_error("api_request: no HTTP response, got '" + raw.data + "'");
  reply.status = static_cast<unsigned>(std::stoul(raw.data.substr(9, 3)));
  reply.head = raw.data.substr(0, end_of_head + 2);
  reply.body = raw.data.substr(end_of_head + 4);
  return reply;
}

temp_file::temp_file(std::string_view contents) {
  std::string pattern = "/tmp/chatd-test-XXXXXX";
  int fd = ::mkstemp(pattern.data());
  if (fd < 0)
    throw std::runtime_error("temp_file: mkstemp failed");
  ::close(fd);
  path_ = pattern;
  std::ofstream(path_, std::ios::binary) << contents;
}

temp_file::~temp_file() { std::remove(path_.c_str()); }

} // namespace chatd::itest
