#include "proxy/wait_queue.h"

#include <algorithm>
#include <vector>

namespace gkm {

WaitStep WaitQueue::NextStep(const NoKey& nk, SteadyClock::time_point now,
                             SteadyClock::time_point deadline) {
  WaitStep give_up{WaitStep::Kind::kGiveUp, Millis(0)};
  if (nk.why != NoKey::Why::kCooling && nk.why != NoKey::Why::kExhausted) return give_up;
  if (nk.retry_after.count() <= 0 || now >= deadline) return give_up;
  const auto remaining = std::chrono::ceil<Millis>(deadline - now);
  if (nk.retry_after <= kPoolFloor) {
    // "Within a second": perhaps at once; ask again soon, until the deadline.
    return {WaitStep::Kind::kSleep, std::min(kPoll, remaining)};
  }
  if (nk.retry_after > remaining) return give_up;
  return {WaitStep::Kind::kSleep, std::min(nk.retry_after + kMargin, remaining)};
}

WaitQueue::Ticket WaitQueue::Enter(std::string_view model, Wake wake) {
  std::lock_guard lock(mu_);
  if (closed_ || places_.size() >= options_.max_queued) return 0;
  auto line = lines_.find(model);
  if (line == lines_.end()) line = lines_.emplace(std::string(model), Line{}).first;
  Ticket ticket = next_ticket_++;
  line->second.push_back(Place{ticket, std::move(wake)});
  places_.emplace(ticket, Where{line, std::prev(line->second.end())});
  size_.store(places_.size(), std::memory_order_relaxed);
  return ticket;
}

bool WaitQueue::IsHead(Ticket ticket) const {
  std::lock_guard lock(mu_);
  auto it = places_.find(ticket);
  return it != places_.end() && it->second.place == it->second.line->second.begin();
}

bool WaitQueue::HasLine(std::string_view model) const {
  if (size_.load(std::memory_order_relaxed) == 0) return false;
  std::lock_guard lock(mu_);
  return lines_.find(model) != lines_.end();
}

void WaitQueue::Leave(Ticket ticket) {
  Wake next;
  {
    std::lock_guard lock(mu_);
    auto it = places_.find(ticket);
    if (it == places_.end()) return;
    auto [line, place] = it->second;
    const bool was_head = place == line->second.begin();
    line->second.erase(place);
    places_.erase(it);
    size_.store(places_.size(), std::memory_order_relaxed);
    if (line->second.empty()) {
      lines_.erase(line);
    } else if (was_head && !closed_) {
      next = line->second.front().wake;
    }
  }
  if (next) next();
}

void WaitQueue::WakeAll() {
  std::vector<Wake> all;
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    all.reserve(places_.size());
    for (const auto& [model, line] : lines_) {
      for (const Place& p : line) all.push_back(p.wake);
    }
  }
  for (const Wake& w : all) {
    if (w) w();
  }
}

void WaitQueue::Close() {
  std::lock_guard lock(mu_);
  closed_ = true;
}

}  // namespace gkm
