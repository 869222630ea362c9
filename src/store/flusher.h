// Flusher: the store's own thread. It takes what changed from the key pool and the
// affinity table and writes it to SQLite in one transaction, at least once per interval,
// at once when woken (state changes), and a last time at Stop(). I/O threads never touch
// the database. Wake() and Stop() are thread-safe.
//
// A store that cannot write (disk full, database locked) must not stop requests nor grow
// memory (SPEC 8): what failed is kept for the next try merged by row (usage counters of
// one key, model and day add up, a state, status, binding or cursor keeps its newest value),
// so it is bounded by the distinct rows, and those are capped (the oldest dropped, counted
// in the log). After a failure the next try waits for the interval, however often the pool
// wakes the thread, and the failure is logged at its start, then at most once per
// `log_every` with what is pending, and once more when writes succeed again.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "common/state_records.h"
#include "common/time.h"
#include "store/sqlite_store.h"

namespace gkm {

struct FlusherLimits {
  // Distinct rows kept for a retry. 200,000 rows of usage are about 40 MB.
  size_t max_retry_rows = 200000;
  Millis log_every{30000};
};

// Merges `newer` into `older`, row by row (see above), and drops the rows changed longest
// ago beyond `max_rows`: usage first (history), then bindings, states, statuses, cursors. Returns
// the number of rows dropped. Pure.
size_t MergeForRetry(Batch& older, Batch&& newer, size_t max_rows);
size_t RowCount(const Batch& b);

class Flusher {
 public:
  // write(batch, &error) stores one batch in one transaction; take() gathers everything
  // pending. Both are called on the flusher's thread.
  using WriteFn = std::function<bool(const Batch&, std::string*)>;
  Flusher(WriteFn write, std::function<Batch()> take, Millis interval, FlusherLimits limits = {});
  Flusher(SqliteStore& store, std::function<Batch()> take, Millis interval,
          FlusherLimits limits = {});
  ~Flusher();
  Flusher(const Flusher&) = delete;
  Flusher& operator=(const Flusher&) = delete;

  void Start();
  void Wake();
  // Asks for a flush now and returns a ticket; Flushed(ticket) turns true once a write
  // that holds everything pending at the time of the call has committed. Thread-safe.
  uint64_t RequestFlush();
  bool Flushed(uint64_t ticket) const { return done_.load(std::memory_order_acquire) >= ticket; }
  // Flushes one last time and joins the thread.
  void Stop();

  // For tests and /metrics-like reporting: rows waiting for a retry, rows dropped so far.
  size_t retry_rows() const { return retry_rows_.load(std::memory_order_relaxed); }
  uint64_t dropped_rows() const { return dropped_total_.load(std::memory_order_relaxed); }

 private:
  void Loop();
  bool FlushOnce();

  WriteFn write_;
  std::function<Batch()> take_;
  Millis interval_;
  FlusherLimits limits_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;
  uint64_t requested_ = 0;
  std::atomic<uint64_t> done_{0};
  bool stopping_ = false;
  std::thread thread_;
  // Only the flusher's thread (or Stop() after the join) touches what follows.
  Batch retry_;  // what failed, merged into the next try
  bool failing_ = false;
  uint64_t failed_tries_ = 0;      // since writes last succeeded
  uint64_t dropped_unlogged_ = 0;  // rows dropped since the last log line
  std::chrono::steady_clock::time_point next_log_{};
  std::atomic<size_t> retry_rows_{0};
  std::atomic<uint64_t> dropped_total_{0};
};

}  // namespace gkm
