// StreamWriter: sends one response to the client piece by piece (chunked transfer unless
// a length is known), each piece as soon as it is given. Owned by the request's coroutine.
//
// The head goes out with Start(), or, when the caller has a first piece at hand already,
// together with it (one write instead of two); End() can carry the last piece along with
// the end of the chunked body.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/exchange.h"

namespace gkm {

// The head of a 200 text/event-stream answer in chunked coding (Content-Type, Cache-Control,
// Connection: close unless kept alive, Date, Transfer-Encoding), the bytes a Beast response
// with those fields gives, written without building one: what the translated streams send.
std::string SseHead(bool keep_alive);

class StreamWriter {
 public:
  // Set the head's fields before. `length`: the body's size when known (else chunked).
  StreamWriter(ClientConn& client, http::response<http::buffer_body>& res,
               std::optional<uint64_t> length);
  // A head written already (SseHead), its body chunked.
  StreamWriter(ClientConn& client, std::string head);
  StreamWriter(const StreamWriter&) = delete;
  StreamWriter& operator=(const StreamWriter&) = delete;

  // Each returns false once the client is gone; later calls do nothing.
  // Sends the head now (else it goes with the first Write or End).
  boost::asio::awaitable<bool> Start();
  boost::asio::awaitable<bool> Write(std::string_view bytes);
  // Sends `last` (if any) and ends the body.
  boost::asio::awaitable<bool> End(std::string_view last = {});

  bool ok() const { return ok_; }

 private:
  boost::asio::awaitable<bool> Send(std::string_view bytes, bool last);

  ClientConn& client_;
  std::string head_;  // not sent yet while non-empty
  bool chunked_;
  bool ok_ = true;
  bool ended_ = false;
};

}  // namespace gkm
