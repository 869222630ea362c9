// Metrics: the proxy's counters and histograms, rendered in Prometheus text format
// (SPEC 3.5). Thread-safe: counters are atomics; the per-(route, code) table takes a
// short lock. Never holds or prints a key.
#pragma once

#include <array>
#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "clients/clients.h"
#include "keypool/key_pool.h"
#include "verdict/verdict.h"

namespace gkm {

class Histogram {
 public:
  static constexpr std::array<double, 16> kBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                                     2.5,   5,    10,    30,   60,  120,  300, 600};
  void Observe(double seconds);
  // Appends the _bucket, _sum and _count lines of `name` with `labels` ("" or `a="b"`).
  void Render(std::string& out, std::string_view name, std::string_view labels) const;

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_micros_{0};
};

// How soft session affinity served a request of a named session (keypool/sessions.h): by the
// key that served the session last (hit), by another because that one could not (moved), or
// with no key known for the session (miss).
enum class SessionResult : uint8_t { kHit, kMoved, kMiss };

// How a wait in the queue for a key ended (SPEC 4.7, proxy/wait_queue.h): with a key
// (served), at the end of --max-queue-wait (timeout), with the pool's next opening beyond
// it or nothing to wait for any more (no_key), or with the client gone (gone).
enum class QueueResult : uint8_t { kServed, kTimeout, kNoKey, kGone };

class Metrics {
 public:
  void RequestDone(const std::string& route, int code, double seconds);
  void UpstreamAttempt(Outcome outcome, double seconds);
  void SessionServed(SessionResult result) {
    sessions_[static_cast<size_t>(result)].fetch_add(1, std::memory_order_relaxed);
  }
  void InflightAdd(int delta) { inflight_.fetch_add(delta, std::memory_order_relaxed); }
  // A request took a place in the queue / left it after `seconds` / found it full.
  void QueueJoined() { queued_.fetch_add(1, std::memory_order_relaxed); }
  void QueueLeft(QueueResult result, double seconds);
  void QueueRejected() { queue_rejected_.fetch_add(1, std::memory_order_relaxed); }

  // The whole exposition. per_key: also per-key series from the pool view.
  std::string Render(const PoolGauges& gauges, const PoolView* per_key) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, std::unique_ptr<Histogram>> request_duration_;
  std::array<std::atomic<uint64_t>, 6> attempts_{};
  Histogram upstream_duration_;
  std::array<std::atomic<uint64_t>, 3> sessions_{};
  std::atomic<int64_t> inflight_{0};
  std::atomic<int64_t> queued_{0};
  std::array<Histogram, 4> queue_wait_;  // by QueueResult
  std::atomic<uint64_t> queue_rejected_{0};
};

// Appends the per-client series (SPEC 2.3, label `client`): gkm_client_requests_total{client,
// code} (answers by status), gkm_client_refused_total{client,reason} (rpm, rpd, model: the
// client's own limits) and gkm_client_requests_today{client} (admitted this quota day).
void AppendClientMetrics(std::string& out, const std::vector<ClientView>& clients);

}  // namespace gkm
