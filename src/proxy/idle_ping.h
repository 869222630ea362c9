// IdlePing: keeps a relayed stream alive while the upstream is silent, by writing a
// keepalive event to the client each time `every` passes without upstream bytes (the
// Anthropic route's `ping`, WIRE-AGENTS D5: a thinking model may say nothing for a minute,
// and clients and the proxies in front of them drop connections idle for less).
//
// RelayStream (relay.h) makes one per stream whose Relay offers a Ping(). A timer and a
// coroutine per stream cost more than the stream's own translation (a timer armed and
// cancelled through the reactor on every stream), so, as ClientWatchList does for departed
// clients, each I/O thread keeps one PingList: while any stream on the thread has pings,
// the list looks at them every `every` / 4 (at most 1 s) and starts a ping write for each
// that has waited for upstream bytes for `every`. Joining and leaving the list is O(1); a
// stream that gets its bytes in time pays a clock read per piece and nothing else.
//
// A ping is written only while the relay waits for upstream bytes (between Waiting() and
// Arrived()), and the relay waits (Quiet()) for a ping being written to finish, so that its
// writes and the relay's never overlap. Everything lives on one I/O thread and is used from
// it only; a PingList must outlive its pings and be destroyed before its io_context.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "proxy/stream_writer.h"

namespace gkm {

class PingList {
 public:
  explicit PingList(const boost::asio::any_io_executor& executor);
  ~PingList();
  PingList(const PingList&) = delete;
  PingList& operator=(const PingList&) = delete;

  size_t size() const { return pings_.size(); }

 private:
  friend class IdlePing;
  struct Entry;
  void Add(const std::shared_ptr<Entry>& e);
  void Remove(Entry* e);
  void Arm();
  void Sweep();
  static boost::asio::awaitable<void> WritePing(std::shared_ptr<Entry> e);

  boost::asio::any_io_executor executor_;
  boost::asio::steady_timer timer_;
  std::vector<std::shared_ptr<Entry>> pings_;
  std::chrono::milliseconds interval_{1000};
  bool armed_ = false;
};

class IdlePing {
 public:
  // Pings nothing when `list` is null.
  IdlePing(PingList* list, StreamWriter& out, std::string event, std::chrono::milliseconds every);
  ~IdlePing();
  IdlePing(const IdlePing&) = delete;
  IdlePing& operator=(const IdlePing&) = delete;

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
  PingList* list_;
  std::shared_ptr<PingList::Entry> e_;
};

}  // namespace gkm
