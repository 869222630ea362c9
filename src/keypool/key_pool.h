// KeyPool: the real API keys, which of them may serve which model now, and their usage.
//
// Selection is round robin over the keys usable for a model, O(1) per pick however many
// keys are cooling, exhausted or invalid (SPEC 4.1): per model, usable keys sit in a ring
// (a vector plus each key's position in it, so a key leaves by swapping with the last),
// unusable ones in a min-heap by deadline; a pick first moves the keys whose deadline has
// passed back into the ring. A request never gets the same key twice: each attempt stamps
// the key with the request's number.
//
// Report() applies a Verdict (SPEC 4.2) and counts usage per (key, model, quota day).
// Counters live here, in memory; the store's flusher takes them with TakeBatch() and
// writes them; state changes (cooling, exhausted, invalid) are handed over at once through
// the on_state_change callback.
//
// Thread-safe: one mutex guards everything; every critical section is short and never
// does I/O. Never reads the clock: `now` comes from the caller.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "common/api_key.h"
#include "common/state_records.h"
#include "common/time.h"
#include "quotaday/quota_clock.h"
#include "verdict/verdict.h"

namespace gkm {

// Token counts a response reported (usageMetadata).
struct TokenUsage {
  int64_t prompt = 0;
  int64_t candidates = 0;
  int64_t thoughts = 0;
};

struct PickedKey {
  uint32_t slot;                      // the key's place in the pool
  std::shared_ptr<const ApiKey> key;  // stays valid even if a reload removes the key
};

// Why no key could be picked.
struct NoKey {
  enum class Why { kNoKeys, kExhausted, kCooling, kInvalid, kTried, kAffinityUnusable };
  Why why;
  Millis retry_after{0};  // until the earliest key becomes usable for the model; 0 if never
  std::string message;    // for the client: "all 3 keys are exhausted for today ..."
};

using PickResult = std::variant<PickedKey, NoKey>;

struct PoolOptions {
  Millis transient_base{1000};  // first cooldown after a transient failure
  Millis transient_cap{30000};  // the doubling stops here
};

// What /admin/keys shows (SPEC 3.5).
struct KeyModelView {
  std::string model;
  int64_t requests = 0;
  std::string state;  // ok | cooling | exhausted
  std::optional<TimePoint> until;
  std::string reason;
};
struct KeyView {
  std::string id;
  std::string masked;
  std::string status;  // active | invalid
  std::string reason;
  int64_t requests_today = 0;
  std::vector<KeyModelView> models;
};
struct PoolView {
  std::string day;
  TimePoint next_reset;
  std::vector<KeyView> keys;
};

// Aggregates for /metrics.
struct PoolGauges {
  int64_t keys_active = 0;
  int64_t keys_invalid = 0;
  int64_t key_models_cooling = 0;
  int64_t key_models_exhausted = 0;
  std::vector<std::pair<std::string, int64_t>> requests_today_by_model;
};

class KeyPool {
 public:
  KeyPool(std::vector<ApiKey> keys, QuotaClock clock, PoolOptions options = {});
  KeyPool(const KeyPool&) = delete;
  KeyPool& operator=(const KeyPool&) = delete;

  // Restores what the store loaded (today's usage, states, statuses, cursors). Rows of
  // keys not in the pool are ignored. Call before serving.
  void Restore(const Loaded& loaded, TimePoint now);

  // A new request number for the "never the same key twice" rule.
  uint64_t NewRequest();

  // The next usable key for `model` not yet tried by request `request`.
  PickResult Pick(std::string_view model, uint64_t request, TimePoint now);
  // Why no key is usable for `model` now (every key exhausted, cooling or invalid, with
  // the wait until the earliest returns), or nullopt when some key is usable.
  std::optional<NoKey> Unavailable(std::string_view model, TimePoint now);

  // The key with this id, if it is usable for `model` (key affinity, SPEC 3.3).
  PickResult PickById(std::string_view key_id, std::string_view model, uint64_t request,
                      TimePoint now);

  // The outcome of one attempt with `slot` for `model`. `status` is the HTTP status, or 0
  // when no answer came.
  // Returns true when the key's state changed (cooling, exhausted, invalid), which the
  // store is told about at once.
  bool Report(uint32_t slot, std::string_view model, int status, const Verdict& verdict,
              const TokenUsage& tokens, TimePoint now);

  // Replaces the key set (SIGHUP): kept keys keep their state and counters, new keys
  // join every ring, removed keys leave them, invalid keys become active again only if
  // `revive_invalid`. Returns {added, removed}.
  std::pair<size_t, size_t> Reload(std::vector<ApiKey> keys, bool revive_invalid, TimePoint now);

  // Marks a key active again (admin reset). False if no such key.
  bool ResetKey(std::string_view key_id, TimePoint now);

  // Everything changed since the last call, for the store. Clears the pending changes.
  Batch TakeBatch(TimePoint now);
  // Called (outside the lock) after a state change, so that the store writes it at once.
  void SetOnStateChange(std::function<void()> fn);

  PoolView View(TimePoint now) const;
  PoolGauges Gauges(TimePoint now) const;
  size_t size() const;         // keys in the pool (active and invalid)
  size_t active_size() const;  // keys not invalid
  const QuotaClock& clock() const { return clock_; }

  // Steps taken by the last Pick over ring entries and heap entries (for the O(1) test).
  uint64_t last_pick_steps() const { return last_pick_steps_; }

 private:
  struct Counters {
    int64_t requests = 0, rate_limited = 0, errors = 0;
    int64_t prompt = 0, candidates = 0, thoughts = 0;
    bool zero() const {
      return !requests && !rate_limited && !errors && !prompt && !candidates && !thoughts;
    }
    void Add(const Counters& d) {
      requests += d.requests;
      rate_limited += d.rate_limited;
      errors += d.errors;
      prompt += d.prompt;
      candidates += d.candidates;
      thoughts += d.thoughts;
    }
  };
  enum class State : uint8_t { kOk, kCooling, kExhausted };
  struct KeyModel {
    State state = State::kOk;
    TimePoint until{};
    std::string reason;
    uint32_t transient_streak = 0;
    uint64_t heap_generation = 0;
    uint64_t last_request = 0;
    int32_t day = -1;  // the quota day `today` counts
    Counters today;
    int32_t unflushed_day = -1;
    Counters unflushed;
    bool dirty = false;  // listed in dirty_
  };
  struct HeapEntry {
    TimePoint until;
    uint32_t slot;
    uint64_t generation;
    bool operator>(const HeapEntry& o) const { return until > o.until; }
  };
  struct ModelPool {
    std::string name;
    std::vector<uint32_t> ring;
    std::vector<int32_t> position;  // per slot; -1 when not in the ring
    uint64_t cursor = 0;
    bool cursor_dirty = false;
    std::vector<HeapEntry> heap;  // min-heap by until (std::push_heap with greater)
    std::vector<KeyModel> keys;   // per slot
  };
  struct Slot {
    std::shared_ptr<const ApiKey> key;
    bool removed = false;
    bool invalid = false;
    std::string reason;
  };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  ModelPool& ModelLocked(std::string_view model);
  bool Usable(const Slot& s) const { return !s.removed && !s.invalid; }
  // Every change of a slot's flags goes through here, to keep the counts below exact.
  void SetFlags(Slot& slot, bool removed, bool invalid);
  // The quota day of `now`, cached with its bounds.
  int32_t DayLocked(TimePoint now) const;
  void RingInsert(ModelPool& m, uint32_t slot);
  void RingErase(ModelPool& m, uint32_t slot);
  void RejoinDue(ModelPool& m, TimePoint now);
  void SetUnusable(ModelPool& m, uint32_t slot, State state, TimePoint until, std::string reason);
  void Count(ModelPool& m, uint32_t slot, int32_t day, const Counters& delta);
  NoKey NothingUsable(const ModelPool& m, TimePoint now, bool tried_some) const;
  void QueueState(const ModelPool& m, uint32_t slot);
  void QueueStatus(uint32_t slot);

  mutable std::mutex mu_;
  QuotaClock clock_;
  PoolOptions options_;
  std::vector<Slot> slots_;
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> slot_by_id_;
  std::unordered_map<std::string, std::unique_ptr<ModelPool>, StringHash, std::equal_to<>> models_;
  std::atomic<uint64_t> next_request_{1};  // no lock needed: only ever incremented
  mutable int32_t day_ = 0;
  mutable TimePoint day_start_ = TimePoint::max();
  mutable TimePoint day_end_ = TimePoint::min();
  size_t present_count_ = 0;  // slots not removed
  size_t usable_count_ = 0;   // slots neither removed nor invalid
  std::vector<std::pair<ModelPool*, uint32_t>> dirty_;
  std::vector<UsageDelta> pending_usage_;  // counters of a day that ended before a flush
  std::vector<KeyModelState> pending_states_;
  std::vector<KeyStatusRow> pending_statuses_;
  std::unordered_map<std::string, int64_t> restored_cursors_;
  std::function<void()> on_state_change_;
  uint64_t last_pick_steps_ = 0;
};

}  // namespace gkm
