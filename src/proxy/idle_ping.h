// IdlePing: keeps a relayed stream alive while the upstream is silent, by writing a
// keepalive event to the client each time `every` passes without upstream bytes (the
// Anthropic route's `ping`, WIRE-AGENTS D5: a thinking model may say nothing for a minute,
// and clients and the proxies in front of them drop connections idle for less).
//
// RelayStream (relay.h) makes one per stream whose Relay offers a Ping(): Start() spawns one
// coroutine on the request's I/O thread (no other thread ever touches it). That coroutine
// writes only while the relay waits for upstream bytes (between Waiting() and Arrived()),
// and the relay waits (Quiet()) for a ping being written to finish, so that its writes and
// the relay's never overlap. The destructor stops it without waiting: the coroutine shares its
// state, wakes once more, sees that it is stopped and touches nothing else. Only a stream
// that uses it pays for it (a timer wait per `every` of silence, a clock read per piece).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "proxy/stream_writer.h"

namespace gkm {

class IdlePing {
 public:
  IdlePing(StreamWriter& out, std::string event, std::chrono::milliseconds every);
  ~IdlePing();
  IdlePing(const IdlePing&) = delete;
  IdlePing& operator=(const IdlePing&) = delete;

  void Start(const boost::asio::any_io_executor& executor);
  // The relay waits for upstream bytes now: pings may go out.
  void Waiting();
  // Upstream bytes (or the end) came: no more pings until the next Waiting(), and the
  // silence counts from now. True when a ping is being written: co_await Quiet() then,
  // before writing to the client (no coroutine frame for the common case).
  bool Arrived();
  // Returns once no ping is being written.
  boost::asio::awaitable<void> Quiet();

  // Pings written so far (for logs and tests).
  uint64_t sent() const;

 private:
  struct State;
  static boost::asio::awaitable<void> Run(std::shared_ptr<State> st);
  std::shared_ptr<State> st_;
};

}  // namespace gkm
