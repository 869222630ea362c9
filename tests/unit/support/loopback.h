// A connected pair of loopback TCP sockets on one io_context, for tests of code that reads
// and writes sockets: `ours` is the side under test, `peer` plays the other end.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <functional>
#include <string_view>

namespace gkm::testing {

struct LoopbackPair {
  boost::asio::io_context ctx;
  boost::asio::ip::tcp::socket ours{ctx};
  boost::asio::ip::tcp::socket peer{ctx};

  LoopbackPair() {
    namespace asio = boost::asio;
    asio::ip::tcp::acceptor acc(ctx,
                                asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    ours.connect(acc.local_endpoint());
    acc.accept(peer);
  }

  // Sends bytes from the peer, synchronously.
  void Send(std::string_view bytes) {
    boost::asio::write(peer, boost::asio::buffer(bytes.data(), bytes.size()));
  }

  // Runs a coroutine on the pair's context to its end.
  void Run(std::function<boost::asio::awaitable<void>()> body) {
    bool done = false;
    boost::asio::co_spawn(
        ctx,
        [&]() -> boost::asio::awaitable<void> {
          co_await body();
          done = true;
        },
        boost::asio::detached);
    ctx.run();
    ctx.restart();
    ASSERT_TRUE(done);
  }
};

}  // namespace gkm::testing
