#include "proxy/queue_place.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace gkm {

namespace asio = boost::asio;
using SteadyClock = WaitQueue::SteadyClock;

struct QueuePlace::Waker {
  explicit Waker(const asio::any_io_executor& ex) : timer(ex) {}
  asio::steady_timer timer;
  bool woken = false;  // a wake came while the timer was not waited for
};

QueuePlace::QueuePlace(WaitQueue* queue, Metrics* metrics, ClientWatch& watch, std::string model,
                       const std::atomic<bool>* draining, int64_t* queued_ms)
    : queue_(queue && queue->enabled() ? queue : nullptr),
      metrics_(metrics),
      watch_(watch),
      model_(std::move(model)),
      draining_(draining),
      queued_ms_(queued_ms) {}

QueuePlace::~QueuePlace() {
  if (ticket_ != 0) Finish(watch_.gone() ? QueueResult::kGone : QueueResult::kNoKey);
}

bool QueuePlace::ShouldJoin() const {
  return queue_ != nullptr && ticket_ == 0 && waited_ < queue_->max_wait() &&
         queue_->HasLine(model_);
}

void QueuePlace::Finish(QueueResult result) {
  queue_->Leave(ticket_);
  ticket_ = 0;
  auto spent = SteadyClock::now() - entered_;
  waited_ += spent;
  if (queued_ms_) *queued_ms_ += std::chrono::duration_cast<Millis>(spent).count();
  if (metrics_) metrics_->QueueLeft(result, std::chrono::duration<double>(spent).count());
}

void QueuePlace::Served() {
  if (ticket_ != 0) Finish(QueueResult::kServed);
}

asio::awaitable<void> QueuePlace::Sleep(SteadyClock::time_point until) {
  Waker& w = *waker_;
  if (w.woken) {
    w.woken = false;
    co_return;
  }
  w.timer.expires_at(until);
  watch_.WatchWait(&w.timer);
  if (!watch_.gone()) co_await w.timer.async_wait(asio::as_tuple(asio::use_awaitable));
  watch_.Unbind();
  w.woken = false;
}

asio::awaitable<QueuePlace::Next> QueuePlace::Wait(const NoKey* nk) {
  if (queue_ == nullptr) co_return Next::kNotQueued;
  auto now = SteadyClock::now();
  if (ticket_ == 0) {
    // The budget is the request's, not the place's: waits before this one count.
    deadline_ = now + (queue_->max_wait() - waited_);
    if (nk && WaitQueue::NextStep(*nk, now, deadline_).kind == WaitStep::Kind::kGiveUp) {
      co_return Next::kNotQueued;
    }
    if (!waker_) waker_ = std::make_shared<Waker>(co_await asio::this_coro::executor);
    std::weak_ptr<Waker> weak = waker_;
    ticket_ = queue_->Enter(model_, [weak, ex = waker_->timer.get_executor()] {
      asio::post(ex, [weak] {
        if (auto w = weak.lock()) {
          w->woken = true;
          w->timer.cancel();
        }
      });
    });
    if (ticket_ == 0) {
      if (metrics_) metrics_->QueueRejected();
      co_return Next::kFull;
    }
    entered_ = now;
    if (metrics_) metrics_->QueueJoined();
  }
  for (;;) {
    if (watch_.gone()) {
      Finish(QueueResult::kGone);
      co_return Next::kGone;
    }
    if (draining_ && draining_->load()) {
      Finish(QueueResult::kNoKey);
      co_return Next::kNoKey;
    }
    now = SteadyClock::now();
    SteadyClock::time_point until;
    if (queue_->IsHead(ticket_)) {
      if (nk == nullptr) co_return Next::kPick;
      WaitStep step = WaitQueue::NextStep(*nk, now, deadline_);
      if (step.kind == WaitStep::Kind::kGiveUp) {
        QueueResult r = now >= deadline_ ? QueueResult::kTimeout : QueueResult::kNoKey;
        Finish(r);
        co_return r == QueueResult::kTimeout ? Next::kTimeout : Next::kNoKey;
      }
      until = now + step.sleep;
      nk = nullptr;  // after the sleep the pool is asked again
    } else {
      if (now >= deadline_) {
        Finish(QueueResult::kTimeout);
        co_return Next::kTimeout;
      }
      until = deadline_;
      nk = nullptr;  // by the time the turn comes, this answer is stale
    }
    co_await Sleep(until);
  }
}

}  // namespace gkm
