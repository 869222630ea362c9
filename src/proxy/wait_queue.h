// WaitQueue: the lines of requests that wait for a key instead of failing (SPEC 4.7,
// `--max-queue-wait`, `--max-queued`). A request that the pool cannot serve now, but that a
// key will serve within its remaining wait, takes a place at the tail of its model's line;
// only the head of a line asks the pool again, so keys go out in arrival order. The head
// passes its turn on as soon as it has a key (or leaves: timeout, client gone), and the
// next one asks at once: when several keys open together the line drains as fast as the
// pool hands them out. A request that arrives while its model has a line lines up behind
// it rather than picking first, so that newcomers do not overtake waiters.
//
// This is the bookkeeping and the decisions, with no clock, timer or socket inside (the
// caller passes `now`); QueuePlace (queue_place.h) does the waiting on an I/O thread.
//
// Thread-safe: one mutex guards the lines; the Wake callbacks are called with no lock held,
// from whichever thread made the turn pass, so they must post to the waiter's own executor.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "keypool/key_pool.h"

namespace gkm {

// What a request in line does next, from the pool's latest NoKey (WaitQueue::NextStep).
struct WaitStep {
  enum class Kind { kSleep, kGiveUp };
  Kind kind = Kind::kGiveUp;
  Millis sleep{0};  // kSleep: then ask the pool again
};

class WaitQueue {
 public:
  using SteadyClock = std::chrono::steady_clock;
  using Ticket = uint64_t;  // 0: no place
  using Wake = std::function<void()>;

  // The pool reports waits under a second as one second (a Retry-After is whole seconds):
  // such a wait may end at any moment, so the head asks again every kPoll.
  static constexpr Millis kPoolFloor{1000};
  static constexpr Millis kPoll{100};
  // Asked again this long after the pool's deadline, so that the key has rejoined by then.
  static constexpr Millis kMargin{5};

  struct Options {
    Millis max_wait{0};        // --max-queue-wait; 0: nobody waits
    size_t max_queued = 1000;  // --max-queued: places in all lines together
  };

  explicit WaitQueue(Options options) : options_(options) {}
  WaitQueue(const WaitQueue&) = delete;
  WaitQueue& operator=(const WaitQueue&) = delete;

  bool enabled() const { return options_.max_wait.count() > 0 && options_.max_queued > 0; }
  Millis max_wait() const { return options_.max_wait; }

  // Whether the wait the pool announces ends before `deadline`, and how long to sleep
  // before asking again. Only cooling and day-exhausted keys end by themselves; no keys,
  // invalid keys, keys this request has tried, and a bound key that cannot serve never
  // end within a wait and give up at once.
  static WaitStep NextStep(const NoKey& nk, SteadyClock::time_point now,
                           SteadyClock::time_point deadline);

  // A place at the tail of `model`'s line; 0 when `max_queued` places are taken. `wake` is
  // called when the place becomes the head of its line after someone ahead left, and by
  // WakeAll().
  Ticket Enter(std::string_view model, Wake wake);
  // Whether the place is the head of its line (its turn to ask the pool).
  bool IsHead(Ticket ticket) const;
  // Whether requests wait for `model` (a newcomer lines up behind them). Lock-free when
  // nobody waits at all.
  bool HasLine(std::string_view model) const;
  // Gives the place up; when it was the head, the next in line is woken.
  void Leave(Ticket ticket);
  // Wakes every waiter (the proxy is draining: they give up at once).
  void WakeAll();
  // No wake from now on (the I/O threads are stopping: their executors may be gone) and no
  // new place.
  void Close();

  size_t size() const { return size_.load(std::memory_order_relaxed); }

 private:
  struct Place {
    Ticket ticket;
    Wake wake;
  };
  using Line = std::list<Place>;
  struct Where {
    std::map<std::string, Line, std::less<>>::iterator line;
    Line::iterator place;
  };

  const Options options_;
  mutable std::mutex mu_;
  std::map<std::string, Line, std::less<>> lines_;  // only lines with places in them
  std::unordered_map<Ticket, Where> places_;
  Ticket next_ticket_ = 1;
  bool closed_ = false;
  std::atomic<size_t> size_{0};
};

}  // namespace gkm
