#pragma once

#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <utility>

namespace chatd::itest {

// Runs one asynchronous operation to completion or, at the deadline, closes
// the socket (which aborts it) and returns `timed_out`. Asio's synchronous
// calls cannot be bounded with SO_RCVTIMEO: after EAGAIN they poll() with no
// timeout, so every blocking step of these tests goes through here instead.
template <class Start>
boost::system::error_code run_with_deadline(boost::asio::io_context& ioc, boost::asio::ip::tcp::socket& socket,
                                            std::chrono::milliseconds timeout, Start&& start) {
  std::optional<boost::system::error_code> result;
  std::forward<Start>(start)([&result](boost::system::error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run_for(timeout);
  if (result)
    return *result;
  boost::system::error_code ignored;
  socket.close(ignored);
  // The aborted handler still refers to `result`: let it finish before returning.
  ioc.restart();
  ioc.run();
  return boost::asio::error::timed_out;
}

// Turns a failed step into an exception that says which step it was.
inline void throw_if(boost::system::error_code ec, const std::string& what) {
  if (ec)
    throw boost::system::system_error(ec, what);
}

} // namespace chatd::itest
