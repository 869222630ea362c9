// RedisSync: the pool's shared truth in Redis (SPEC 6), a second backend beside SQLite.
//
// It receives the same Batch the flusher writes to SQLite (Enqueue, a copy) and applies it
// to Redis with one Lua script call per batch: usage counters by HINCRBY into per-day hashes
// that expire after the retention period; (key, model) and (project, model) states where the
// later deadline wins, each in a key of its own that expires at its deadline (a day state
// at the reset instant); key statuses, learned limits, affinity bindings and rotation
// cursors in hashes. The script announces what it changed on one pub/sub channel, tagged with
// this instance's id; the other instances apply it to their local view at once (the `apply`
// sink), so nothing waits on the network when a request picks a key.
//
// Counters are exact across outages: batches wait in a bounded buffer (merged row by row,
// store/flusher.h) while Redis is away; each batch sent gets this instance's next sequence
// number, and the script applies a number only once (an answer lost with the connection is
// sent again and skipped). Other instances' counts reach the pool as totals (the `counts`
// sink): today's hash read after each announced change (at most every 200 ms, and every 5 s
// anyway) minus what this instance itself has applied, on the same connection, so the sum is
// never counted twice.
//
// Two threads, each with its own connection (store/redis_link.h, hiredis): the writer (sends
// batches, reads counters, resynchronises after a reconnect) and the subscriber. Neither is
// an I/O thread. When Redis goes away both dial again every second; up() turns false (the
// /healthz "redis":"down") and the log says so once, and again when Redis is back.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/state_records.h"
#include "common/time.h"
#include "store/redis_link.h"

namespace gkm {

struct RedisOptions {
  RedisUrl url;
  std::string prefix = "gkm:";
  std::chrono::seconds retention{8 * 24 * 3600};  // of the per-day counters
  size_t max_buffered_rows = 200000;
  std::chrono::milliseconds timeout{2000};  // to connect, and for one command
};

class RedisSync {
 public:
  struct Sink {
    // Other instances' state changes (states, statuses, project states, limits, bindings).
    std::function<void(const Loaded&)> apply;
    // Other instances' requests today per (key, model), as totals.
    std::function<void(const std::vector<UsageDelta>&)> counts;
    // The current quota day ("YYYY-MM-DD") and the wall clock.
    std::function<std::string()> today;
  };
  RedisSync(RedisOptions options, Sink sink);
  ~RedisSync();
  RedisSync(const RedisSync&) = delete;
  RedisSync& operator=(const RedisSync&) = delete;

  // Dials Redis (both connections' settings checked) and loads what is shared now into the
  // sinks. False with one line in *error: the caller exits, or starts without (--redis-optional)
  // and Start() keeps dialing.
  bool Connect(std::string* error);
  // What this instance's earlier runs counted today (SQLite's rows): already in Redis's
  // totals, so not counted again as other instances' requests.
  void SetOwnBaseline(const std::vector<UsageDelta>& today_rows);
  void Start();
  void Stop();  // sends what is buffered (if Redis answers) and joins the threads

  // A copy of a batch the flusher took. Thread-safe, never blocks on the network.
  void Enqueue(const Batch& batch);

  bool up() const { return up_.load(std::memory_order_relaxed); }
  const std::atomic<bool>& up_flag() const { return up_; }
  const std::string& instance() const { return instance_; }
  // Round trips the writer made (a pipeline counts once), for the benchmark report.
  uint64_t round_trips() const { return round_trips_.load(std::memory_order_relaxed); }
  size_t buffered_rows() const { return buffered_rows_.load(std::memory_order_relaxed); }

 private:
  void WriterLoop();
  void SubscriberLoop();
  bool Dial(std::string* error);  // the writer's connection, scripts loaded
  bool Resync();                  // everything shared now, to the sinks
  bool SendPending();             // the batch in flight, then the buffer
  bool ReadCounts();
  void Down(const std::string& why);
  void ApplyMessage(std::string_view text);

  RedisOptions opt_;
  Sink sink_;
  std::string instance_;
  std::string channel_;
  std::string apply_sha_;
  std::unique_ptr<RedisLink> link_;  // the writer's
  std::atomic<bool> up_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> round_trips_{0};
  std::atomic<size_t> buffered_rows_{0};
  std::thread writer_, subscriber_;

  std::mutex mu_;  // guards what follows
  std::condition_variable cv_;
  Batch buffer_;  // not yet sent
  bool wake_ = false;
  bool counts_due_ = true;
  bool resync_due_ = false;

  // The writer's thread only.
  std::string inflight_;  // the encoded batch sent but not known applied
  std::vector<UsageDelta> inflight_usage_;
  uint64_t inflight_seq_ = 0;
  uint64_t seq_ = 0;
  // What this instance has applied to today's totals, by "key id|model".
  std::string own_day_;
  std::unordered_map<std::string, int64_t> own_;
  std::chrono::steady_clock::time_point next_counts_{}, last_counts_{};
};

// The batch as the apply script reads it (JSON arrays), and whether the states of a key or
// project may be cleared by an "ok" (a reset or revival, not a deadline that passed).
std::string EncodeBatch(const Batch& b);
// The Lua script (exposed for the unit test's sake of its text being loadable).
extern const char* const kApplyScript;

}  // namespace gkm
