#include "common/deadline.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <functional>

#include "support/loopback.h"

namespace gkm {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

using Pair = gkm::testing::LoopbackPair;

// Starts a read on `ours` that only the deadline can end (the peer sends nothing) and runs
// the context for `run_for`; returns the read's error (or would_block when still pending).
boost::system::error_code ReadWithDeadline(Pair& p, Deadline& d, Deadline::Clock::duration arm,
                                           Deadline::Clock::duration run_for) {
  boost::system::error_code result = asio::error::would_block;
  char byte;
  d.Arm(arm);
  p.ours.async_read_some(asio::buffer(&byte, 1),
                         [&](boost::system::error_code ec, size_t) { result = ec; });
  p.ctx.run_for(run_for);
  return result;
}

TEST(Deadline, ClosesTheSocketWhenAnOperationOutlivesIt) {
  Pair p;
  Deadline d(p.ctx.get_executor(), p.ours);
  auto t0 = Deadline::Clock::now();
  auto ec = ReadWithDeadline(p, d, 50ms, 2s);
  EXPECT_EQ(ec, asio::error::operation_aborted);
  EXPECT_TRUE(d.expired());
  EXPECT_FALSE(p.ours.is_open());
  // The failure is reported as the timeout it was; no error stays none.
  EXPECT_EQ(d.Done(ec), boost::beast::error::timeout);
  EXPECT_FALSE(d.Done({}));
  // Armed from the kernel's coarse clock: up to one scheduler tick (<= 10 ms) early.
  EXPECT_GE(Deadline::Clock::now() - t0, 40ms);
}

TEST(Deadline, DisarmedSocketStaysOpen) {
  Pair p;
  Deadline d(p.ctx.get_executor(), p.ours);
  d.Arm(30ms);
  d.Disarm();
  p.ctx.run_for(150ms);
  EXPECT_FALSE(d.expired());
  EXPECT_TRUE(p.ours.is_open());
  // Errors of an operation that did not outlive its deadline pass through.
  EXPECT_EQ(d.Done(asio::error::eof), asio::error::eof);
}

TEST(Deadline, ReArmingPushesTheDeadlineBack) {
  Pair p;
  Deadline d(p.ctx.get_executor(), p.ours);
  d.Arm(60ms);
  // Re-armed every 20 ms for 200 ms: the first deadline passes, the socket must not close.
  asio::steady_timer tick(p.ctx);
  int ticks = 0;
  std::function<void(boost::system::error_code)> on_tick = [&](boost::system::error_code) {
    if (++ticks > 10) return;
    d.Arm(60ms);
    tick.expires_after(20ms);
    tick.async_wait(on_tick);
  };
  tick.expires_after(20ms);
  tick.async_wait(on_tick);
  p.ctx.run_for(220ms);
  EXPECT_FALSE(d.expired());
  EXPECT_TRUE(p.ours.is_open());
  // Left alone now, it expires.
  p.ctx.restart();
  p.ctx.run_for(200ms);
  EXPECT_TRUE(d.expired());
  EXPECT_FALSE(p.ours.is_open());
}

TEST(Deadline, AnEarlierDeadlineReplacesALaterWait) {
  Pair p;
  Deadline d(p.ctx.get_executor(), p.ours);
  d.Arm(10s);                                  // the wait in flight ends in 10 s ...
  auto ec = ReadWithDeadline(p, d, 50ms, 2s);  // ... but this operation may take 50 ms only
  EXPECT_EQ(ec, asio::error::operation_aborted);
  EXPECT_TRUE(d.expired());
}

TEST(Deadline, DestroyedWhileWaitingLeavesTheSocketAlone) {
  Pair p;
  {
    Deadline d(p.ctx.get_executor(), p.ours);
    d.Arm(30ms);
  }
  p.ctx.run_for(150ms);
  EXPECT_TRUE(p.ours.is_open());
}

}  // namespace
}  // namespace gkm
