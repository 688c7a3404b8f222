#pragma once

#include <string>
#include <string_view>

namespace chatd::itest {

struct api_reply {
  unsigned status = 0;
  std::string head; // status line and header fields
  std::string body;
  bool has_header(std::string_view line) const { return head.find(std::string{line} + "\r\n") != std::string::npos; }
};

// One HTTP/1.1 request on a fresh connection (Connection: close); empty
// `authorization` or `content_type` leave those headers out. Throws on I/O
// errors and timeouts.
api_reply api_request(unsigned short port, std::string_view method, std::string_view target,
                      std::string_view authorization = {}, std::string_view content_type = {},
                      std::string_view body = {});

// A file holding `contents`, removed on destruction.
class temp_file {
public:
  explicit temp_file(std::string_view contents);
  ~temp_file();
  temp_file(const temp_file&) = delete;
  temp_file& operator=(const temp_file&) = delete;
  const std::string& path() const { return path_; }

private:
  std::string path_;
};

} // namespace chatd::itest
