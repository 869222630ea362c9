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
// Per-model memory is bounded (SPEC 8: a client inventing model names cannot grow per-key
// state). A model the pool does not track yet costs nothing per key: its picks come from
// one shared ring of the usable keys. It is tracked (a ModelPool with per-key state) once
// Google has answered it with anything but 404: at once as "confirmed" on a success, a
// cooling or an exhaustion, else on probation (at most max_probation_models of those). At
// most max_models are tracked; to make room, and at each TakeBatch for idle ones, a model
// without cooling or exhausted keys is dropped (one on probation first, a confirmed one only
// if unused this quota day), its unflushed counters handed to the store first.
//
// Projects (SPEC 4.5, 4.6): every key belongs to a Google Cloud project (`project=` in the
// key file; a plain key is a project of its own). Per model, the rotation is two-level: a
// ring of the projects that can serve, each with a ring of its usable keys, so a quota
// verdict about a project (a 429 whose quotaId says PerProject) takes the whole project out
// in O(1), and the load spreads evenly over projects (whose budgets are what Google counts),
// then over keys. Each (project, model) paces itself by the limits it knows (--limit, or
// learned from 429s): a pick reserves one request of the project's minute window and quota
// day; a project at a budget leaves the ring until the window ends, exactly like a cooling
// key (a deadline heap per model), so a pick stays O(1). The minute window's phase comes from
// the last RetryInfo of a per-minute 429, else it is the wall-clock minute.
//
// Gauges and 503 reasons come from counts kept as states change (per model: keys cooling,
// keys exhausted; the heap top for the earliest deadline), not from scans of all keys.
//
// Thread-safe: one mutex guards everything; every critical section is short and never
// does I/O. Never reads the clock: `now` comes from the caller.
#pragma once

#include <algorithm>
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

#include <boost/container/options.hpp>
#include <boost/container/vector.hpp>

#include "common/api_key.h"
#include "common/huge_pages.h"
#include "common/quota_limits.h"
#include "common/state_records.h"
#include "common/time.h"
#include "keypool/index_set.h"
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
  uint32_t slot;  // the key's place in the pool
  // Valid as long as the pool: the pool never frees a key it has held (a key a reload
  // removes keeps its slot). A pick touches no reference count, so I/O threads that pick
  // the same key do not contend on it.
  const ApiKey* key;
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
  // Models with per-key state (each costs ~250 bytes per key): Google lists about fifty.
  size_t max_models = 256;
  // Of those, models Google has not yet answered with a success, a cooling or an exhaustion
  // (only with a 400, a 5xx, an invalid key...).
  size_t max_probation_models = 16;
  // --limit: per-project limits known up front (SPEC 2.1).
  LimitTable limits;
  // --strategy (SPEC 4.8).
  PoolStrategy strategy = PoolStrategy::kRoundRobin;
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
  std::string project;  // empty: the key's own (no project= in the key file)
  std::string status;   // active | invalid
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
  int64_t models_tracked = 0;  // models with per-key state (bounded by max_models)
  // (project, model) pairs out of the rotation: by Google's verdict, or paced by a limit.
  int64_t project_models_cooling = 0;
  int64_t project_models_exhausted = 0;
  int64_t project_models_paced = 0;
  std::vector<std::pair<std::string, int64_t>> requests_today_by_model;
};

// What /admin/capacity shows (SPEC 3.9): per model, per project.
struct ProjectCapacity {
  std::string project;  // empty: a key's own project (then `key_id` names it)
  std::string key_id;
  size_t keys = 0;      // keys of the project that are not invalid
  QuotaLimits limits;   // in force (--limit over learned); -1: not known
  QuotaLimits learned;  // what Google reported
  int64_t used_today = 0;
  int64_t minute_used = 0;
  std::string state;  // ok | cooling | exhausted
  std::optional<TimePoint> until;
  std::string reason;
};
struct ModelCapacity {
  std::string model;
  std::vector<ProjectCapacity> projects;
  int64_t used_today = 0;
  int64_t limit_today = -1;     // sum of the known per-day limits; -1 when none is known
  int64_t left_today = -1;      // of the projects whose limit is known
  size_t projects_unknown = 0;  // projects without a known per-day limit
};
struct CapacityView {
  std::string day;
  TimePoint day_start;
  TimePoint next_reset;
  std::vector<ModelCapacity> models;
};

class KeyPool {
 public:
  // `projects`: each key's project name (same order as `keys`; empty or missing: its own).
  KeyPool(std::vector<ApiKey> keys, QuotaClock clock, PoolOptions options = {},
          std::vector<std::string> projects = {});
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
  // The same check for a preference rather than a binding (soft session affinity,
  // keypool/sessions.h): the key if it may serve `model` for `request` now, else nullopt —
  // the caller then picks by round robin. Neither moves the round robin's cursor.
  std::optional<PickedKey> PickPreferred(std::string_view key_id, std::string_view model,
                                         uint64_t request, TimePoint now);

  // The outcome of one attempt with `slot` for `model`. `status` is the HTTP status, or 0
  // when no answer came.
  // Returns true when the key's state changed (cooling, exhausted, invalid), which the
  // store is told about at once.
  bool Report(uint32_t slot, std::string_view model, int status, const Verdict& verdict,
              const TokenUsage& tokens, TimePoint now);

  // Replaces the key set (SIGHUP): kept keys keep their state and counters, new keys
  // join every ring, removed keys leave them, invalid keys become active again only if
  // `revive_invalid`. Returns {added, removed}.
  // `projects` as in the constructor: a kept key may move to another project.
  std::pair<size_t, size_t> Reload(std::vector<ApiKey> keys, bool revive_invalid, TimePoint now,
                                   std::vector<std::string> projects = {});

  // Marks a key active again and clears its states (admin reset), and those its project
  // holds from Google's answers, with the limits learned for the project: a project that
  // changed its plan is tried afresh. False if no such key.
  bool ResetKey(std::string_view key_id, TimePoint now);

  // Everything changed since the last call, for the store. Clears the pending changes.
  Batch TakeBatch(TimePoint now);
  // Called (outside the lock) after a state change, so that the store writes it at once.
  void SetOnStateChange(std::function<void()> fn);

  PoolView View(TimePoint now) const;
  CapacityView Capacity(TimePoint now);
  // O(models): from maintained counts (it lets the keys whose deadline passed rejoin).
  PoolGauges Gauges(TimePoint now);
  // Whether the pool keeps per-key state for `model` (for tests and diagnostics).
  bool Tracks(std::string_view model) const;
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
  // The per-key and per-project arrays a pick reads at scattered places: on huge pages once
  // they are large (common/huge_pages.h).
  template <typename T>
  using HugeVector = std::vector<T, HugePageAllocator<T>>;
  // A key in its project's ring: what a pick of it reads, in the ring itself (in rotation
  // order, not at the key's place in arrays of 100,000): the slot, the key it hands out,
  // and the last request that took it for this model. While the key is in the ring, this
  // stamp is the one in force; ModelPool::last_request keeps it while the key is out.
  struct RingKey {
    const ApiKey* key = nullptr;
    uint64_t last_request = 0;
    uint32_t slot = 0;
  };
  // Learned limits as a pick reads them, in 12 bytes. A limit of INT32_MAX or more (2^31
  // requests or input tokens in one project's minute or day: beyond any quota Google grants,
  // and beyond what a pool sends) does not pace; learned_ and the store keep it whole, and
  // the admin views show it from there.
  struct PackedLimits {
    int32_t rpm = -1, rpd = -1, tpm = -1;
    PackedLimits() = default;
    PackedLimits(const QuotaLimits& l) : rpm(Pack(l.rpm)), rpd(Pack(l.rpd)), tpm(Pack(l.tpm)) {}
    operator QuotaLimits() const { return QuotaLimits{Unpack(rpm), Unpack(rpd), Unpack(tpm)}; }
    static int32_t Pack(int64_t v) { return static_cast<int32_t>(std::min<int64_t>(v, INT32_MAX)); }
    static int64_t Unpack(int32_t v) { return v == INT32_MAX ? -1 : v; }
  };
  // A project's keys in rotation order; 16 bytes (32-bit size and capacity).
  using KeyRing = boost::container::vector<
      RingKey, void, boost::container::vector_options_t<boost::container::stored_size<uint32_t>>>;
  // A (project, model): its keys' ring, its state, its pacing windows. Everything a pick reads
  // and writes (the ring, the limits, the windows) is in the first cache line, which the
  // record starts on; the rest is read when the state changes, or for the admin views.
  struct alignas(64) ProjectModel {
    KeyRing ring;         // the project's usable keys
    uint32_t cursor = 0;  // in [0, ring.size()] (ring.size() means 0)
    int32_t day = -1;     // the quota day `day_requests` counts
    int64_t minute_tokens = 0;
    int64_t day_requests = 0;
    // Pacing windows: the minute window `minute` (windows start `phase_ms` past each
    // wall-clock minute) and the quota day `day`, with what was sent in them.
    int32_t minute_requests = 0;
    int32_t minute = INT32_MIN;  // minutes since the epoch (32 bits last until the year 6053)
    PackedLimits learned;
    int32_t phase_ms = 0;
    // ---- cold: state changes, views, shared minute counts
    int32_t pos = -1;    // place in its rotation (pring, or its bucket's ring); -1 when out
    uint8_t bucket = 0;  // least_used: the share of its per-day limit used, in 64ths
    State state = State::kOk;
    bool paced = false;  // the state comes from pacing, not from Google
    // Shared minute windows (SPEC 6): this instance's sends not yet taken by TakeMinuteCounts
    // (for window `unsent_minute`), and the other instances' part of minute_requests /
    // minute_tokens (for window `others_minute`).
    bool minute_dirty = false;
    int64_t unsent_minute = INT64_MIN;
    int64_t unsent_requests = 0;
    int64_t unsent_tokens = 0;
    int64_t others_minute = INT64_MIN;
    int64_t others_requests = 0;
    int64_t others_tokens = 0;
    TimePoint until{};
    std::string reason;
    uint64_t heap_generation = 0;
  };
  struct KeyModel {
    State state = State::kOk;
    TimePoint until{};
    std::string reason;
    uint32_t transient_streak = 0;
    uint64_t heap_generation = 0;
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
    // Projects that can serve (state ok, a usable key), in the strategy's structure:
    // round_robin a ring (pring, cursor); fill_first a set of indices (first);
    // least_used 64 rings by share of the day's limit used (buckets, bucket_mask).
    std::vector<uint32_t> pring;
    IndexSet first;
    struct Bucket {
      std::vector<uint32_t> ring;
      uint64_t cursor = 0;
    };
    std::vector<Bucket> buckets;
    uint64_t bucket_mask = 0;
    size_t projects_in = 0;        // projects in the rotation
    HugeVector<int32_t> position;  // per slot: place in its project's ring; -1 when out
    uint64_t cursor = 0;           // of pring
    bool cursor_dirty = false;
    std::vector<HeapEntry> heap;   // keys: min-heap by until (std::push_heap with greater)
    std::vector<HeapEntry> pheap;  // projects (HeapEntry::slot is the project's index)
    HugeVector<KeyModel> keys;     // per slot
    // Per slot: the last request that took the key for this model, while the key is out of
    // its project's ring (RingKey holds it while it is in: StampOf finds it). A tracked
    // model's picks stamp only these; the slot's own stamp is copied in when the model is
    // tracked and back when it is dropped.
    HugeVector<uint64_t> last_request;
    HugeVector<ProjectModel> projects;  // per project
    QuotaLimits flag_limits;            // --limit for this model
    size_t usable_keys = 0;             // keys in the project rings
    // Kept exact by SetUnusable/ClearState/RejoinDue/SetFlags: keys neither removed nor
    // invalid that are cooling or exhausted for this model. A key that is not usable has no
    // live heap entry and is not counted.
    uint32_t cooling = 0;
    uint32_t exhausted = 0;
    // Projects by state, Google's verdicts and pacing apart: [state][paced].
    uint32_t projects_out[3][2] = {};
    int32_t day = -1;            // the quota day requests_today counts
    int64_t requests_today = 0;  // over keys not removed
    uint32_t dirty = 0;          // entries of dirty_ that point here
    bool confirmed = false;      // Google answered a success, cooling or exhaustion
    uint64_t last_used = 0;      // use_clock_ at its last Report, to drop the oldest first
  };
  struct Slot {
    std::shared_ptr<const ApiKey> key;
    uint32_t project = 0;
    bool removed = false;
    bool invalid = false;
    std::string reason;
    int32_t shared_pos = -1;    // place in shared_ring_; -1 when not usable
    uint64_t last_request = 0;  // the last request that took it for a model not tracked
  };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using ModelMap =
      std::unordered_map<std::string, std::unique_ptr<ModelPool>, StringHash, std::equal_to<>>;

  // A pick by key id: the slot (stamped with `request`) or why it may not serve.
  struct ById {
    enum class Problem : uint8_t { kNone, kGone, kInvalid, kState, kTried };
    Problem problem = Problem::kNone;
    uint32_t slot = 0;
    ModelPool* model = nullptr;  // tracked model, if any
  };
  ById TakeByIdLocked(std::string_view key_id, std::string_view model, uint64_t request,
                      TimePoint now);
  // The tracked model, or null (no allocation).
  ModelPool* FindLocked(std::string_view model);
  // The model tracked and confirmed (a state was stored or shared for it), or null when
  // there is no room.
  ModelPool* ConfirmedLocked(std::string_view model, TimePoint now);
  // Starts tracking `model`, making room if needed; null when there is none (or the name
  // could not be stored safely). `confirmed` as in ModelPool.
  ModelPool* TrackLocked(std::string_view model, bool confirmed, TimePoint now,
                         bool probation_cap = true);
  // Drops a model; its unflushed counters and rotation go to the next batch.
  void DropLocked(ModelMap::iterator it);
  bool Idle(ModelPool& m, int32_t today, TimePoint now);
  bool Usable(const Slot& s) const { return !s.removed && !s.invalid; }
  // Every change of a slot's flags goes through here, to keep the rings and counts exact.
  void SetFlags(uint32_t slot, bool removed, bool invalid, TimePoint now);
  // The quota day of `now`, cached with its bounds.
  int32_t DayLocked(TimePoint now) const;
  void RingInsert(ModelPool& m, uint32_t slot);
  // The last request that took `slot` for `m` (in its ring entry, or kept while it is out).
  uint64_t& StampOf(ModelPool& m, uint32_t slot);
  void RingErase(ModelPool& m, uint32_t slot);
  void ProjectInsert(ModelPool& m, uint32_t project);
  uint8_t BucketOf(const ModelPool& m, const ProjectModel& pm) const;
  // One request sent through `project`: counted in its windows; out of the rotation when
  // that used its budget, else re-ranked (least_used). Every pick path reserves here.
  void Reserve(ModelPool& m, uint32_t project, TimePoint now);
  // A key of `project` is taken for `request`: stamps, counts, re-ranks.
  std::optional<PickedKey> TakeFromProject(ModelPool& m, uint32_t project, uint64_t request,
                                           TimePoint now, bool& tried_some);
  void ProjectErase(ModelPool& m, uint32_t project);
  void RejoinDue(ModelPool& m, TimePoint now);
  // Projects: the index of `name` (created, with its place in every model), its limits in
  // force, its windows rolled to `now`, and whether it may send one more request now (else
  // it leaves the rotation until the window that stops it ends).
  uint32_t ProjectIndexLocked(const std::string& name, const std::string& key_id);
  QuotaLimits LimitsOf(const ModelPool& m, const ProjectModel& pm) const;
  void Roll(ProjectModel& pm, TimePoint now);
  bool HasBudget(ModelPool& m, uint32_t project, TimePoint now);
  void SetProjectUnusable(ModelPool& m, uint32_t project, State state, TimePoint until,
                          std::string reason, bool paced);
  void ClearProject(ModelPool& m, uint32_t project);
  void CountProject(ModelPool& m, const ProjectModel& pm, int delta);
  void QueueProjectState(const ModelPool& m, uint32_t project);
  void Learn(ModelPool& m, uint32_t project, const std::vector<QuotaFact>& facts, TimePoint now);
  void MoveSlot(uint32_t slot, uint32_t project, TimePoint now);
  // Picks from the project rings: one pass over the usable projects in rotation order.
  std::optional<PickedKey> PickFromRings(ModelPool& m, uint64_t request, TimePoint now,
                                         bool& tried_some);
  void CountState(ModelPool& m, State state, int delta);
  void SetUnusable(ModelPool& m, uint32_t slot, State state, TimePoint until, std::string reason);
  void ClearState(ModelPool& m, uint32_t slot);
  void Count(ModelPool& m, uint32_t slot, int32_t day, const Counters& delta);
  // Why no key is usable for `m` (null: a model not tracked). O(1) amortised.
  NoKey NothingUsable(ModelPool* m, TimePoint now, bool tried_some);
  void QueueState(const ModelPool& m, uint32_t slot);
  void QueueStatus(uint32_t slot);
  void QueueUsage(const Slot& slot, std::string_view model, int32_t day, const Counters& c);

  mutable std::mutex mu_;
  QuotaClock clock_;
  PoolOptions options_;
  HugeVector<Slot> slots_;
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> slot_by_id_;
  ModelMap models_;
  size_t probation_ = 0;  // tracked models not confirmed
  struct Project {
    std::string name;  // the key file's project=, or "~" + key id for a key's own
    bool named = false;
    uint32_t keys = 0;  // slots not removed
  };
  std::vector<Project> projects_;
  std::unordered_map<std::string, uint32_t> project_by_name_;
  // Learned limits by model, then project name: the truth, also for models not tracked.
  std::unordered_map<std::string, std::unordered_map<std::string, QuotaLimits>, StringHash,
                     std::equal_to<>>
      learned_;
  std::vector<ProjectModelState> pending_project_states_;
  std::vector<LearnedLimit> pending_limits_;
  std::vector<uint32_t> shared_ring_;  // usable slots, for models not tracked
  uint64_t shared_cursor_ = 0;
  uint64_t use_clock_ = 0;                 // ticks at each Report
  int64_t cooling_ = 0, exhausted_ = 0;    // sums of the ModelPool counts
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
  std::vector<std::pair<std::string, int64_t>> pending_cursors_;  // of dropped models
  std::unordered_map<std::string, int64_t> restored_cursors_;
  std::function<void()> on_state_change_;
  uint64_t last_pick_steps_ = 0;

 public:
  // Probes of keys (SPEC 2.1 --recheck-invalid, 3.9 POST /admin/keys/{id}/check).
  // The key with this id (not removed), or null.
  std::shared_ptr<const ApiKey> KeyById(std::string_view key_id) const;
  // The keys invalid now (not removed). O(1) when none is, else O(keys).
  std::vector<std::shared_ptr<const ApiKey>> InvalidKeys() const;
  // A probe's finding: the key active, or invalid for `reason`. Unlike ResetKey, its
  // per-model states are kept (a key exhausted for today stays so). The store is told at once
  // when the status changes. False when there is no such key.
  bool SetStatus(std::string_view key_id, bool invalid, std::string_view reason, TimePoint now);

 public:
  // Shared state (SPEC 6, store/redis_sync.h): what other instances changed, applied to this
  // local view without being handed back to the store (no echo between instances).
  // The states ("ok" clears one, else the later deadline wins), statuses, project states and
  // learned limits of `changes` (a value < 0 forgets one); its other fields are ignored.
  void ApplyShared(const Loaded& changes, TimePoint now);
  // Other instances' requests this quota day per (key, model), as totals (not deltas): added
  // to what /admin/keys, /metrics and the per-day pacing count. Rows of another day are
  // ignored; a row keeps counting until a later call gives another total.
  void SetSharedCounts(const std::vector<UsageDelta>& others, TimePoint now);
  // This instance's requests and input tokens per (project, model, minute window) since the
  // last call, as deltas (a request given back after a 429 is -1). Only projects with a
  // per-minute limit (or model with one) are counted.
  std::vector<MinuteCount> TakeMinuteCounts();
  // Other instances' totals per (project, model, minute window): a row of the current window
  // of its project replaces that project's previous figure in its minute counts; rows of
  // other windows are ignored.
  void SetSharedMinuteCounts(const std::vector<MinuteCount>& others, TimePoint now);
  // Called (under the pool's lock: it must not call back) when a project's minute count first
  // changes after a TakeMinuteCounts, so that the sync can send it promptly.
  void OnMinuteCount(std::function<void()> f) { on_minute_ = std::move(f); }

 private:
  struct SharedCount {
    const ModelPool* model = nullptr;  // the ModelPool it was added to (a dropped one: void)
    int32_t day = -1;
    int64_t requests = 0;
  };
  std::unordered_map<std::string, SharedCount> shared_counts_;  // key id + '\0' + model
  // Own minute counts to share: (model, project) with minute_dirty set, and sends of a window
  // that ended before they were taken.
  void AddOwnMinute(ModelPool& m, uint32_t p, int64_t requests, int64_t tokens);
  std::vector<std::pair<std::string, uint32_t>> minute_dirty_;
  std::vector<MinuteCount> minute_done_;
  std::function<void()> on_minute_;
};

}  // namespace gkm
