#include "common/deadline.h"

#include <boost/beast/core/error.hpp>
#include <ctime>

namespace gkm {

namespace asio = boost::asio;

struct Deadline::State {
  explicit State(const asio::any_io_executor& executor) : timer(executor) {}
  asio::steady_timer timer;
  Clock::time_point until = Clock::time_point::max();
  asio::ip::tcp::socket* socket = nullptr;  // null once the owner is gone
  uint64_t generation = 0;                  // of the wait in flight; older handlers only return
  bool waiting = false;
  bool expired = false;
  bool cancel_only = false;  // OnExpiry::kCancel
};

Deadline::Deadline(const asio::any_io_executor& executor, asio::ip::tcp::socket& socket,
                   OnExpiry on_expiry)
    : state_(std::make_shared<State>(executor)) {
  state_->socket = &socket;
  state_->cancel_only = on_expiry == OnExpiry::kCancel;
}

Deadline::~Deadline() {
  state_->socket = nullptr;
  if (state_->waiting) state_->timer.cancel();
}

namespace {

// steady_clock is CLOCK_MONOTONIC; its coarse variant reads the same clock at the
// scheduler tick's resolution for a fraction of the cost, enough for timeouts in seconds.
Deadline::Clock::time_point CoarseNow() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return Deadline::Clock::time_point(std::chrono::seconds(ts.tv_sec) +
                                     std::chrono::nanoseconds(ts.tv_nsec));
}

}  // namespace

void Deadline::Arm(Clock::duration timeout) {
  state_->until = CoarseNow() + timeout;
  // An earlier deadline than the wait in flight needs a new wait (this cancels the old one).
  if (!state_->waiting || state_->until < state_->timer.expiry()) Wait(state_);
}

void Deadline::Disarm() { state_->until = Clock::time_point::max(); }

bool Deadline::expired() const { return state_->expired; }

boost::system::error_code Deadline::Done(boost::system::error_code ec) {
  Disarm();
  bool timed_out = ec && expired();
  // A cancelled socket is still open: later operations get deadlines of their own (also
  // when the operation completed just as the deadline passed).
  if (state_->cancel_only) state_->expired = false;
  return timed_out ? boost::beast::error::timeout : ec;
}

// Keeps the state alive until the wait completes, even when the owner is gone by then.
void Deadline::Wait(const std::shared_ptr<State>& state) {
  const uint64_t generation = ++state->generation;
  state->waiting = true;
  state->timer.expires_at(state->until);
  state->timer.async_wait([state, generation](const boost::system::error_code&) {
    if (generation != state->generation) return;
    state->waiting = false;
    if (!state->socket || state->expired || state->until == Clock::time_point::max()) return;
    if (Clock::now() < state->until) {
      Wait(state);  // an operation armed later than this wait; sleep until its deadline
      return;
    }
    state->expired = true;
    boost::system::error_code ignored;
    if (state->cancel_only) {
      state->socket->cancel(ignored);
    } else {
      state->socket->close(ignored);
    }
  });
}

}  // namespace gkm
