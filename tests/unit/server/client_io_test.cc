#include "server/client_io.h"

#include <gtest/gtest.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <string>

#include "support/loopback.h"

namespace gkm {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using Pair = gkm::testing::LoopbackPair;

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
// The server arms --client-timeout in before_read, so it must run before every wait.
TEST(ReadRequest, BeforeReadRunsBeforeEveryWaitForTheClient) {
  Pair p;
  p.Send("POST / HTTP/1.1\r\nContent-Length: 6\r\n\r\nab");
  int calls = 0;
  p.Run([&]() -> asio::awaitable<void> {
    boost::beast::flat_buffer buffer;
    RequestParser parser(1024);
    EXPECT_FALSE(co_await ReadHead(p.ours, buffer, parser));
    // The rest of the body comes in two later pieces.
    asio::co_spawn(
        p.ctx,
        [&]() -> asio::awaitable<void> {
          asio::steady_timer t(p.ctx);
          for (std::string_view piece : {"cd", "ef"}) {
            t.expires_after(std::chrono::milliseconds(20));
            co_await t.async_wait(asio::use_awaitable);
            co_await asio::async_write(p.peer, asio::buffer(piece.data(), piece.size()),
                                       asio::use_awaitable);
          }
        },
        asio::detached);
    auto ec = co_await ReadRequestBody(p.ours, buffer, parser, [&] { ++calls; });
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(parser.body(), "abcdef");
  });
  EXPECT_GE(calls, 2);
}

}  // namespace
}  // namespace gkm
