#include "proxy/idle_ping.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>

namespace gkm {

namespace asio = boost::asio;
using SteadyClock = std::chrono::steady_clock;

struct PingList::Entry {
  StreamWriter* out;  // valid while !stopped
  std::string event;
  std::chrono::milliseconds every;
  SteadyClock::time_point last = SteadyClock::now();
  std::optional<asio::steady_timer> quiet;  // Quiet() waiting for a ping being written
  size_t index = static_cast<size_t>(-1);   // place in the list
  bool waiting = false;                     // the relay waits for upstream bytes
  bool writing = false;                     // a ping is being written
  uint64_t sent = 0;
};

PingList::PingList(const asio::any_io_executor& executor) : executor_(executor), timer_(executor) {}

PingList::~PingList() {
  for (auto& e : pings_) e->index = static_cast<size_t>(-1);
  timer_.cancel();
}

void PingList::Add(const std::shared_ptr<Entry>& e) {
  // A ping goes out between `every` and `every` + interval after the silence began.
  const auto interval =
      std::clamp(e->every / 4, std::chrono::milliseconds(5), std::chrono::milliseconds(1000));
  if (pings_.empty() || interval < interval_) interval_ = interval;
  e->index = pings_.size();
  pings_.push_back(e);
  if (!armed_) Arm();
}

void PingList::Remove(Entry* e) {
  const size_t i = e->index;
  if (i >= pings_.size() || pings_[i].get() != e) return;
  pings_[i] = std::move(pings_.back());
  pings_[i]->index = i;
  pings_.pop_back();
  e->index = static_cast<size_t>(-1);
}

void PingList::Arm() {
  armed_ = true;
  timer_.expires_after(interval_);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec == asio::error::operation_aborted) return;
    Sweep();
  });
}

void PingList::Sweep() {
  armed_ = false;
  const auto now = SteadyClock::now();
  for (const auto& e : pings_) {
    if (e->writing || now - e->last < e->every) continue;
    if (!e->waiting || !e->out->ok()) {
      // The relay is busy writing to the client: that is no silence of the upstream's.
      e->last = now;
      continue;
    }
    e->writing = true;
    asio::co_spawn(executor_, WritePing(e), asio::detached);
  }
  if (!pings_.empty()) Arm();
}

asio::awaitable<void> PingList::WritePing(std::shared_ptr<Entry> e) {
  co_await e->out->Write(e->event);
  e->writing = false;
  ++e->sent;
  e->last = SteadyClock::now();
  if (e->quiet) e->quiet->cancel();
}

IdlePing::IdlePing(PingList* list, StreamWriter& out, std::string event,
                   std::chrono::milliseconds every)
    : list_(list), e_(std::make_shared<PingList::Entry>()) {
  e_->out = &out;
  e_->event = std::move(event);
  e_->every = every;
  if (list_) list_->Add(e_);
}

IdlePing::~IdlePing() {
  if (list_) list_->Remove(e_.get());
}

void IdlePing::Waiting() { e_->waiting = true; }

bool IdlePing::Arrived() {
  e_->waiting = false;
  e_->last = SteadyClock::now();
  return e_->writing;
}

asio::awaitable<void> IdlePing::Quiet() {
  while (e_->writing) {
    if (!e_->quiet) e_->quiet.emplace(co_await asio::this_coro::executor);
    e_->quiet->expires_at(SteadyClock::time_point::max());
    co_await e_->quiet->async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

uint64_t IdlePing::sent() const { return e_->sent; }

}  // namespace gkm
