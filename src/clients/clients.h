// Clients: the named clients of SPEC 2.3 — which models each may use, how many requests it
// may make per minute and per quota day — and what each has used today.
//
// Built once at start from the config's [[client]] tables (and the client `default` of
// --token / GKM_TOKENS), then shared by every I/O thread. Client::Admit() is the check a
// request passes once its model is known and before any key is touched: a model outside the
// client's globs is refused, then a full day, then a full minute. An admitted request is
// counted at once; a refused one is not counted at all.
//
// The minute is a sliding window of the last 60 seconds in one-second buckets (an operator's
// "60 rpm" means never more than 60 in any minute, not 120 across a minute boundary); the
// day is the quota day of QuotaClock, the key pool's day. Retry-After is the whole seconds
// until the window admits one more request (for the day: until the next reset).
//
// Thread safety: each Client has its own mutex, held for a few comparisons and increments;
// no allocation once a model has been seen that day. Status counters are atomics. Clients
// is immutable after construction but for what each Client guards. Pure: time is passed in.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/state_records.h"
#include "common/time.h"
#include "quotaday/quota_clock.h"

namespace gkm {

struct ClientSpec {
  std::string name;
  uint32_t rpm = 0;                 // requests per minute across all models; 0 = no limit
  uint32_t rpd = 0;                 // requests per quota day; 0 = no limit
  std::vector<std::string> models;  // globs ('*' = any run) this client may use; empty = all
};

// Why a request was not admitted.
enum class Refusal : uint8_t { kNone, kModel, kMinute, kDay };
std::string_view RefusalName(Refusal r);  // "model", "rpm", "rpd" ("" for kNone)

struct Admission {
  Refusal refusal = Refusal::kNone;
  int64_t retry_after_s = 0;  // kMinute, kDay: whole seconds, at least 1
  bool ok() const { return refusal == Refusal::kNone; }
};

// One client's limits and usage at one instant (/admin/clients, /metrics).
struct ClientView {
  ClientSpec spec;
  std::string day;                              // the quota day of `today_requests`
  int64_t today_requests = 0;                   // admitted this quota day
  std::map<std::string, int64_t> by_model;      // of those, per model ("-": none named)
  int64_t minute_requests = 0;                  // admitted in the last 60 s
  std::vector<std::pair<int, uint64_t>> codes;  // answers by HTTP status, since start
  std::array<uint64_t, 4> refused{};            // by Refusal, since start
};

class Client {
 public:
  Client(ClientSpec spec, const QuotaClock& clock);
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const std::string& name() const { return spec_.name; }
  const ClientSpec& spec() const { return spec_; }

  // Whether the client may use `model` (without "models/"); "-" or "" (no model: a models
  // list, a file upload) always may.
  bool ModelAllowed(std::string_view model) const;

  // The per-request check; counts the request when it is admitted.
  Admission Admit(std::string_view model, TimePoint now);

  // The status of an answer to this client (metrics).
  void CountStatus(int code);

  ClientView View(TimePoint now);

  // Usage rows not yet handed to the store, as deltas; marks them handed.
  void TakePending(std::vector<ClientUsageDelta>& out);
  // Adds a stored row of the quota day containing `now` (rows of other days are ignored).
  void Restore(const ClientUsageDelta& row, TimePoint now);

  // Shared state (SPEC 6): other instances' requests of this client, counted by Admit.
  // `today` for quota day `day` ("YYYY-MM-DD"; another day's figure is ignored), `minute`
  // for the last 60 s (an estimate). Each replaces the previous figure.
  void SetOthersToday(std::string_view day, int64_t today, TimePoint now);
  void SetOthersMinute(int64_t minute);
  // This instance's admissions per wall-clock minute since the last call (deltas).
  void TakeMinuteCounts(std::vector<ClientMinuteCount>& out);
  // Called (under the client's lock: it must not call back) when an admission is the first
  // since the last TakeMinuteCounts.
  void OnCount(std::function<void()> f) { on_count_ = std::move(f); }

 private:
  struct ModelCount {
    int64_t requests = 0;  // today
    int64_t stored = 0;    // of those, handed to the store (or restored from it)
  };
  // Under mu_: moves the window and the day up to `now`.
  void Advance(TimePoint now);
  int64_t SecondsUntilMinuteAdmits() const;

  const ClientSpec spec_;
  const QuotaClock& clock_;
  mutable std::mutex mu_;
  // The minute: requests admitted in each of the last 60 seconds, bucket s % 60 for second s.
  std::array<uint32_t, 60> buckets_{};
  int64_t newest_second_ = 0;  // the second of the newest bucket
  int64_t minute_total_ = 0;
  // The day.
  int32_t day_ = 0;
  TimePoint day_end_{};  // the next reset; the day is recomputed when now reaches it
  int64_t day_total_ = 0;
  std::map<std::string, ModelCount, std::less<>> by_model_;
  std::vector<ClientUsageDelta> carried_;  // a past day's rows not yet handed to the store
  // Other instances (SPEC 6).
  int32_t others_day_ = -1;
  int64_t others_today_ = 0;
  int64_t others_minute_ = 0;
  int64_t unsent_minute_ = 0;  // the wall-clock minute of unsent_
  int64_t unsent_ = 0;
  std::vector<ClientMinuteCount> unsent_done_;
  std::function<void()> on_count_;
  std::array<std::atomic<uint64_t>, 600> codes_{};
  std::array<std::atomic<uint64_t>, 4> refused_{};
};

class Clients {
 public:
  // Names must be unique (the config checks it).
  Clients(std::vector<ClientSpec> specs, const QuotaClock& clock);
  Clients(const Clients&) = delete;
  Clients& operator=(const Clients&) = delete;

  size_t size() const { return clients_.size(); }
  Client& at(size_t i) { return *clients_[i]; }
  const Client& at(size_t i) const { return *clients_[i]; }
  Client* Find(std::string_view name);

  std::vector<ClientView> View(TimePoint now);
  // Every client's pending usage rows (the flusher's batch).
  std::vector<ClientUsageDelta> TakePending();
  // Today's stored rows, at start: rpd and the day's numbers survive a restart.
  void Restore(const std::vector<ClientUsageDelta>& rows, TimePoint now);
  // Shared state (SPEC 6): other instances' requests today (quota day `day`) per client, and
  // their estimates of the last 60 s; clients not listed keep their figures.
  void SetOthersToday(std::string_view day, const std::map<std::string, int64_t>& today,
                      TimePoint now);
  void SetOthersMinute(const std::map<std::string, int64_t>& minute);
  std::vector<ClientMinuteCount> TakeMinuteCounts();
  void OnCount(const std::function<void()>& f);

 private:
  std::vector<std::unique_ptr<Client>> clients_;
};

}  // namespace gkm
