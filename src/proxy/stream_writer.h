// StreamWriter: sends one response to the client piece by piece (chunked transfer unless
// a length is known), each piece as soon as it is given. Owned by the request's coroutine.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http.hpp>
#include <optional>
#include <string_view>

#include "proxy/exchange.h"

namespace gkm {

class StreamWriter {
 public:
  // The header is sent by Start(); set its fields before. `length`: the body's size when
  // known (else chunked).
  StreamWriter(ClientConn& client, http::response<http::buffer_body>& res,
               std::optional<uint64_t> length);
  StreamWriter(const StreamWriter&) = delete;
  StreamWriter& operator=(const StreamWriter&) = delete;

  // Each returns false once the client is gone; later calls do nothing.
  boost::asio::awaitable<bool> Start();
  boost::asio::awaitable<bool> Write(std::string_view bytes);
  boost::asio::awaitable<bool> End();

  bool ok() const { return ok_; }

 private:
  ClientConn& client_;
  http::response<http::buffer_body>& res_;
  http::response_serializer<http::buffer_body> sr_;
  bool ok_ = true;
};

}  // namespace gkm
