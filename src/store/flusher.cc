#include "store/flusher.h"

#include <spdlog/spdlog.h>

namespace gkm {
namespace {

template <class T>
void Append(std::vector<T>& to, std::vector<T>& from) {
  to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
}

}  // namespace

Flusher::Flusher(SqliteStore& store, std::function<Batch()> take, Millis interval)
    : store_(store), take_(std::move(take)), interval_(interval) {}

Flusher::~Flusher() { Stop(); }

void Flusher::Start() { thread_ = std::thread([this] { Loop(); }); }

void Flusher::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_one();
}

uint64_t Flusher::RequestFlush() {
  uint64_t ticket;
  {
    std::lock_guard lock(mu_);
    ticket = ++requested_;
    woken_ = true;
  }
  cv_.notify_one();
  return ticket;
}

void Flusher::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}


void Flusher::Loop() {
  for (;;) {
    bool last;
    uint64_t target;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, interval_, [this] { return woken_ || stopping_; });
      woken_ = false;
      last = stopping_;
      target = requested_;
    }
    if (FlushOnce()) done_.store(target, std::memory_order_release);
    if (last) return;
  }
}

bool Flusher::FlushOnce() {
  Batch batch = take_();
  if (!retry_.empty()) {
    // Older changes first, so that a newer state of the same row wins.
    Append(retry_.usage, batch.usage);
    Append(retry_.states, batch.states);
    Append(retry_.statuses, batch.statuses);
    Append(retry_.bindings, batch.bindings);
    Append(retry_.cursors, batch.cursors);
    batch = std::move(retry_);
    retry_ = Batch{};
  }
  if (batch.empty()) return true;
  std::string error;
  if (!store_.Write(batch, &error)) {
    spdlog::error("state store: write failed, will retry with the next flush: {}", error);
    retry_ = std::move(batch);
    return false;
  }
  return true;
}

}  // namespace gkm
