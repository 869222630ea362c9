// QueuePlace: one request's waiting for a key (SPEC 4.7) — its place in the WaitQueue
// (wait_queue.h) and the sleeping on its own I/O thread. CallUpstream (attempts.h) makes one
// per upstream call and waits through it when the pool answers NoKey with a wait that ends
// within the request's `--max-queue-wait`, and when its model already has a line.
//
// The wait is one steady_timer, cancelled early by whatever ends it: the turn passing to
// this place (posted from the thread where the place ahead left), the client leaving (the
// thread's ClientWatchList, client_watch.h), or the proxy draining (WaitQueue::WakeAll).
// The time waited counts against one budget of `--max-queue-wait` across the call, however
// often the request lines up again (a key that served it and failed, for one).
//
// Used by one coroutine on one I/O thread; the wake-up state it shares with other threads is
// reached through a weak pointer only, so that a wake that comes late finds nothing.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "admin/metrics.h"
#include "proxy/client_watch.h"
#include "proxy/wait_queue.h"

namespace gkm {

class QueuePlace {
 public:
  enum class Next {
    kPick,       // ask the pool again now
    kNotQueued,  // the wait would not end in time (or there is nothing to wait for): 503 now
    kFull,       // --max-queued requests wait already: 503 now
    kTimeout,    // the request's --max-queue-wait ran out
    kNoKey,      // the pool's next opening lies beyond it, or the proxy is draining
    kGone,       // the client left
  };

  // `queue` null or disabled: Wait() answers kNotQueued. `draining` may be null; so may
  // `queued_ms`, which each wait's milliseconds are added to (the request's log line).
  QueuePlace(WaitQueue* queue, Metrics* metrics, ClientWatch& watch, std::string model,
             const std::atomic<bool>* draining, int64_t* queued_ms);
  ~QueuePlace();
  QueuePlace(const QueuePlace&) = delete;
  QueuePlace& operator=(const QueuePlace&) = delete;

  // Whether the request should line up before asking the pool: others wait for its model.
  bool ShouldJoin() const;
  // Waits until it is worth asking the pool again (kPick) or gives up. `nk` is the pool's
  // latest answer, or null when there is none to go by (joining a line before asking).
  boost::asio::awaitable<Next> Wait(const NoKey* nk);
  // The pool gave this request a key: the next in line may ask (called right after the
  // pick, so that keys opening together go out together, in line order).
  void Served();

  bool in_line() const { return ticket_ != 0; }
  // Time spent in lines so far.
  Millis waited() const { return std::chrono::duration_cast<Millis>(waited_); }

 private:
  struct Waker;
  void Finish(QueueResult result);
  boost::asio::awaitable<void> Sleep(WaitQueue::SteadyClock::time_point until);

  WaitQueue* queue_;
  Metrics* metrics_;
  ClientWatch& watch_;
  std::string model_;
  const std::atomic<bool>* draining_;
  int64_t* queued_ms_;
  WaitQueue::Ticket ticket_ = 0;
  std::shared_ptr<Waker> waker_;
  WaitQueue::SteadyClock::time_point entered_{};
  WaitQueue::SteadyClock::time_point deadline_{};
  WaitQueue::SteadyClock::duration waited_{};
};

}  // namespace gkm
