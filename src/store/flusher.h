// Flusher: the store's own thread. It takes what changed from the key pool and the
// affinity table and writes it to SQLite in one transaction, at least once per interval,
// at once when woken (state changes), and a last time at Stop(). I/O threads never touch
// the database. Wake() and Stop() are thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "common/state_records.h"
#include "common/time.h"
#include "store/sqlite_store.h"

namespace gkm {

class Flusher {
 public:
  // take() gathers everything pending (it is called on the flusher's thread).
  Flusher(SqliteStore& store, std::function<Batch()> take, Millis interval);
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

 private:
  void Loop();
  bool FlushOnce();

  SqliteStore& store_;
  std::function<Batch()> take_;
  Millis interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;
  uint64_t requested_ = 0;
  std::atomic<uint64_t> done_{0};
  bool stopping_ = false;
  std::thread thread_;
  Batch retry_;  // a batch whose write failed, merged into the next one
};

}  // namespace gkm
