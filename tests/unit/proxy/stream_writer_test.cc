// StreamWriter, and IdlePing (proxy/idle_ping.h), which writes through one.
#include "proxy/stream_writer.h"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <functional>
#include <string>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "proxy/idle_ping.h"
#include "support/loopback.h"

namespace gkm {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// Runs `write` against a StreamWriter on one end of a loopback connection and returns
// every byte the other end received.
std::string Capture(std::optional<uint64_t> length,
                    std::function<asio::awaitable<void>(StreamWriter&)> write) {
  gkm::testing::LoopbackPair pair;
  auto& ctx = pair.ctx;
  auto& ours = pair.ours;
  auto& peer = pair.peer;
  http::response<http::buffer_body> res{http::status::ok, 11};
  res.set(http::field::content_type, "text/event-stream");
  res.set(http::field::date, "Fri, 27 Nov 2026 08:00:00 GMT");
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        Deadline deadline(ours.get_executor(), ours);  // gone (its timer too) at the end
        ClientConn client{ours, deadline, std::chrono::seconds(5)};
        StreamWriter out(client, res, length);
        co_await write(out);
        ours.shutdown(tcp::socket::shutdown_send);
      },
      asio::detached);
  ctx.run();
  std::string got;
  boost::system::error_code ec;
  asio::read(peer, asio::dynamic_buffer(got), ec);
  return got;
}

constexpr std::string_view kHead =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    "Date: Fri, 27 Nov 2026 08:00:00 GMT\r\n";

TEST(StreamWriter, ChunkedPiecesAndTheLastOneWithTheEnd) {
  std::string got = Capture(std::nullopt, [](StreamWriter& out) -> asio::awaitable<void> {
    EXPECT_TRUE(co_await out.Start());
    EXPECT_TRUE(co_await out.Write("data: one\n\n"));
    EXPECT_TRUE(co_await out.Write(""));  // nothing to send, no empty chunk (it would end the body)
    EXPECT_TRUE(co_await out.End("data: two\n\n"));
  });
  EXPECT_EQ(got, std::string(kHead) + "Transfer-Encoding: chunked\r\n\r\n" +
                     "b\r\ndata: one\n\n\r\n" + "b\r\ndata: two\n\n\r\n" + "0\r\n\r\n");
}

TEST(StreamWriter, HeadGoesWithTheFirstPieceWhenNotStarted) {
  std::string got = Capture(std::nullopt, [](StreamWriter& out) -> asio::awaitable<void> {
    EXPECT_TRUE(co_await out.End("x"));
    EXPECT_TRUE(co_await out.End("ignored"));  // ended already
  });
  EXPECT_EQ(got, std::string(kHead) + "Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n");
}

TEST(StreamWriter, KnownLengthIsSentWithoutFraming) {
  std::string got = Capture(uint64_t{7}, [](StreamWriter& out) -> asio::awaitable<void> {
    EXPECT_TRUE(co_await out.Write("abc"));
    EXPECT_TRUE(co_await out.End("defg"));
  });
  EXPECT_EQ(got, std::string(kHead) + "Content-Length: 7\r\n\r\nabcdefg");
}

asio::awaitable<void> Sleep(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  t.expires_after(d);
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

TEST(IdlePing, StreamsJoinAndLeaveTheThreadsList) {
  size_t during = 0, after_one = 0, after_both = 0;
  Capture(std::nullopt, [&](StreamWriter& out) -> asio::awaitable<void> {
    EXPECT_TRUE(co_await out.Start());
    PingList list(co_await asio::this_coro::executor);
    {
      IdlePing a(&list, out, "A", std::chrono::milliseconds(1000));
      {
        IdlePing b(&list, out, "B", std::chrono::milliseconds(1000));
        during = list.size();
      }
      after_one = list.size();
    }
    after_both = list.size();
    IdlePing none(nullptr, out, "N", std::chrono::milliseconds(1));  // no list: no pings
    none.Waiting();
    co_await Sleep(std::chrono::milliseconds(30));
    EXPECT_FALSE(none.Arrived());
    EXPECT_EQ(none.sent(), 0u);
    EXPECT_TRUE(co_await out.End());
  });
  EXPECT_EQ(during, 2u);
  EXPECT_EQ(after_one, 1u);
  EXPECT_EQ(after_both, 0u);
}

TEST(IdlePing, PingsOnlyWhileTheRelayWaitsAndOnlyAfterTheSilence) {
  uint64_t idle = 0, waiting = 0, after = 0;
  std::string got = Capture(std::nullopt, [&](StreamWriter& out) -> asio::awaitable<void> {
    EXPECT_TRUE(co_await out.Start());
    PingList list(co_await asio::this_coro::executor);
    IdlePing ping(&list, out, "P", std::chrono::milliseconds(20));
    EXPECT_EQ(list.size(), 1u);
    co_await Sleep(std::chrono::milliseconds(120));  // the relay is busy: no upstream silence
    idle = ping.sent();
    ping.Waiting();
    co_await Sleep(std::chrono::milliseconds(130));
    if (ping.Arrived()) co_await ping.Quiet();
    waiting = ping.sent();
    EXPECT_TRUE(co_await out.Write("data"));
    co_await Sleep(std::chrono::milliseconds(120));
    after = ping.sent();
    ping.Waiting();
    if (ping.Arrived()) co_await ping.Quiet();  // bytes at once: the silence starts again
    EXPECT_EQ(ping.sent(), after);
    EXPECT_TRUE(co_await out.End());
  });
  EXPECT_EQ(idle, 0u);
  EXPECT_GE(waiting, 3u);
  EXPECT_LE(waiting, 7u);
  EXPECT_EQ(after, waiting) << "no pings once the upstream spoke";
  std::string pings;
  for (uint64_t i = 0; i < waiting; ++i) pings += "1\r\nP\r\n";
  EXPECT_EQ(got, std::string(kHead) + "Transfer-Encoding: chunked\r\n\r\n" + pings +
                     "4\r\ndata\r\n0\r\n\r\n");
}

}  // namespace
}  // namespace gkm
