// Reading a client's request: the head with common/http_io.h's ReadHead, the body here,
// as plain coroutines over any Asio stream with the proxy's RequestParser. Errors are the
// parser's (Beast's HTTP error codes); partial_message for a close inside the body.
#pragma once

#include "common/http_io.h"
#include "common/request_parser.h"

namespace gkm {

// No limit per wait (tests, callers that arm one limit for the whole body).
struct NoWaitLimit {
  void operator()() const {}
};

// Reads the rest of a client request's body into parser.body(), calling before_read()
// before each wait for the socket: the server arms --client-timeout there, so that the limit
// bounds each wait for the client, not a whole steady upload (SPEC 8).
template <class Stream, class BeforeRead = NoWaitLimit>
boost::asio::awaitable<boost::system::error_code> ReadRequestBody(Stream& stream,
                                                                  boost::beast::flat_buffer& buffer,
                                                                  RequestParser& parser,
                                                                  BeforeRead before_read = {}) {
  namespace asio = boost::asio;
  namespace http = boost::beast::http;
  for (;;) {
    if (parser.is_done()) co_return boost::system::error_code{};
    if (buffer.size() > 0) {
      boost::system::error_code ec;
      buffer.consume(parser.PutBody(detail::BufferedText(buffer), ec));
      if (ec || parser.is_done()) co_return ec;
    }
    size_t size = detail::ReadSize(buffer, parser);
    if (size == 0) co_return http::error::buffer_overflow;
    before_read();
    auto [rec, n] =
        co_await stream.async_read_some(buffer.prepare(size), asio::as_tuple(asio::use_awaitable));
    buffer.commit(n);
    if (rec == asio::error::eof) co_return http::error::partial_message;
    if (rec) co_return rec;
  }
}

}  // namespace gkm
