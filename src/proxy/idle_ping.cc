#include "proxy/idle_ping.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>

namespace gkm {

namespace asio = boost::asio;
using SteadyClock = std::chrono::steady_clock;

struct IdlePing::State {
  StreamWriter* out;  // valid while !stopped
  std::string event;
  std::chrono::milliseconds every;
  std::optional<asio::steady_timer> timer;  // the pinger's sleep
  std::optional<asio::steady_timer> quiet;  // Arrived() waiting for a ping being written
  SteadyClock::time_point last = SteadyClock::now();
  bool waiting = false;  // the relay waits for upstream bytes
  bool writing = false;  // a ping is being written
  bool arrived_waits = false;
  bool stopped = false;
  uint64_t sent = 0;
};

IdlePing::IdlePing(StreamWriter& out, std::string event, std::chrono::milliseconds every)
    : st_(std::make_shared<State>()) {
  st_->out = &out;
  st_->event = std::move(event);
  st_->every = every;
}

IdlePing::~IdlePing() {
  st_->stopped = true;
  st_->out = nullptr;
  if (st_->timer) st_->timer->cancel();
}

void IdlePing::Start(const asio::any_io_executor& executor) {
  st_->timer.emplace(executor);
  st_->quiet.emplace(executor);
  st_->last = SteadyClock::now();
  asio::co_spawn(executor, Run(st_), asio::detached);
}

void IdlePing::Waiting() { st_->waiting = true; }

bool IdlePing::Arrived() {
  st_->waiting = false;
  st_->last = SteadyClock::now();
  return st_->writing;
}

asio::awaitable<void> IdlePing::Quiet() {
  while (st_->writing) {
    st_->arrived_waits = true;
    st_->quiet->expires_at(SteadyClock::time_point::max());
    co_await st_->quiet->async_wait(asio::as_tuple(asio::use_awaitable));
  }
  st_->arrived_waits = false;
}

uint64_t IdlePing::sent() const { return st_->sent; }

asio::awaitable<void> IdlePing::Run(std::shared_ptr<State> st) {
  while (!st->stopped) {
    st->timer->expires_at(st->last + st->every);
    co_await st->timer->async_wait(asio::as_tuple(asio::use_awaitable));
    if (st->stopped) co_return;
    if (SteadyClock::now() < st->last + st->every) continue;  // bytes came meanwhile
    if (!st->waiting || !st->out->ok()) {
      // The relay is busy writing to the client: that is no silence of the upstream's.
      st->last = SteadyClock::now();
      continue;
    }
    st->writing = true;
    co_await st->out->Write(st->event);
    st->writing = false;
    ++st->sent;
    st->last = SteadyClock::now();
    if (st->arrived_waits) st->quiet->cancel();
  }
}

}  // namespace gkm
