#include "proxy/stream_writer.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <functional>
#include <string>

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

}  // namespace
}  // namespace gkm
