// ClientWatch: notices a client that leaves while its request's upstream call is in flight,
// so that the call is abandoned — the upstream connection closed, nothing counted, no key
// blamed (SPEC 8: "a client that leaves mid-wait cancels its upstream call").
//
// A wait for readability per request, cancelled when the answer comes, cost more than a
// few percent of a request's CPU (an operation queued, cancelled and completed through the
// scheduler). Instead each I/O thread keeps one ClientWatchList, and while any request on
// that thread waits for Google, the list looks at its clients every 250 ms (a recv with
// MSG_PEEK per client): a FIN or a reset is a departure; bytes from the client (a
// pipelined next request) are not. Joining and leaving the list is O(1).
//
// The same watch serves a request that waits in the queue for a key (SPEC 4.7, queue_place.h):
// there a departure cancels the wait's timer, so that the request leaves its line at once.
//
// Both classes live on one I/O thread and are used from it only. A ClientWatchList must
// outlive its watches and be destroyed before its io_context.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <vector>

#include "upstream/upstream.h"

namespace gkm {

class ClientWatch;

class ClientWatchList {
 public:
  static constexpr std::chrono::milliseconds kInterval{250};

  explicit ClientWatchList(const boost::asio::any_io_executor& executor);
  ~ClientWatchList();
  ClientWatchList(const ClientWatchList&) = delete;
  ClientWatchList& operator=(const ClientWatchList&) = delete;

  size_t size() const { return watches_.size(); }

 private:
  friend class ClientWatch;
  void Add(ClientWatch* w);
  void Remove(ClientWatch* w);
  void Arm();
  void Sweep();

  boost::asio::steady_timer timer_;
  std::vector<ClientWatch*> watches_;
  bool armed_ = false;
};

class ClientWatch {
 public:
  // Watches nothing when either is null (tests without a client).
  ClientWatch(ClientWatchList* list, boost::asio::ip::tcp::socket* client)
      : list_(list), client_(client) {}
  ~ClientWatch() { Stop(); }
  ClientWatch(const ClientWatch&) = delete;
  ClientWatch& operator=(const ClientWatch&) = delete;

  // Watches from now on; a departure closes `conn` (the attempt in flight).
  void Watch(UpstreamConnection* conn);
  // Watches from now on while the request waits in the queue; a departure cancels `timer`.
  void WatchWait(boost::asio::steady_timer* timer);
  // The attempt's connection is about to be released or closed (a departure must not close
  // it any more: a released connection may serve another request next), or the wait is over.
  void Unbind() {
    conn_ = nullptr;
    timer_ = nullptr;
  }
  // The client left (and the bound connection, if any, was closed).
  bool gone() const { return gone_; }
  // Ends the watch: the answer goes to the client now, or the call is over.
  void Stop();

 private:
  friend class ClientWatchList;
  static constexpr size_t kUnlisted = static_cast<size_t>(-1);

  ClientWatchList* list_;
  boost::asio::ip::tcp::socket* client_;
  UpstreamConnection* conn_ = nullptr;
  boost::asio::steady_timer* timer_ = nullptr;
  size_t index_ = kUnlisted;  // place in list_->watches_
  bool gone_ = false;
};

}  // namespace gkm
