#include "store/flusher.h"

#include <spdlog/spdlog.h>

#include <unordered_map>

namespace gkm {
namespace {

std::string Join(std::initializer_list<std::string_view> parts) {
  std::string k;
  for (auto p : parts) {
    k += p;
    k += '\0';  // no key id, model, day or name holds a NUL
  }
  return k;
}

// Folds `newer` into `older` keeping one row per key, combined by `combine(kept, newer_row)`,
// ordered by last change: rows `newer` does not touch first, in their order, then those it
// brings or changes, in its order. So the front holds the rows changed longest ago.
template <class T, class KeyOf, class Combine>
void MergeRows(std::vector<T>& older, std::vector<T>&& newer, KeyOf key_of, Combine combine) {
  if (newer.empty()) return;
  std::vector<T> fresh;
  fresh.reserve(newer.size());
  std::unordered_map<std::string, size_t> at;
  at.reserve(newer.size());
  for (T& r : newer) {
    auto [it, inserted] = at.try_emplace(key_of(r), fresh.size());
    if (inserted) {
      fresh.push_back(std::move(r));
    } else {
      combine(fresh[it->second], std::move(r));
    }
  }
  std::vector<T> out;
  out.reserve(older.size() + fresh.size());
  for (T& r : older) {
    auto it = at.find(key_of(r));
    if (it == at.end()) {
      out.push_back(std::move(r));
    } else {
      combine(r, std::move(fresh[it->second]));  // the older row is the base
      fresh[it->second] = std::move(r);
    }
  }
  for (T& r : fresh) out.push_back(std::move(r));
  older = std::move(out);
}

template <class T>
size_t DropOldest(std::vector<T>& rows, size_t n) {
  n = std::min(n, rows.size());
  rows.erase(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(n));
  return n;
}

auto Newest = [](auto& kept, auto&& newer) { kept = std::move(newer); };

}  // namespace

size_t RowCount(const Batch& b) {
  return b.usage.size() + b.client_usage.size() + b.states.size() + b.statuses.size() +
         b.bindings.size() + b.cursors.size() + b.project_states.size() + b.limits.size();
}

size_t MergeForRetry(Batch& older, Batch&& newer, size_t max_rows) {
  // Usage rows are deltas: same (key, model, day) sum up, the write adds them to the table.
  MergeRows(
      older.usage, std::move(newer.usage),
      [](const UsageDelta& u) {
        return Join({u.key_id, u.model, u.day});
      },
      [](UsageDelta& kept, UsageDelta&& u) {
        kept.requests += u.requests;
        kept.rate_limited += u.rate_limited;
        kept.errors += u.errors;
        kept.prompt_tokens += u.prompt_tokens;
        kept.candidate_tokens += u.candidate_tokens;
        kept.thought_tokens += u.thought_tokens;
      });
  MergeRows(
      older.client_usage, std::move(newer.client_usage),
      [](const ClientUsageDelta& u) {
        return Join({u.client, u.model, u.day});
      },
      [](ClientUsageDelta& kept, ClientUsageDelta&& u) { kept.requests += u.requests; });
  // The others are values: the newest wins.
  MergeRows(
      older.states, std::move(newer.states),
      [](const KeyModelState& s) {
        return Join({s.key_id, s.model});
      },
      Newest);
  MergeRows(
      older.statuses, std::move(newer.statuses),
      [](const KeyStatusRow& s) { return Join({s.key_id}); }, Newest);
  MergeRows(
      older.bindings, std::move(newer.bindings),
      [](const Binding& b) {
        return Join({b.kind, b.name});
      },
      Newest);
  MergeRows(
      older.cursors, std::move(newer.cursors),
      [](const std::pair<std::string, int64_t>& c) { return c.first; }, Newest);
  MergeRows(
      older.project_states, std::move(newer.project_states),
      [](const ProjectModelState& s) {
        return Join({s.project, s.model});
      },
      Newest);
  MergeRows(
      older.limits, std::move(newer.limits),
      [](const LearnedLimit& l) {
        return Join({l.project, l.model, l.window, l.metric});
      },
      Newest);
  older.bindings_expired_by_ms =
      std::max(older.bindings_expired_by_ms, newer.bindings_expired_by_ms);

  size_t rows = RowCount(older);
  if (rows <= max_rows) return 0;
  // Usage is history; states, statuses and bindings steer the pool after a restart.
  size_t excess = rows - max_rows;
  size_t dropped = DropOldest(older.usage, excess);
  dropped += DropOldest(older.client_usage, excess - dropped);
  dropped += DropOldest(older.bindings, excess - dropped);
  dropped += DropOldest(older.states, excess - dropped);
  dropped += DropOldest(older.statuses, excess - dropped);
  dropped += DropOldest(older.cursors, excess - dropped);
  dropped += DropOldest(older.project_states, excess - dropped);
  dropped += DropOldest(older.limits, excess - dropped);
  return dropped;
}

Flusher::Flusher(WriteFn write, std::function<Batch()> take, Millis interval, FlusherLimits limits)
    : write_(std::move(write)), take_(std::move(take)), interval_(interval), limits_(limits) {}

Flusher::Flusher(SqliteStore& store, std::function<Batch()> take, Millis interval,
                 FlusherLimits limits)
    : Flusher([&store](const Batch& b, std::string* error) { return store.Write(b, error); },
              std::move(take), interval, limits) {}

Flusher::~Flusher() { Stop(); }

void Flusher::Start() {
  thread_ = std::thread([this] { Loop(); });
}

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
      if (failing_) {
        // A store that just failed is given the interval: state changes would otherwise
        // retry it (and log) as fast as they come.
        cv_.wait_for(lock, interval_, [this] { return stopping_; });
      } else {
        cv_.wait_for(lock, interval_, [this] { return woken_ || stopping_; });
      }
      woken_ = false;
      last = stopping_;
      target = requested_;
    }
    if (FlushOnce()) done_.store(target, std::memory_order_release);
    if (last) {
      if (failing_) {
        spdlog::error("state store: stopping with {} changed rows not written", RowCount(retry_));
      }
      return;
    }
  }
}

bool Flusher::FlushOnce() {
  Batch batch = take_();
  if (!retry_.empty()) {
    // Older changes first, so that a newer state of the same row wins.
    size_t dropped = MergeForRetry(retry_, std::move(batch), limits_.max_retry_rows);
    dropped_unlogged_ += dropped;
    dropped_total_.fetch_add(dropped, std::memory_order_relaxed);
    batch = std::exchange(retry_, Batch{});
  }
  if (batch.empty()) return true;
  std::string error;
  if (write_(batch, &error)) {
    if (failing_) {
      spdlog::info("state store: writes succeed again after {} failed tries{}", failed_tries_,
                   dropped_unlogged_ > 0
                       ? "; " + std::to_string(dropped_unlogged_) + " older rows were dropped"
                       : std::string());
    }
    failing_ = false;
    failed_tries_ = 0;
    dropped_unlogged_ = 0;
    retry_rows_.store(0, std::memory_order_relaxed);
    return true;
  }
  ++failed_tries_;
  // retry_ is empty here: this dedupes and caps the failed batch itself.
  size_t dropped = MergeForRetry(retry_, std::move(batch), limits_.max_retry_rows);
  dropped_unlogged_ += dropped;
  dropped_total_.fetch_add(dropped, std::memory_order_relaxed);
  retry_rows_.store(RowCount(retry_), std::memory_order_relaxed);
  auto now = std::chrono::steady_clock::now();
  if (!failing_) {
    spdlog::error(
        "state store: write failed; requests go on, the changes are kept (at most {} "
        "rows) and retried every {} ms: {}",
        limits_.max_retry_rows, interval_.count(), error);
    failing_ = true;
    next_log_ = now + limits_.log_every;
  } else if (now >= next_log_) {
    spdlog::error(
        "state store: writes still failing ({} tries), {} rows waiting, {} older "
        "rows dropped since the last report: {}",
        failed_tries_, RowCount(retry_), dropped_unlogged_, error);
    dropped_unlogged_ = 0;
    next_log_ = now + limits_.log_every;
  }
  return false;
}

}  // namespace gkm
