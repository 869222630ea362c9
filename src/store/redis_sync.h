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
// Minute windows (per-minute pacing of projects, named clients' rpm) are shared apart from the
// batches, as soon as the pool or a client reports a change (MinutesChanged): this instance's
// deltas by HINCRBY into per-window hashes (`rpm:<index>`, `crpm:<minute>`), announced; each
// instance reads the current and previous windows' totals on an announcement (and every
// second) and hands the others' part to the `minutes` / `client_minute` sinks. Today's
// client totals (`creq`) go to `client_today` with the key counts. RedisDayReader reads a
// day's counters for /admin/usage on a connection of its own.
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
#include "common/usage_query.h"
#include "store/redis_link.h"

namespace gkm {

struct RedisOptions {
  RedisUrl url;
  std::string prefix = "gkm:";
  std::chrono::seconds retention{8 * 24 * 3600};  // of the per-day counters
  size_t max_buffered_rows = 200000;
  std::chrono::milliseconds timeout{2000};  // to connect, and for one command
  std::shared_ptr<const RedisTls> tls;      // rediss:// (RedisTls::Make), else null
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
    // This instance's minute counts since the last call (KeyPool::TakeMinuteCounts), and
    // the other instances' totals of the current minute windows (SetSharedMinuteCounts).
    // Either may be empty (minute counts are then not shared).
    std::function<std::vector<MinuteCount>()> take_minutes;
    std::function<void(const std::vector<MinuteCount>&)> minutes;
    // Named clients (SPEC 2.3): this instance's admissions per minute since the last call;
    // the other instances' requests of each client today, and in the last 60 s (estimated
    // from the current and the previous wall-clock minute's counts).
    std::function<std::vector<ClientMinuteCount>()> take_client_minutes;
    std::function<void(const std::string& day, const std::map<std::string, int64_t>&)> client_today;
    std::function<void(const std::map<std::string, int64_t>&)> client_minute;
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
  void SetOwnBaseline(const std::vector<UsageDelta>& today_rows,
                      const std::vector<ClientUsageDelta>& client_rows = {});
  void Start();
  void Stop();  // sends what is buffered (if Redis answers) and joins the threads

  // A copy of a batch the flusher took. Thread-safe, never blocks on the network.
  void Enqueue(const Batch& batch);
  // The pool's minute counts changed: the writer takes and sends them at once. Thread-safe,
  // cheap (it may be called under the pool's lock).
  void MinutesChanged();

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
  bool SendMinutes();  // this instance's minute counts, announced
  bool ReadMinutes();  // the others' of the current windows, to the sink
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
  bool minutes_out_ = false;  // the pool has minute counts to send
  bool minutes_due_ = true;   // another instance announced minute counts

  // The writer's thread only.
  std::string inflight_;  // the encoded batch sent but not known applied
  std::vector<UsageDelta> inflight_usage_;
  std::vector<ClientUsageDelta> inflight_clients_;
  uint64_t inflight_seq_ = 0;
  uint64_t seq_ = 0;
  // What this instance has applied to today's totals, by "key id|model".
  std::string own_day_;
  std::unordered_map<std::string, int64_t> own_;
  std::map<std::string, int64_t> own_clients_;  // by client, today (own_day_)
  std::chrono::steady_clock::time_point next_counts_{}, last_counts_{};
  // What this instance has added to the minute hashes: minute -> "project|model|r" (or |t).
  std::map<int64_t, std::unordered_map<std::string, int64_t>> own_minutes_;
  std::map<int64_t, std::map<std::string, int64_t>> own_client_minutes_;
  std::chrono::steady_clock::time_point next_minutes_{};
};

// Other instances' requests of each client in the last 60 s, estimated from the totals of the
// current wall-clock minute and of the previous one (counted for the part of it still inside
// the last 60 s, `ms_into` being how far the current minute is), less this instance's own.
std::map<std::string, int64_t> OthersClientMinute(
    const std::map<std::string, int64_t>& current, const std::map<std::string, int64_t>& previous,
    const std::map<std::string, int64_t>* own_current,
    const std::map<std::string, int64_t>* own_previous, int64_t ms_into);

// Other instances' minute counts from the minute hashes' fields ("project|model|r" or
// "|t", with totals) of window `minute`, less what this instance added (`own`, same fields).
std::vector<MinuteCount> OthersMinutes(int64_t minute,
                                       const std::vector<std::pair<std::string, int64_t>>& fields,
                                       const std::unordered_map<std::string, int64_t>* own);

// Every instance's usage of one quota day as Redis counts it (SPEC 3.9 /admin/usage with
// --redis), on a connection of its own (opened at the first read, again after an error).
// Not thread-safe: one thread uses it (the usage history's).
class RedisDayReader {
 public:
  explicit RedisDayReader(RedisOptions options) : opt_(std::move(options)) {}
  bool Read(const std::string& day, std::vector<UsageFact>* out, std::string* error);

 private:
  RedisOptions opt_;
  std::unique_ptr<RedisLink> link_;
};

// The facts of `day` from the fields and values of its hashes: `req` ("key|model": requests),
// `use` ("key|model|q|e|p|c|t" by letter: rate_limited, errors, prompt, candidate and
// thought tokens) and `creq` ("client|model": requests).
using RedisFields = std::vector<std::pair<std::string, int64_t>>;
std::vector<UsageFact> ParseSharedDay(const std::string& day, const RedisFields& req,
                                      const RedisFields& use, const RedisFields& creq);

// The batch as the apply script reads it (JSON arrays), and whether the states of a key or
// project may be cleared by an "ok" (a reset or revival, not a deadline that passed).
std::string EncodeBatch(const Batch& b);
// The Lua script (exposed for the unit test's sake of its text being loadable).
extern const char* const kApplyScript;

}  // namespace gkm
