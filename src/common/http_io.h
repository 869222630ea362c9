// Reading HTTP message heads and writing bytes as plain coroutines over any Asio stream (a
// TCP socket, a TLS stream), for the proxy's own parsers (RequestParser, AnswerParser).
// The client side's body reader is in server/client_io.h, the upstream's in
// upstream/http_io.h.
//
// Beast's http::async_read* wrap each socket read in three composed operations (read,
// read_some, the stream's own) and post one more completion when the buffer already held
// what was wanted; asio::async_write adds one around the socket's send. At one client and
// one upstream message per request that plumbing cost more than the parsing. These read
// from the socket only when the parser needs more and complete at once otherwise; errors
// are the parsers' (Beast's HTTP error codes) and end_of_stream for a close before any byte
// of a message, partial_message for one inside it, buffer_overflow for a full buffer.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string_view>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>

namespace gkm {

namespace detail {

inline std::string_view BufferedText(const boost::beast::flat_buffer& buffer) {
  return {static_cast<const char*>(buffer.data().data()), buffer.size()};
}

// How many bytes to ask the socket for: the room the buffer has, or what the parser expects
// to need next (ReadWant: a head, the rest of a body of known length, a piece of a stream),
// up to 64 KiB. Beast's read_size asked for 512 bytes while the buffer was that small, so
// an answer of 2 KiB took four reads and a 1 MiB body two thousand; a buffer grows only as
// far as its connection's messages need. 0 when the buffer is at its maximum size.
template <class Parser>
size_t ReadSize(const boost::beast::flat_buffer& buffer, const Parser& parser) {
  size_t room = buffer.capacity() - buffer.size();
  size_t want = std::max<size_t>(room, std::min<uint64_t>(parser.ReadWant(), 65536));
  return std::min(want, buffer.max_size() - buffer.size());
}

}  // namespace detail

// Reads until `parser` (a RequestParser or an AnswerParser) has the message's whole head.
template <class Stream, class Parser>
boost::asio::awaitable<boost::system::error_code> ReadHead(Stream& stream,
                                                           boost::beast::flat_buffer& buffer,
                                                           Parser& parser) {
  namespace asio = boost::asio;
  namespace http = boost::beast::http;
  for (;;) {
    if (buffer.size() > 0) {
      boost::system::error_code ec;
      size_t used = parser.PutHead(detail::BufferedText(buffer), ec);
      if (!ec) {
        buffer.consume(used);
        co_return ec;
      }
      if (ec != http::error::need_more) co_return ec;
    }
    size_t size = detail::ReadSize(buffer, parser);
    if (size == 0) co_return http::error::buffer_overflow;
    auto [rec, n] =
        co_await stream.async_read_some(buffer.prepare(size), asio::as_tuple(asio::use_awaitable));
    buffer.commit(n);
    if (rec == asio::error::eof) {
      co_return buffer.size() > 0 ? http::error::partial_message : http::error::end_of_stream;
    }
    if (rec) co_return rec;
  }
}

// Writes every byte of the buffers. Returns the error, if any.
template <class Stream, size_t N>
boost::asio::awaitable<boost::system::error_code> WriteAll(
    Stream& stream, std::array<boost::asio::const_buffer, N> buffers) {
  namespace asio = boost::asio;
  for (;;) {
    size_t left = 0;
    for (const auto& b : buffers) left += b.size();
    if (left == 0) co_return boost::system::error_code{};
    auto [ec, n] = co_await stream.async_write_some(buffers, asio::as_tuple(asio::use_awaitable));
    if (ec) co_return ec;
    for (auto& b : buffers) {
      size_t k = std::min(n, b.size());
      b += k;
      n -= k;
    }
  }
}

}  // namespace gkm
