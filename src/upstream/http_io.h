// Reading an upstream answer's body as a plain coroutine over any Asio stream (a TCP
// socket, a TLS stream), with the proxy's own AnswerParser; heads are read with
// common/http_io.h's ReadHead. Errors are the parser's (Beast's HTTP error codes).
#pragma once

#include <utility>

#include "common/http_io.h"
#include "upstream/answer_parser.h"

namespace gkm {

// Reads some of the answer's body into out[0, cap): the error and the bytes written (0 with
// no error once the body is complete).
template <class Stream>
boost::asio::awaitable<std::pair<boost::system::error_code, size_t>> ReadAnswerSome(
    Stream& stream, boost::beast::flat_buffer& buffer, AnswerParser& parser, char* out,
    size_t cap) {
  namespace asio = boost::asio;
  using Result = std::pair<boost::system::error_code, size_t>;
  for (;;) {
    if (parser.is_done()) co_return Result{};
    if (buffer.size() > 0) {
      boost::system::error_code ec;
      auto [used, produced] = parser.PutBody(detail::BufferedText(buffer), out, cap, ec);
      buffer.consume(used);
      if (ec || produced > 0 || parser.is_done()) co_return Result{ec, produced};
    }
    size_t size = detail::ReadSize(buffer, parser);
    if (size == 0) co_return Result{boost::beast::http::error::buffer_overflow, 0};
    auto [rec, n] =
        co_await stream.async_read_some(buffer.prepare(size), asio::as_tuple(asio::use_awaitable));
    buffer.commit(n);
    if (rec == asio::error::eof && n == 0) {
      boost::system::error_code ec;
      parser.PutEof(ec);
      co_return Result{ec, 0};
    }
    if (rec) co_return Result{rec, 0};
  }
}

}  // namespace gkm
