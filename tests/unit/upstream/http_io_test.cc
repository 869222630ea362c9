#include "upstream/http_io.h"

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

// The loopback pair, plus running a coroutine on it to completion.
struct Pair : gkm::testing::LoopbackPair {
  void Run(std::function<asio::awaitable<void>()> body) {
    bool done = false;
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
          co_await body();
          done = true;
        },
        asio::detached);
    ctx.run();
    ctx.restart();
    ASSERT_TRUE(done);
  }
};

constexpr std::string_view kRequest =
    "POST /v1beta/models/m:generateContent HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";

TEST(ReadRequest, HeaderThenBodyFromOneSegment) {
  Pair p;
  p.Send(kRequest);
  p.Run([&]() -> asio::awaitable<void> {
    boost::beast::flat_buffer buffer;
    RequestParser parser(1024);
    auto ec = co_await ReadHead(p.ours, buffer, parser);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_TRUE(parser.header_done());
    EXPECT_EQ(parser.target(), "/v1beta/models/m:generateContent");
    EXPECT_EQ(parser.content_length().value_or(0), 5u);
    ec = co_await ReadRequestBody(p.ours, buffer, parser);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(parser.body(), "hello");
  });
}

TEST(ReadRequest, SplitAcrossReadsOfAByte) {
  for (std::string all : {std::string(kRequest),
                          std::string("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                                      "3\r\nhel\r\n2;ext=1\r\nlo\r\n0\r\nTrailer: t\r\n\r\n")}) {
    Pair p;
    p.Run([&]() -> asio::awaitable<void> {
      boost::beast::flat_buffer buffer;
      RequestParser parser(1024);
      // The peer sends a byte at a time only after we have started waiting.
      asio::co_spawn(
          p.ctx,
          [&]() -> asio::awaitable<void> {
            for (char c : all)
              co_await asio::async_write(p.peer, asio::buffer(&c, 1), asio::use_awaitable);
          },
          asio::detached);
      auto ec = co_await ReadHead(p.ours, buffer, parser);
      EXPECT_FALSE(ec) << ec.message();
      ec = co_await ReadRequestBody(p.ours, buffer, parser);
      EXPECT_FALSE(ec) << ec.message();
      EXPECT_EQ(parser.body(), "hello");
    });
  }
}

TEST(ReadRequest, PipelinedRequestsStayInTheBuffer) {
  Pair p;
  p.Send(std::string(kRequest) + "GET /healthz HTTP/1.1\r\n\r\n" + std::string(kRequest));
  p.Run([&]() -> asio::awaitable<void> {
    boost::beast::flat_buffer buffer;
    for (std::string_view want : {"hello", "", "hello"}) {
      RequestParser parser(1024);
      auto ec = co_await ReadHead(p.ours, buffer, parser);
      EXPECT_FALSE(ec) << ec.message();
      ec = co_await ReadRequestBody(p.ours, buffer, parser);
      EXPECT_FALSE(ec) << ec.message();
      EXPECT_EQ(parser.body(), want);
    }
    EXPECT_EQ(buffer.size(), 0u);
  });
}

TEST(ReadRequest, CloseBeforeAnythingIsEndOfStream) {
  Pair p;
  p.peer.close();
  p.Run([&]() -> asio::awaitable<void> {
    boost::beast::flat_buffer buffer;
    RequestParser parser(1024);
    auto ec = co_await ReadHead(p.ours, buffer, parser);
    EXPECT_EQ(ec, http::error::end_of_stream);
  });
}

TEST(ReadRequest, CloseInsideTheHeaderOrBodyIsPartialMessage) {
  for (bool in_body : {false, true}) {
    Pair p;
    p.Send(in_body ? "POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nhel"
                   : "POST / HTTP/1.1\r\nHost: a\r\n");
    p.peer.close();
    p.Run([&]() -> asio::awaitable<void> {
      boost::beast::flat_buffer buffer;
      RequestParser parser(1024);
      auto ec = co_await ReadHead(p.ours, buffer, parser);
      if (in_body) {
        EXPECT_FALSE(ec) << ec.message();
        ec = co_await ReadRequestBody(p.ours, buffer, parser);
      }
      EXPECT_EQ(ec, http::error::partial_message) << in_body;
    });
  }
}

TEST(ReadRequest, HeaderAndBodyLimitsAreReported) {
  Pair p;
  p.Send("GET / HTTP/1.1\r\nX-Big: " + std::string(RequestParser::kHeadLimit, 'a') + "\r\n\r\n");
  p.Run([&]() -> asio::awaitable<void> {
    boost::beast::flat_buffer buffer;
    RequestParser parser(1024);
    auto ec = co_await ReadHead(p.ours, buffer, parser);
    EXPECT_EQ(ec, http::error::header_limit);
  });
  Pair q;
  q.Send("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n");
  q.Run([&]() -> asio::awaitable<void> {
    boost::beast::flat_buffer buffer;
    RequestParser parser(8);
    auto ec = co_await ReadHead(q.ours, buffer, parser);
    EXPECT_FALSE(ec) << ec.message();
    ec = co_await ReadRequestBody(q.ours, buffer, parser);
    EXPECT_EQ(ec, http::error::body_limit);
  });
}

// Reads ask for what the message needs (not Beast's 512 bytes for a small buffer): a head's
// worth, then the rest of a body of known length up to 64 KiB, pieces of streams.
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
