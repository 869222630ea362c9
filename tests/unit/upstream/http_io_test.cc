#include "upstream/http_io.h"

#include "common/request_parser.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <functional>
#include <string>

#include "support/loopback.h"

namespace gkm {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

using Pair = gkm::testing::LoopbackPair;

TEST(ReadSize, FollowsWhatTheParserExpects) {
  boost::beast::flat_buffer buffer;
  RequestParser request(8 << 20);
  EXPECT_EQ(detail::ReadSize(buffer, request), 2048u);
  boost::system::error_code ec;
  std::string big = "POST / HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n";
  ASSERT_EQ(request.PutHead(big, ec), big.size()) << ec.message();
  EXPECT_EQ(detail::ReadSize(buffer, request), 65536u);
  RequestParser small(8 << 20);
  std::string head = "POST / HTTP/1.1\r\nContent-Length: 700\r\n\r\n";
  ASSERT_EQ(small.PutHead(head, ec), head.size());
  EXPECT_EQ(detail::ReadSize(buffer, small), 700u);
  // A buffer that has grown offers its room.
  buffer.prepare(10000);
  EXPECT_GE(detail::ReadSize(buffer, small), 10000u);

  boost::beast::flat_buffer upstream;
  AnswerParser answer;
  EXPECT_EQ(detail::ReadSize(upstream, answer), 4096u);
  std::string sse = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n";
  ASSERT_EQ(answer.PutHead(sse, ec), sse.size());
  EXPECT_EQ(detail::ReadSize(upstream, answer), 4096u);
  AnswerParser sized;
  std::string whole = "HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n";
  ASSERT_EQ(sized.PutHead(whole, ec), whole.size());
  EXPECT_EQ(detail::ReadSize(upstream, sized), 65536u);
}

// The upstream answer's reader: head, then the body piece by piece, over a socket that
// delivers a byte at a time, then a close that ends a body without framing.
TEST(ReadAnswer, ChunkedThenCloseDelimitedAcrossTinyReads) {
  Pair p;
  const std::string first =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
  const std::string second = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close";
  p.Run([&]() -> asio::awaitable<void> {
    asio::co_spawn(
        p.ctx,
        [&]() -> asio::awaitable<void> {
          for (char c : first + second) {
            co_await asio::async_write(p.peer, asio::buffer(&c, 1), asio::use_awaitable);
          }
          p.peer.shutdown(tcp::socket::shutdown_send);
        },
        asio::detached);
    boost::beast::flat_buffer buffer;
    for (const char* want : {"hello world", "until close"}) {
      AnswerParser parser;
      auto ec = co_await ReadHead(p.ours, buffer, parser);
      EXPECT_FALSE(ec) << ec.message();
      std::string body;
      char piece[3];
      while (!parser.is_done()) {
        auto [rec, got] = co_await ReadAnswerSome(p.ours, buffer, parser, piece, sizeof piece);
        EXPECT_FALSE(rec) << rec.message();
        if (rec) break;
        body.append(piece, got);
      }
      EXPECT_EQ(body, want);
    }
    AnswerParser after;
    EXPECT_EQ(co_await ReadHead(p.ours, buffer, after), http::error::end_of_stream);
  });
}

TEST(WriteAll, WritesEveryBufferInOrder) {
  Pair p;
  std::string big(1 << 22, 'x');  // larger than the socket buffers: several partial sends
  big[0] = 'a';
  big.back() = 'z';
  std::string head = "head:";
  std::string received;
  p.Run([&]() -> asio::awaitable<void> {
    asio::co_spawn(
        p.ctx,
        [&]() -> asio::awaitable<void> {
          char chunk[65536];
          for (;;) {
            auto [ec, n] = co_await p.peer.async_read_some(asio::buffer(chunk),
                                                           asio::as_tuple(asio::use_awaitable));
            if (ec) break;
            received.append(chunk, n);
          }
        },
        asio::detached);
    std::array<asio::const_buffer, 2> out{asio::buffer(head), asio::buffer(big)};
    auto ec = co_await WriteAll(p.ours, out);
    EXPECT_FALSE(ec) << ec.message();
    p.ours.shutdown(tcp::socket::shutdown_send);
  });
  EXPECT_EQ(received.size(), head.size() + big.size());
  EXPECT_EQ(received.substr(0, 6), "head:a");
  EXPECT_EQ(received.back(), 'z');
}

}  // namespace
}  // namespace gkm
