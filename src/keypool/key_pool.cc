#include "keypool/key_pool.h"

#include <algorithm>
#include <cassert>
#include <tuple>

#include "common/names.h"

namespace gkm {
namespace {

constexpr int32_t kNotInRing = -1;

std::string_view StateName(int state) {
  switch (state) {
    case 1:
      return "cooling";
    case 2:
      return "exhausted";
    default:
      return "ok";
  }
}

Millis Until(TimePoint now, TimePoint deadline) {
  return deadline > now ? std::chrono::duration_cast<Millis>(deadline - now) : Millis(0);
}

// Names the pool may keep: they reach metrics labels, JSON and SQLite, so only "-", a model
// name and "tunedModels/" + a model name (common/names.h), never bytes that are not UTF-8.
bool StorableName(std::string_view model) {
  if (model == "-") return true;
  if (model.starts_with("tunedModels/")) model.remove_prefix(12);
  return ModelNameProblem(model).empty();
}

}  // namespace

KeyPool::KeyPool(std::vector<ApiKey> keys, QuotaClock clock, PoolOptions options,
                 std::vector<std::string> projects)
    : clock_(clock), options_(std::move(options)) {
  slots_.reserve(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    auto key = std::make_shared<const ApiKey>(std::move(keys[i]));
    if (slot_by_id_.count(key->id())) continue;  // duplicates are the loader's to report
    auto s = static_cast<uint32_t>(slots_.size());
    slot_by_id_.emplace(key->id(), s);
    uint32_t p = ProjectIndexLocked(i < projects.size() ? projects[i] : std::string(), key->id());
    ++projects_[p].keys;
    slots_.push_back(Slot{std::move(key), p, false, false, {}, static_cast<int32_t>(s), 0});
    shared_ring_.push_back(s);
  }
  present_count_ = usable_count_ = slots_.size();
}

uint32_t KeyPool::ProjectIndexLocked(const std::string& name, const std::string& key_id) {
  // A key without a project is a project of its own, named after the key's id ("~" cannot
  // start a project name of the key file).
  std::string internal = name.empty() ? "~" + key_id : name;
  auto [it, added] = project_by_name_.emplace(internal, static_cast<uint32_t>(projects_.size()));
  if (!added) return it->second;
  projects_.push_back(Project{internal, !name.empty(), 0});
  for (auto& [model, m] : models_) {
    m->projects.emplace_back();
    m->first.Resize(projects_.size());
    if (auto l = learned_.find(model); l != learned_.end()) {
      if (auto pl = l->second.find(internal); pl != l->second.end()) {
        m->projects.back().learned = pl->second;
      }
    }
  }
  return it->second;
}

void KeyPool::SetOnStateChange(std::function<void()> fn) {
  std::lock_guard lock(mu_);
  on_state_change_ = std::move(fn);
}

size_t KeyPool::size() const {
  std::lock_guard lock(mu_);
  return present_count_;
}

size_t KeyPool::active_size() const {
  std::lock_guard lock(mu_);
  return usable_count_;
}

bool KeyPool::Tracks(std::string_view model) const {
  std::lock_guard lock(mu_);
  return models_.find(model) != models_.end();
}

void KeyPool::CountState(ModelPool& m, State state, int delta) {
  if (state == State::kCooling) {
    m.cooling += delta;
    cooling_ += delta;
  } else if (state == State::kExhausted) {
    m.exhausted += delta;
    exhausted_ += delta;
  }
}

void KeyPool::SetFlags(uint32_t s, bool removed, bool invalid, TimePoint now) {
  Slot& slot = slots_[s];
  const bool was_present = !slot.removed;
  const bool was_usable = Usable(slot);
  present_count_ -= was_present;
  usable_count_ -= was_usable;
  slot.removed = removed;
  slot.invalid = invalid;
  present_count_ += !slot.removed;
  usable_count_ += Usable(slot);
  const bool usable = Usable(slot);

  if (was_present != !removed) {
    projects_[slot.project].keys += removed ? -1 : 1;
    // The requests of a removed key leave the per-model totals, as /admin/keys no longer
    // shows them; a key that comes back brings them back.
    int32_t today = DayLocked(now);
    for (auto& [name, m] : models_) {
      const KeyModel& km = m->keys[s];
      if (km.day == today && m->day == today) {
        m->requests_today += removed ? -km.today.requests : km.today.requests;
      }
    }
  }
  if (was_usable == usable) return;

  if (usable) {
    slot.shared_pos = static_cast<int32_t>(shared_ring_.size());
    shared_ring_.push_back(s);
  } else {
    int32_t pos = slot.shared_pos;
    uint32_t last = shared_ring_.back();
    shared_ring_[pos] = last;
    slots_[last].shared_pos = pos;
    shared_ring_.pop_back();
    slot.shared_pos = kNotInRing;
  }
  // O(models), on the rare status changes: a key that is not usable leaves every ring and
  // its states stop counting (their heap entries go stale); one that is usable again gets
  // its states back if they are still running.
  for (auto& [name, mp] : models_) {
    ModelPool& m = *mp;
    KeyModel& km = m.keys[s];
    if (!usable) {
      RingErase(m, s);
      if (km.state != State::kOk) {
        CountState(m, km.state, -1);
        ++km.heap_generation;
      }
      continue;
    }
    if (km.state != State::kOk) {
      if (km.until > now) {
        CountState(m, km.state, +1);
        ++km.heap_generation;
        m.heap.push_back(HeapEntry{km.until, s, km.heap_generation});
        std::push_heap(m.heap.begin(), m.heap.end(), std::greater<>());
        continue;
      }
      km.state = State::kOk;
      km.reason.clear();
      QueueState(m, s);
    }
    RingInsert(m, s);
  }
}

void KeyPool::MoveSlot(uint32_t s, uint32_t project, TimePoint now) {
  Slot& slot = slots_[s];
  (void)now;
  std::vector<ModelPool*> in_ring;
  for (auto& [name, m] : models_) {
    if (m->position[s] == kNotInRing) continue;
    RingErase(*m, s);
    in_ring.push_back(m.get());
  }
  if (!slot.removed) {
    --projects_[slot.project].keys;
    ++projects_[project].keys;
  }
  slot.project = project;
  for (ModelPool* m : in_ring) RingInsert(*m, s);
}

uint64_t KeyPool::NewRequest() { return next_request_.fetch_add(1, std::memory_order_relaxed); }

KeyPool::ModelPool* KeyPool::ConfirmedLocked(std::string_view model, TimePoint now) {
  ModelPool* m = FindLocked(model);
  if (m == nullptr) m = TrackLocked(model, true, now);
  if (m != nullptr && !m->confirmed) {
    m->confirmed = true;
    --probation_;
  }
  return m;
}

KeyPool::ModelPool* KeyPool::FindLocked(std::string_view model) {
  auto it = models_.find(model);
  return it == models_.end() ? nullptr : it->second.get();
}

bool KeyPool::Idle(ModelPool& m, int32_t today, TimePoint now) {
  RejoinDue(m, now);
  return m.cooling + m.exhausted == 0 && m.pheap.empty() && m.day != today && m.dirty == 0 &&
         m.flag_limits == QuotaLimits{} && !learned_.count(m.name);
}

KeyPool::ModelPool* KeyPool::TrackLocked(std::string_view model, bool confirmed, TimePoint now,
                                         bool probation_cap) {
  if (!StorableName(model)) return nullptr;
  const bool full = models_.size() >= options_.max_models;
  const bool probation_full =
      !confirmed && probation_cap && probation_ >= options_.max_probation_models;
  if (full || probation_full) {
    // Room is made by dropping a model with no cooling or exhausted key: one unused this
    // quota day first, then one on probation, then the least recently used. A confirmed
    // model used today is never dropped; when a place on probation is needed, only a model
    // on probation can give it.
    int32_t today = DayLocked(now);
    auto victim = models_.end();
    std::tuple<bool, bool, uint64_t> best{};
    for (auto it = models_.begin(); it != models_.end(); ++it) {
      ModelPool& c = *it->second;
      RejoinDue(c, now);
      if (c.cooling + c.exhausted != 0 || !c.pheap.empty()) continue;
      const bool used_today = c.day == today;
      if (probation_full ? c.confirmed : (c.confirmed && used_today)) continue;
      std::tuple<bool, bool, uint64_t> rank{used_today, c.confirmed, c.last_used};
      if (victim == models_.end() || rank < best) {
        victim = it;
        best = rank;
      }
    }
    if (victim == models_.end()) return nullptr;
    DropLocked(victim);
  }
  auto m = std::make_unique<ModelPool>();
  m->name = std::string(model);
  m->confirmed = confirmed;
  m->position.assign(slots_.size(), kNotInRing);
  m->keys.resize(slots_.size());
  m->last_request.resize(slots_.size());
  m->projects.resize(projects_.size());
  m->first.Resize(projects_.size());
  if (options_.strategy == PoolStrategy::kLeastUsed) m->buckets.resize(64);
  m->flag_limits = options_.limits.Resolve(model);
  if (auto l = learned_.find(m->name); l != learned_.end()) {
    for (const auto& [project, limits] : l->second) {
      if (auto p = project_by_name_.find(project); p != project_by_name_.end()) {
        m->projects[p->second].learned = limits;
      }
    }
  }
  // The ring starts as a copy of the shared one and its cursor where the shared one is,
  // so the rotation goes on across the change instead of restarting at the first key.
  // A request that picked a key before the model was tracked does not get it again.
  for (uint32_t s = 0; s < slots_.size(); ++s) m->last_request[s] = slots_[s].last_request;
  m->pring.reserve(shared_ring_.size());
  for (uint32_t s : shared_ring_) RingInsert(*m, s);
  m->cursor = shared_cursor_;
  if (auto c = restored_cursors_.find(m->name); c != restored_cursors_.end()) {
    m->cursor = static_cast<uint64_t>(c->second);
  }
  if (!confirmed) ++probation_;
  return models_.emplace(m->name, std::move(m)).first->second.get();
}

void KeyPool::DropLocked(ModelMap::iterator it) {
  ModelPool& m = *it->second;
  for (size_t i = 0; m.dirty > 0 && i < dirty_.size();) {
    if (dirty_[i].first != &m) {
      ++i;
      continue;
    }
    KeyModel& km = m.keys[dirty_[i].second];
    if (!km.unflushed.zero()) {
      QueueUsage(slots_[dirty_[i].second], m.name, km.unflushed_day, km.unflushed);
    }
    --m.dirty;
    dirty_[i] = dirty_.back();
    dirty_.pop_back();
  }
  if (m.cursor_dirty) pending_cursors_.emplace_back(m.name, static_cast<int64_t>(m.cursor));
  if (auto c = restored_cursors_.find(m.name); c != restored_cursors_.end()) {
    c->second = static_cast<int64_t>(m.cursor);
  }
  if (!m.confirmed) --probation_;
  // A request in flight that took a key for this model does not get it again from the
  // shared ring (request numbers only grow).
  for (uint32_t s = 0; s < slots_.size(); ++s) {
    slots_[s].last_request = std::max(slots_[s].last_request, StampOf(m, s));
  }
  models_.erase(it);
}

namespace {

// A ring: items in a vector, each item's place kept by `place(item)`, a cursor that the
// picks advance. Removal swaps with the last item: O(1). An entry is the item (a project's
// index) or holds it (RingKey's slot).
uint32_t ItemOf(uint32_t entry) { return entry; }
template <typename Entry>
uint32_t ItemOf(const Entry& entry) {
  return entry.slot;
}

template <typename Ring, typename Entry, typename Place>
void Insert(Ring& ring, Entry entry, Place place) {
  const uint32_t item = ItemOf(entry);
  if (place(item) != kNotInRing) return;
  place(item) = static_cast<int32_t>(ring.size());
  ring.push_back(std::move(entry));
}

// Returns true when the cursor moved.
template <typename Ring, typename Cursor, typename Place>
bool Erase(Ring& ring, Cursor& cursor, uint32_t item, Place place) {
  int32_t pos = place(item);
  if (pos == kNotInRing) return false;
  const size_t n = ring.size();
  const auto at = static_cast<size_t>(pos);
  const bool just_picked = (cursor + n - 1) % n == at;
  if (at + 1 != n) {
    ring[pos] = std::move(ring.back());
    place(ItemOf(ring[pos])) = pos;
  }
  ring.pop_back();
  place(item) = kNotInRing;
  if (just_picked && n > 1) {
    // The item just picked leaves (its answer made it unusable): the next pick is the item
    // that followed it, wherever the swap put it, so no item comes twice in a row.
    size_t follower = (at + 1) % n;
    cursor = static_cast<Cursor>(follower == n - 1 ? at : follower);
    return true;
  }
  return false;
}

// A count kept in 32 bits (ProjectModel's first cache line), clamped rather than wrapped.
int32_t Clamp32(int64_t v) {
  return static_cast<int32_t>(std::clamp<int64_t>(v, INT32_MIN, INT32_MAX));
}

// Minute windows: window i starts at i * 60 s + phase past the epoch.
constexpr int64_t kMinuteMs = 60000;
int64_t MinuteIndex(TimePoint t, int64_t phase_ms) {
  int64_t x = ToUnixMs(t) - phase_ms;
  return x >= 0 ? x / kMinuteMs : -((-x + kMinuteMs - 1) / kMinuteMs);
}
TimePoint MinuteEnd(int64_t index, int64_t phase_ms) {
  return FromUnixMs((index + 1) * kMinuteMs + phase_ms);
}

}  // namespace

uint8_t KeyPool::BucketOf(const ModelPool& m, const ProjectModel& pm) const {
  // A project whose per-day limit is not known ranks first: its share cannot be told, and
  // using it is how its limit gets known.
  const int64_t rpd = LimitsOf(m, pm).rpd;
  if (rpd <= 0) return 0;
  return static_cast<uint8_t>(std::min<int64_t>(63, pm.day_requests * 64 / rpd));
}

void KeyPool::ProjectInsert(ModelPool& m, uint32_t p) {
  ProjectModel& pm = m.projects[p];
  if (pm.pos != kNotInRing) return;
  auto place = [&m](uint32_t i) -> int32_t& { return m.projects[i].pos; };
  switch (options_.strategy) {
    case PoolStrategy::kRoundRobin:
      Insert(m.pring, p, place);
      break;
    case PoolStrategy::kFillFirst:
      m.first.Insert(p);
      pm.pos = 0;
      break;
    case PoolStrategy::kLeastUsed:
      pm.bucket = BucketOf(m, pm);
      Insert(m.buckets[pm.bucket].ring, p, place);
      m.bucket_mask |= uint64_t{1} << pm.bucket;
      break;
  }
  ++m.projects_in;
}

void KeyPool::ProjectErase(ModelPool& m, uint32_t p) {
  ProjectModel& pm = m.projects[p];
  if (pm.pos == kNotInRing) return;
  auto place = [&m](uint32_t i) -> int32_t& { return m.projects[i].pos; };
  switch (options_.strategy) {
    case PoolStrategy::kRoundRobin:
      if (Erase(m.pring, m.cursor, p, place)) m.cursor_dirty = true;
      break;
    case PoolStrategy::kFillFirst:
      m.first.Erase(p);
      pm.pos = kNotInRing;
      break;
    case PoolStrategy::kLeastUsed: {
      ModelPool::Bucket& b = m.buckets[pm.bucket];
      Erase(b.ring, b.cursor, p, place);
      if (b.ring.empty()) m.bucket_mask &= ~(uint64_t{1} << pm.bucket);
      break;
    }
  }
  --m.projects_in;
}

void KeyPool::RingInsert(ModelPool& m, uint32_t slot) {
  if (m.position[slot] != kNotInRing) return;
  const uint32_t p = slots_[slot].project;
  ProjectModel& pm = m.projects[p];
  Insert(pm.ring, RingKey{slots_[slot].key.get(), m.last_request[slot], slot},
         [&m](uint32_t i) -> int32_t& { return m.position[i]; });
  ++m.usable_keys;
  if (pm.state == State::kOk) ProjectInsert(m, p);
}

void KeyPool::RingErase(ModelPool& m, uint32_t slot) {
  if (m.position[slot] == kNotInRing) return;
  const uint32_t p = slots_[slot].project;
  ProjectModel& pm = m.projects[p];
  m.last_request[slot] = pm.ring[m.position[slot]].last_request;
  Erase(pm.ring, pm.cursor, slot, [&m](uint32_t i) -> int32_t& { return m.position[i]; });
  --m.usable_keys;
  if (pm.ring.empty()) ProjectErase(m, p);
}

uint64_t& KeyPool::StampOf(ModelPool& m, uint32_t slot) {
  const int32_t pos = m.position[slot];
  if (pos == kNotInRing) return m.last_request[slot];
  return m.projects[slots_[slot].project].ring[pos].last_request;
}

void KeyPool::RejoinDue(ModelPool& m, TimePoint now) {
  while (!m.pheap.empty() && m.pheap.front().until <= now) {
    std::pop_heap(m.pheap.begin(), m.pheap.end(), std::greater<>());
    HeapEntry e = m.pheap.back();
    m.pheap.pop_back();
    ++last_pick_steps_;
    ProjectModel& pm = m.projects[e.slot];
    if (e.generation != pm.heap_generation || pm.state == State::kOk) continue;  // stale
    ClearProject(m, e.slot);
  }
  while (!m.heap.empty() && m.heap.front().until <= now) {
    std::pop_heap(m.heap.begin(), m.heap.end(), std::greater<>());
    HeapEntry e = m.heap.back();
    m.heap.pop_back();
    ++last_pick_steps_;
    KeyModel& km = m.keys[e.slot];
    if (e.generation != km.heap_generation || km.state == State::kOk) continue;  // stale
    // A live entry's key is usable (SetFlags makes the entries of the others stale).
    CountState(m, km.state, -1);
    km.state = State::kOk;
    km.reason.clear();
    QueueState(m, e.slot);
    RingInsert(m, e.slot);
  }
}

void KeyPool::CountProject(ModelPool& m, const ProjectModel& pm, int delta) {
  if (pm.state != State::kOk) m.projects_out[static_cast<int>(pm.state)][pm.paced] += delta;
}

void KeyPool::SetProjectUnusable(ModelPool& m, uint32_t p, State state, TimePoint until,
                                 std::string reason, bool paced) {
  ProjectModel& pm = m.projects[p];
  if (pm.state != State::kOk && pm.until >= until) return;  // the later deadline wins
  CountProject(m, pm, -1);
  pm.state = state;
  pm.paced = paced;
  pm.until = until;
  pm.reason = std::move(reason);
  CountProject(m, pm, +1);
  ++pm.heap_generation;
  m.pheap.push_back(HeapEntry{until, p, pm.heap_generation});
  std::push_heap(m.pheap.begin(), m.pheap.end(), std::greater<>());
  ProjectErase(m, p);
  // Pacing states are derived from the windows, which are rebuilt at start: only Google's
  // verdicts are kept.
  if (!paced) QueueProjectState(m, p);
}

void KeyPool::ClearProject(ModelPool& m, uint32_t p) {
  ProjectModel& pm = m.projects[p];
  if (pm.state == State::kOk) return;
  CountProject(m, pm, -1);
  const bool was_paced = pm.paced;
  pm.state = State::kOk;
  pm.paced = false;
  pm.reason.clear();
  ++pm.heap_generation;
  if (!pm.ring.empty()) ProjectInsert(m, p);
  if (!was_paced) QueueProjectState(m, p);
}

void KeyPool::QueueProjectState(const ModelPool& m, uint32_t p) {
  const ProjectModel& pm = m.projects[p];
  pending_project_states_.push_back(ProjectModelState{
      projects_[p].name, m.name, std::string(StateName(static_cast<int>(pm.state))),
      pm.state == State::kOk ? 0 : ToUnixMs(pm.until), pm.reason});
}

QuotaLimits KeyPool::LimitsOf(const ModelPool& m, const ProjectModel& pm) const {
  return QuotaLimits(pm.learned).Over(m.flag_limits);
}

void KeyPool::Roll(ProjectModel& pm, TimePoint now) {
  const int64_t minute = MinuteIndex(now, pm.phase_ms);
  if (minute != pm.minute) {
    pm.minute = Clamp32(minute);
    pm.minute_requests = 0;
    pm.minute_tokens = 0;
  }
  const int32_t today = DayLocked(now);
  if (pm.day != today) {
    pm.day = today;
    pm.day_requests = 0;
  }
}

bool KeyPool::HasBudget(ModelPool& m, uint32_t p, TimePoint now) {
  ProjectModel& pm = m.projects[p];
  Roll(pm, now);
  const QuotaLimits l = LimitsOf(m, pm);
  if (l.rpd >= 0 && pm.day_requests >= l.rpd) {
    SetProjectUnusable(m, p, State::kExhausted, clock_.NextReset(now),
                       l.rpd == 0 ? "paced: per-day limit 0"
                                  : "paced: per-day limit " + std::to_string(l.rpd) + " reached",
                       true);
    return false;
  }
  const TimePoint minute_end = MinuteEnd(pm.minute, pm.phase_ms);
  if (l.rpm >= 0 && pm.minute_requests >= l.rpm) {
    SetProjectUnusable(m, p, State::kCooling, minute_end,
                       "paced: per-minute limit " + std::to_string(l.rpm) + " reached", true);
    return false;
  }
  if (l.tpm >= 0 && pm.minute_tokens >= l.tpm) {
    SetProjectUnusable(m, p, State::kCooling, minute_end,
                       "paced: input tokens per minute " + std::to_string(l.tpm) + " reached",
                       true);
    return false;
  }
  return true;
}

void KeyPool::Learn(ModelPool& m, uint32_t p, const std::vector<QuotaFact>& facts, TimePoint now) {
  ProjectModel& pm = m.projects[p];
  for (const QuotaFact& f : facts) {
    const bool minute = f.window == QuotaFact::Window::kMinute;
    const bool tokens = f.metric == QuotaFact::Metric::kInputTokens;
    if (!minute && tokens) continue;  // no per-day token budget to pace
    // learned_ holds the limits whole (pm.learned keeps them in 32 bits).
    QuotaLimits& known = learned_[m.name][projects_[p].name];
    int64_t* slot = minute ? (tokens ? &known.tpm : &known.rpm) : &known.rpd;
    if (*slot == f.value) continue;
    *slot = f.value;
    pm.learned = known;
    pending_limits_.push_back(LearnedLimit{projects_[p].name, m.name, minute ? "minute" : "day",
                                           tokens ? "input_tokens" : "requests", f.value,
                                           ToUnixMs(now)});
  }
}

void KeyPool::SetUnusable(ModelPool& m, uint32_t slot, State state, TimePoint until,
                          std::string reason) {
  KeyModel& km = m.keys[slot];
  if (km.state != State::kOk && km.until >= until) return;  // re-cooling keeps the later deadline
  const bool usable = Usable(slots_[slot]);
  if (usable && km.state != State::kOk) CountState(m, km.state, -1);
  km.state = state;
  km.until = until;
  km.reason = std::move(reason);
  ++km.heap_generation;
  if (usable) {
    CountState(m, state, +1);
    m.heap.push_back(HeapEntry{until, slot, km.heap_generation});
    std::push_heap(m.heap.begin(), m.heap.end(), std::greater<>());
  }
  RingErase(m, slot);
  QueueState(m, slot);
}

void KeyPool::ClearState(ModelPool& m, uint32_t slot) {
  KeyModel& km = m.keys[slot];
  if (km.state == State::kOk) return;
  if (Usable(slots_[slot])) CountState(m, km.state, -1);
  km.state = State::kOk;
  km.reason.clear();
  ++km.heap_generation;
  QueueState(m, slot);
}

void KeyPool::QueueState(const ModelPool& m, uint32_t slot) {
  const KeyModel& km = m.keys[slot];
  pending_states_.push_back(KeyModelState{
      slots_[slot].key->id(), m.name, std::string(StateName(static_cast<int>(km.state))),
      km.state == State::kOk ? 0 : ToUnixMs(km.until), km.reason});
}

void KeyPool::QueueStatus(uint32_t slot) {
  const Slot& s = slots_[slot];
  pending_statuses_.push_back(
      KeyStatusRow{s.key->id(), s.invalid ? "invalid" : "active", s.reason});
}

void KeyPool::QueueUsage(const Slot& slot, std::string_view model, int32_t day, const Counters& u) {
  pending_usage_.push_back(UsageDelta{slot.key->id(), std::string(model), QuotaClock::DayName(day),
                                      u.requests, u.rate_limited, u.errors, u.prompt, u.candidates,
                                      u.thoughts});
}

PickResult KeyPool::Pick(std::string_view model, uint64_t request, TimePoint now) {
  std::lock_guard lock(mu_);
  last_pick_steps_ = 0;
  bool tried_some = false;
  ModelPool* m = FindLocked(model);
  if (m == nullptr && (learned_.count(model) || options_.limits.Resolve(model).any())) {
    // A model with limits (--limit, or learned on an earlier day) is paced from its first
    // request on, so that a burst at start does not run past them.
    m = TrackLocked(model, false, now);
  }
  if (m == nullptr) {
    // Not tracked: no key has a state for it, so any usable key will do.
    for (size_t n = shared_ring_.size(); n > 0; --n) {
      ++last_pick_steps_;
      uint32_t slot = shared_ring_[shared_cursor_++ % shared_ring_.size()];
      Slot& s = slots_[slot];
      if (s.last_request == request) {
        tried_some = true;
        continue;
      }
      s.last_request = request;
      return PickedKey{slot, s.key.get()};
    }
    return NothingUsable(nullptr, now, tried_some);
  }
  RejoinDue(*m, now);
  if (auto picked = PickFromRings(*m, request, now, tried_some)) return std::move(*picked);
  return NothingUsable(m, now, tried_some);
}

void KeyPool::Reserve(ModelPool& m, uint32_t p, TimePoint now) {
  // The request is sent: it counts in the project's windows, and a project that has now
  // used its budget leaves the rotation before the next pick sees it.
  ProjectModel& pm = m.projects[p];
  AddOwnMinute(m, p, 1, 0);
  ++pm.day_requests;
  if (HasBudget(m, p, now) && options_.strategy == PoolStrategy::kLeastUsed &&
      BucketOf(m, pm) != pm.bucket) {
    ProjectErase(m, p);  // re-ranked by its new share
    ProjectInsert(m, p);
  }
}

std::optional<PickedKey> KeyPool::TakeFromProject(ModelPool& m, uint32_t p, uint64_t request,
                                                  TimePoint now, bool& tried_some) {
  if (!HasBudget(m, p, now)) return std::nullopt;  // it left the rotation until its window ends
  ProjectModel& pm = m.projects[p];
  for (uint32_t k = pm.ring.size(); k > 0; --k) {
    ++last_pick_steps_;
    const uint32_t at = pm.cursor % pm.ring.size();
    pm.cursor = at + 1;
    RingKey& e = pm.ring[at];
    if (e.last_request == request) {
      tried_some = true;
      continue;
    }
    e.last_request = request;
    Reserve(m, p, now);
    return PickedKey{e.slot, e.key};
  }
  return std::nullopt;
}

std::optional<PickedKey> KeyPool::PickFromRings(ModelPool& m, uint64_t request, TimePoint now,
                                                bool& tried_some) {
  switch (options_.strategy) {
    case PoolStrategy::kRoundRobin:
      for (size_t n = m.pring.size(); n > 0 && !m.pring.empty(); --n) {
        ++last_pick_steps_;
        const uint32_t p = m.pring[m.cursor++ % m.pring.size()];
        m.cursor_dirty = true;
        if (auto slot = TakeFromProject(m, p, request, now, tried_some)) return slot;
      }
      break;
    case PoolStrategy::kFillFirst:
      // Key-file order: the first project that can serve, then the ones after it.
      for (auto p = m.first.NextFrom(0); p; p = m.first.NextFrom(*p + 1)) {
        ++last_pick_steps_;
        if (auto slot = TakeFromProject(m, static_cast<uint32_t>(*p), request, now, tried_some)) {
          return slot;
        }
      }
      break;
    case PoolStrategy::kLeastUsed:
      // The lowest share first; projects of one share in turn.
      for (uint64_t done = 0; (m.bucket_mask & ~done) != 0;) {
        const int b = __builtin_ctzll(m.bucket_mask & ~done);
        done |= (uint64_t{2} << b) - 1;
        ModelPool::Bucket& bucket = m.buckets[b];
        for (size_t n = bucket.ring.size(); n > 0 && !bucket.ring.empty(); --n) {
          ++last_pick_steps_;
          const uint32_t p = bucket.ring[bucket.cursor++ % bucket.ring.size()];
          if (auto slot = TakeFromProject(m, p, request, now, tried_some)) return slot;
        }
      }
      break;
  }
  return std::nullopt;
}

int32_t KeyPool::DayLocked(TimePoint now) const {
  // The zone conversion costs more than the rest of a pick; the day changes once a day.
  if (now < day_start_ || now >= day_end_) {
    day_ = clock_.DayNumberOf(now);
    day_start_ = clock_.DayStart(now);
    day_end_ = clock_.NextReset(now);
  }
  return day_;
}

std::optional<NoKey> KeyPool::Unavailable(std::string_view model, TimePoint now) {
  std::lock_guard lock(mu_);
  ModelPool* m = FindLocked(model);
  if (m == nullptr) {
    if (!shared_ring_.empty()) return std::nullopt;
    return NothingUsable(nullptr, now, false);
  }
  RejoinDue(*m, now);
  if (m->projects_in > 0) return std::nullopt;
  return NothingUsable(m, now, false);
}

KeyPool::ById KeyPool::TakeByIdLocked(std::string_view key_id, std::string_view model,
                                      uint64_t request, TimePoint now) {
  ById r;
  auto it = slot_by_id_.find(key_id);
  if (it == slot_by_id_.end() || slots_[it->second].removed) {
    r.problem = ById::Problem::kGone;
    return r;
  }
  r.slot = it->second;
  Slot& s = slots_[r.slot];
  if (s.invalid) {
    r.problem = ById::Problem::kInvalid;
    return r;
  }
  if ((r.model = FindLocked(model)) != nullptr) {
    RejoinDue(*r.model, now);
    if (r.model->keys[r.slot].state != State::kOk ||
        r.model->projects[s.project].state != State::kOk || !HasBudget(*r.model, s.project, now)) {
      r.problem = ById::Problem::kState;
      return r;
    }
  }
  uint64_t& last = r.model ? StampOf(*r.model, r.slot) : s.last_request;
  if (last == request) {
    r.problem = ById::Problem::kTried;
    return r;
  }
  last = request;
  if (r.model != nullptr) Reserve(*r.model, s.project, now);
  return r;
}

PickResult KeyPool::PickById(std::string_view key_id, std::string_view model, uint64_t request,
                             TimePoint now) {
  std::lock_guard lock(mu_);
  ById r = TakeByIdLocked(key_id, model, request, now);
  switch (r.problem) {
    case ById::Problem::kNone:
      return PickedKey{r.slot, slots_[r.slot].key.get()};
    case ById::Problem::kGone:
      return NoKey{NoKey::Why::kAffinityUnusable, Millis(0),
                   "the key that created this resource is no longer in the key pool"};
    case ById::Problem::kInvalid:
      return NoKey{NoKey::Why::kAffinityUnusable, Millis(0),
                   "the key that created this resource is invalid (" + slots_[r.slot].reason + ")"};
    case ById::Problem::kState: {
      const KeyModel& km = r.model->keys[r.slot];
      const ProjectModel& pm = r.model->projects[slots_[r.slot].project];
      const bool key = km.state != State::kOk;
      const State state = key ? km.state : pm.state;
      return NoKey{NoKey::Why::kAffinityUnusable, Until(now, key ? km.until : pm.until),
                   "the key that created this resource is " +
                       std::string(StateName(static_cast<int>(state))) + " for model " +
                       r.model->name + " (" + (key ? km.reason : pm.reason) +
                       (key ? "" : ", its project") + ")"};
    }
    case ById::Problem::kTried:
      break;
  }
  return NoKey{NoKey::Why::kTried, Millis(0),
               "the key that created this resource failed for this request"};
}

std::optional<PickedKey> KeyPool::PickPreferred(std::string_view key_id, std::string_view model,
                                                uint64_t request, TimePoint now) {
  std::lock_guard lock(mu_);
  ById r = TakeByIdLocked(key_id, model, request, now);
  if (r.problem != ById::Problem::kNone) return std::nullopt;
  return PickedKey{r.slot, slots_[r.slot].key.get()};
}

NoKey KeyPool::NothingUsable(ModelPool* m, TimePoint now, bool tried_some) {
  if (present_count_ == 0) {
    return NoKey{NoKey::Why::kNoKeys, Millis(0), "the key pool is empty"};
  }
  if (usable_count_ == 0) {
    return NoKey{NoKey::Why::kInvalid, Millis(0), "all keys are invalid"};
  }
  if (tried_some || m == nullptr) {
    // Keys remain usable but this request has tried them all (a model not tracked has no
    // cooling or exhausted key, so this is the only way to get here for one).
    return NoKey{NoKey::Why::kTried, Millis(1000),
                 "every usable key was tried for this request and failed"};
  }
  // O(1) amortised: the counts are kept, and the heap top, once its stale entries are
  // dropped, is the earliest deadline of a usable key.
  while (!m->heap.empty()) {
    const HeapEntry& e = m->heap.front();
    const KeyModel& km = m->keys[e.slot];
    if (e.generation == km.heap_generation && km.state != State::kOk) break;
    std::pop_heap(m->heap.begin(), m->heap.end(), std::greater<>());
    m->heap.pop_back();
  }
  while (!m->pheap.empty()) {
    const HeapEntry& e = m->pheap.front();
    const ProjectModel& pm = m->projects[e.slot];
    if (e.generation == pm.heap_generation && pm.state != State::kOk) break;
    std::pop_heap(m->pheap.begin(), m->pheap.end(), std::greater<>());
    m->pheap.pop_back();
  }
  // The earliest deadline of a key or a project. A key may wait for its project too, so
  // this can be early, never late: a client told to come back finds a key or a new wait.
  std::optional<TimePoint> first;
  if (!m->heap.empty()) first = m->heap.front().until;
  if (!m->pheap.empty() && (!first || m->pheap.front().until < *first)) {
    first = m->pheap.front().until;
  }
  Millis wait = first ? Until(now, *first) : Millis(0);
  if (wait < Millis(1000)) wait = Millis(1000);
  std::string model = m->name == "-" ? "any model" : "model " + m->name;
  const auto cooling_projects = m->projects_out[1][0] + m->projects_out[1][1];
  if (m->cooling == 0 && cooling_projects == 0) {
    const auto paced = m->projects_out[2][1];
    // The number of keys when each holds its own state; projects hold many.
    const bool by_key = m->projects_out[2][0] + paced == 0;
    return NoKey{NoKey::Why::kExhausted, wait,
                 "all " + (by_key ? std::to_string(m->exhausted) + " " : std::string()) +
                     "usable keys are exhausted for today for " + model +
                     (paced > 0 ? " (" + std::to_string(paced) +
                                      " projects have used their known per-day limit)"
                                : std::string()) +
                     "; the quota resets at the next reset instant"};
  }
  return NoKey{NoKey::Why::kCooling, wait,
               "all usable keys are cooling down or exhausted for " + model +
                   (m->projects_out[1][1] > 0 ? " (" + std::to_string(m->projects_out[1][1]) +
                                                    " projects paced by their per-minute limit)"
                                              : std::string())};
}

void KeyPool::Count(ModelPool& m, uint32_t slot, int32_t day, const Counters& d) {
  KeyModel& km = m.keys[slot];
  if (km.day != day) {
    km.day = day;
    km.today = Counters{};
  }
  km.today.Add(d);
  if (m.day != day) {
    m.day = day;
    m.requests_today = 0;
  }
  if (!slots_[slot].removed) m.requests_today += d.requests;
  if (km.unflushed_day != day && !km.unflushed.zero()) {
    // The quota day turned before the flusher took these: keep them under their own day.
    QueueUsage(slots_[slot], m.name, km.unflushed_day, km.unflushed);
    km.unflushed = Counters{};
  }
  km.unflushed_day = day;
  km.unflushed.Add(d);
  if (!km.dirty) {
    km.dirty = true;
    ++m.dirty;
    dirty_.emplace_back(&m, slot);
  }
}

bool KeyPool::Report(uint32_t slot, std::string_view model, int status, const Verdict& verdict,
                     const TokenUsage& tokens, TimePoint now) {
  std::function<void()> notify;
  bool changed = false;
  {
    std::lock_guard lock(mu_);
    if (slot >= slots_.size()) return false;
    // Google names a model real by answering it with anything but 404; a success, a
    // cooling or an exhaustion confirms it (see the header).
    const bool not_found = verdict.outcome == Outcome::kClientError && status == 404;
    const bool confirms = verdict.outcome == Outcome::kSuccess ||
                          verdict.outcome == Outcome::kDayExhausted ||
                          verdict.outcome == Outcome::kCooling;
    ModelPool* m = FindLocked(model);
    const bool fresh = m == nullptr;  // picked before the model was tracked: not reserved
    if (m == nullptr && !not_found) m = TrackLocked(model, confirms, now);
    if (m != nullptr && confirms && !m->confirmed) {
      m->confirmed = true;
      --probation_;
    }
    Counters d;
    if (status != 0 && status != 429) d.requests = 1;
    if (status == 429) d.rate_limited = 1;
    if (verdict.outcome != Outcome::kSuccess && verdict.outcome != Outcome::kClientError) {
      d.errors = 1;
    }
    d.prompt = tokens.prompt;
    d.candidates = tokens.candidates;
    d.thoughts = tokens.thoughts;
    const int32_t day = DayLocked(now);
    if (m != nullptr) {
      m->last_used = ++use_clock_;
      Count(*m, slot, day, d);
    } else if (!not_found && StorableName(model)) {
      QueueUsage(slots_[slot], model, day, d);  // no room to track it: the store still counts
    }

    size_t queued = pending_states_.size() + pending_statuses_.size() +
                    pending_project_states_.size() + pending_limits_.size();
    const uint32_t p = slots_[slot].project;
    if (m != nullptr) {
      ProjectModel& pm = m->projects[p];
      Roll(pm, now);
      if (status == 429 || status == 0) {
        // Google did not count it (a refusal, or no answer): give the reservation back.
        if (!fresh) {
          if (pm.minute_requests > 0) AddOwnMinute(*m, p, -1, 0);
          pm.day_requests -= pm.day_requests > 0;
        }
      } else if (fresh) {
        AddOwnMinute(*m, p, 1, 0);  // Google counted it: so do the windows, late
        ++pm.day_requests;
      }
      if (tokens.prompt != 0) AddOwnMinute(*m, p, 0, tokens.prompt);
      if (!verdict.quotas.empty()) Learn(*m, p, verdict.quotas, now);
    }
    // A key of its own project keeps its verdicts itself, as before projects existed.
    const bool project_wide = m != nullptr && verdict.per_project && projects_[p].named;
    switch (verdict.outcome) {
      case Outcome::kSuccess:
      case Outcome::kClientError:
        if (m != nullptr) m->keys[slot].transient_streak = 0;
        break;
      case Outcome::kDayExhausted:
        if (project_wide) {
          SetProjectUnusable(*m, p, State::kExhausted, clock_.NextReset(now), verdict.reason,
                             false);
        } else if (m != nullptr) {
          SetUnusable(*m, slot, State::kExhausted, clock_.NextReset(now), verdict.reason);
        }
        break;
      case Outcome::kCooling:
        if (m != nullptr && verdict.retry_delay > Millis(0) &&
            verdict.retry_delay < std::chrono::minutes(1)) {
          // Google's minute window for the project ends when its RetryInfo says: later
          // windows start there (the pacing phase).
          ProjectModel& pm = m->projects[p];
          // To the second: RetryInfo is truncated to the millisecond, and a window that
          // started a millisecond early would let one request too many through.
          const int64_t end_s = (ToUnixMs(now + verdict.retry_delay) + 500) / 1000;
          pm.phase_ms = (end_s * 1000 % kMinuteMs + kMinuteMs) % kMinuteMs;
          pm.minute = Clamp32(MinuteIndex(now, pm.phase_ms));
          const QuotaLimits l = LimitsOf(*m, pm);
          if (l.rpm > pm.minute_requests) pm.minute_requests = Clamp32(l.rpm);
        }
        if (project_wide) {
          SetProjectUnusable(*m, p, State::kCooling, CoolingUntil(now, verdict.retry_delay),
                             verdict.reason, false);
        } else if (m != nullptr) {
          SetUnusable(*m, slot, State::kCooling, CoolingUntil(now, verdict.retry_delay),
                      verdict.reason);
        }
        break;
      case Outcome::kTransient: {
        if (m == nullptr) break;
        KeyModel& km = m->keys[slot];
        uint32_t shift = std::min<uint32_t>(km.transient_streak, 20);
        Millis wait = std::min<Millis>(options_.transient_cap,
                                       options_.transient_base * (int64_t{1} << shift));
        ++km.transient_streak;
        SetUnusable(*m, slot, State::kCooling, now + wait, verdict.reason);
        break;
      }
      case Outcome::kInvalid: {
        Slot& s = slots_[slot];
        if (!s.invalid) {
          SetFlags(slot, s.removed, true, now);
          s.reason = verdict.reason;
          QueueStatus(slot);
        }
        break;
      }
    }
    changed = pending_states_.size() + pending_statuses_.size() + pending_project_states_.size() +
                  pending_limits_.size() !=
              queued;
    if (changed) notify = on_state_change_;
  }
  if (notify) notify();
  return changed;
}

void KeyPool::Restore(const Loaded& loaded, TimePoint now) {
  std::lock_guard lock(mu_);
  int32_t today = DayLocked(now);
  for (const auto& [model, pos] : loaded.cursors) restored_cursors_[model] = pos;
  // Learned limits first: models tracked below take theirs when they are set up.
  for (const auto& l : loaded.limits) {
    if (!StorableName(l.model) || l.value < 0) continue;
    QuotaLimits& q = learned_[l.model][l.project];
    const bool tokens = l.metric == "input_tokens";
    if (l.window == "minute") {
      (tokens ? q.tpm : q.rpm) = l.value;
    } else if (l.window == "day" && !tokens) {
      q.rpd = l.value;
    }
  }
  for (auto& [model, m] : models_) {
    if (auto l = learned_.find(model); l != learned_.end()) {
      for (const auto& [project, limits] : l->second) {
        if (auto p = project_by_name_.find(project); p != project_by_name_.end()) {
          m->projects[p->second].learned = limits;
        }
      }
    }
  }
  // Statuses first, so that the rings built below leave invalid keys out.
  for (const auto& st : loaded.statuses) {
    auto it = slot_by_id_.find(st.key_id);
    if (it == slot_by_id_.end() || st.status != "invalid") continue;
    SetFlags(it->second, slots_[it->second].removed, true, now);
    slots_[it->second].reason = st.reason;
  }
  // States before usage: a model with a cooling or exhausted key is confirmed and gets a
  // place first. Names that are not model names (rows of older versions) are skipped.
  for (const auto& st : loaded.states) {
    auto it = slot_by_id_.find(st.key_id);
    if (it == slot_by_id_.end() || st.state == "ok") continue;
    TimePoint until = FromUnixMs(st.until_ms);
    if (until <= now) continue;
    ModelPool* m = ConfirmedLocked(st.model, now);
    if (m == nullptr) continue;
    SetUnusable(*m, it->second, st.state == "exhausted" ? State::kExhausted : State::kCooling,
                until, st.reason);
  }
  for (const auto& st : loaded.project_states) {
    auto it = project_by_name_.find(st.project);
    if (it == project_by_name_.end() || st.state == "ok") continue;
    TimePoint until = FromUnixMs(st.until_ms);
    if (until <= now) continue;
    ModelPool* m = ConfirmedLocked(st.model, now);
    if (m == nullptr) continue;
    SetProjectUnusable(*m, it->second,
                       st.state == "exhausted" ? State::kExhausted : State::kCooling, until,
                       st.reason, false);
  }
  // Today's usage is shown again; its models stay on probation (the place limit for
  // those does not apply here) until Google confirms them.
  for (const auto& u : loaded.usage) {
    auto it = slot_by_id_.find(u.key_id);
    if (it == slot_by_id_.end()) continue;
    ModelPool* m = FindLocked(u.model);
    if (m == nullptr) m = TrackLocked(u.model, false, now, /*probation_cap=*/false);
    if (m == nullptr) continue;
    KeyModel& km = m->keys[it->second];
    if (km.day != today) {
      km.day = today;
      km.today = Counters{};
    }
    km.today.Add(Counters{u.requests, u.rate_limited, u.errors, u.prompt_tokens, u.candidate_tokens,
                          u.thought_tokens});
    if (m->day != today) {
      m->day = today;
      m->requests_today = 0;
    }
    if (!slots_[it->second].removed) m->requests_today += u.requests;
    // What the project sent today counts against its per-day budget.
    ProjectModel& pm = m->projects[slots_[it->second].project];
    Roll(pm, now);
    pm.day_requests += u.requests;
  }
  pending_states_.clear();  // what was loaded is already stored
  pending_project_states_.clear();
}

std::pair<size_t, size_t> KeyPool::Reload(std::vector<ApiKey> keys, bool revive_invalid,
                                          TimePoint now, std::vector<std::string> projects) {
  std::function<void()> notify;
  std::pair<size_t, size_t> changes{0, 0};
  {
    std::lock_guard lock(mu_);
    std::unordered_map<std::string, size_t> wanted;
    for (size_t i = 0; i < keys.size(); ++i) wanted.emplace(keys[i].id(), i);
    auto project_of = [&](size_t i) { return i < projects.size() ? projects[i] : std::string(); };
    for (uint32_t s = 0; s < slots_.size(); ++s) {
      Slot& slot = slots_[s];
      auto w = wanted.find(slot.key->id());
      bool keep = w != wanted.end();
      if (keep) {
        uint32_t p = ProjectIndexLocked(project_of(w->second), slot.key->id());
        if (p != slot.project) MoveSlot(s, p, now);
      }
      if (!keep && !slot.removed) {
        SetFlags(s, true, slot.invalid, now);
        ++changes.second;
      } else if (keep && slot.removed) {
        SetFlags(s, false, slot.invalid, now);
        ++changes.first;
      }
      if (keep && slot.invalid && revive_invalid) {
        SetFlags(s, slot.removed, false, now);
        slot.reason.clear();
        QueueStatus(s);
      }
    }
    for (size_t i = 0; i < keys.size(); ++i) {
      ApiKey& k = keys[i];
      if (slot_by_id_.count(k.id())) continue;
      // A new slot starts removed, so that SetFlags adds it to the rings and counts.
      auto s = static_cast<uint32_t>(slots_.size());
      slot_by_id_.emplace(k.id(), s);
      uint32_t p = ProjectIndexLocked(project_of(i), k.id());
      slots_.push_back(
          Slot{std::make_shared<const ApiKey>(std::move(k)), p, true, false, {}, kNotInRing, 0});
      for (auto& [name, m] : models_) {
        m->position.push_back(kNotInRing);
        m->keys.emplace_back();
        m->last_request.push_back(0);
      }
      SetFlags(s, false, false, now);
      ++changes.first;
    }
    if (!pending_statuses_.empty()) notify = on_state_change_;
  }
  if (notify) notify();
  return changes;
}

bool KeyPool::ResetKey(std::string_view key_id, TimePoint now) {
  std::function<void()> notify;
  {
    std::lock_guard lock(mu_);
    auto it = slot_by_id_.find(key_id);
    if (it == slot_by_id_.end() || slots_[it->second].removed) return false;
    uint32_t s = it->second;
    SetFlags(s, slots_[s].removed, false, now);
    slots_[s].reason.clear();
    QueueStatus(s);
    const uint32_t p = slots_[s].project;
    for (auto& [name, m] : models_) {
      ClearState(*m, s);
      m->keys[s].transient_streak = 0;
      RingInsert(*m, s);
      ProjectModel& pm = m->projects[p];
      if (pm.state != State::kOk && !pm.paced) ClearProject(*m, p);
      pm.learned = QuotaLimits{};
    }
    for (auto& [model, by_project] : learned_) {
      auto l = by_project.find(projects_[p].name);
      if (l == by_project.end()) continue;
      for (const char* window : {"minute", "day"}) {
        for (const char* metric : {"requests", "input_tokens"}) {
          pending_limits_.push_back(
              LearnedLimit{projects_[p].name, model, window, metric, -1, ToUnixMs(now)});
        }
      }
      by_project.erase(l);
    }
    notify = on_state_change_;
  }
  if (notify) notify();
  return true;
}

Batch KeyPool::TakeBatch(TimePoint now) {
  Batch b;
  std::lock_guard lock(mu_);
  b.usage = std::move(pending_usage_);
  pending_usage_.clear();
  b.usage.reserve(b.usage.size() + dirty_.size());
  for (auto [m, slot] : dirty_) {
    KeyModel& km = m->keys[slot];
    km.dirty = false;
    m->dirty = 0;
    if (km.unflushed.zero()) continue;
    const Counters& u = km.unflushed;
    b.usage.push_back(UsageDelta{slots_[slot].key->id(), m->name,
                                 QuotaClock::DayName(km.unflushed_day), u.requests, u.rate_limited,
                                 u.errors, u.prompt, u.candidates, u.thoughts});
    km.unflushed = Counters{};
  }
  dirty_.clear();
  b.states = std::move(pending_states_);
  pending_states_.clear();
  b.statuses = std::move(pending_statuses_);
  pending_statuses_.clear();
  b.cursors = std::move(pending_cursors_);
  pending_cursors_.clear();
  b.project_states = std::move(pending_project_states_);
  pending_project_states_.clear();
  b.limits = std::move(pending_limits_);
  pending_limits_.clear();
  for (auto& [name, m] : models_) {
    if (!m->cursor_dirty) continue;
    m->cursor_dirty = false;
    b.cursors.emplace_back(name, static_cast<int64_t>(m->cursor));
  }
  // Idle models (no cooling or exhausted key, no use this quota day) are dropped: nothing
  // of them is lost, and a model used again is tracked again on Google's answer.
  const int32_t today = DayLocked(now);
  for (auto it = models_.begin(); it != models_.end();) {
    auto next = std::next(it);
    if (Idle(*it->second, today, now)) DropLocked(it);
    it = next;
  }
  return b;
}

PoolView KeyPool::View(TimePoint now) const {
  std::lock_guard lock(mu_);
  PoolView v;
  v.day = clock_.DayOf(now);
  v.next_reset = clock_.NextReset(now);
  int32_t today = DayLocked(now);
  std::vector<const ModelPool*> models;
  for (const auto& [name, m] : models_) models.push_back(m.get());
  std::sort(models.begin(), models.end(),
            [](const ModelPool* a, const ModelPool* b) { return a->name < b->name; });
  for (uint32_t s = 0; s < slots_.size(); ++s) {
    const Slot& slot = slots_[s];
    if (slot.removed) continue;
    KeyView kv;
    kv.id = slot.key->id();
    kv.masked = slot.key->masked();
    if (projects_[slot.project].named) kv.project = projects_[slot.project].name;
    kv.status = slot.invalid ? "invalid" : "active";
    kv.reason = slot.reason;
    for (const ModelPool* m : models) {
      const KeyModel& km = m->keys[s];
      const ProjectModel& pm = m->projects[slot.project];
      int64_t requests = km.day == today ? km.today.requests : 0;
      bool key_live = km.state != State::kOk && km.until > now;
      bool project_live = pm.state != State::kOk && pm.until > now;
      if (requests == 0 && !key_live && !project_live && km.day != today) continue;
      KeyModelView mv;
      mv.model = m->name;
      mv.requests = requests;
      mv.state = "ok";
      // The key's own state, else its project's (a project's state holds all its keys).
      if (key_live && (!project_live || km.until >= pm.until)) {
        mv.state = std::string(StateName(static_cast<int>(km.state)));
        mv.until = km.until;
        mv.reason = km.reason;
      } else if (project_live) {
        mv.state = std::string(StateName(static_cast<int>(pm.state)));
        mv.until = pm.until;
        mv.reason = pm.reason + (projects_[slot.project].named ? " (project)" : "");
      }
      kv.requests_today += requests;
      kv.models.push_back(std::move(mv));
    }
    v.keys.push_back(std::move(kv));
  }
  return v;
}

PoolGauges KeyPool::Gauges(TimePoint now) {
  std::lock_guard lock(mu_);
  PoolGauges g;
  const int32_t today = DayLocked(now);
  g.keys_active = static_cast<int64_t>(usable_count_);
  g.keys_invalid = static_cast<int64_t>(present_count_ - usable_count_);
  g.requests_today_by_model.reserve(models_.size());
  for (auto& [name, m] : models_) {
    RejoinDue(*m, now);  // so that the counts below hold only deadlines still to come
    g.requests_today_by_model.emplace_back(name, m->day == today ? m->requests_today : 0);
  }
  for (auto& [name, m] : models_) {
    g.project_models_cooling += m->projects_out[1][0];
    g.project_models_exhausted += m->projects_out[2][0];
    g.project_models_paced += m->projects_out[1][1] + m->projects_out[2][1];
  }
  g.key_models_cooling = cooling_;
  g.key_models_exhausted = exhausted_;
  g.models_tracked = static_cast<int64_t>(models_.size());
  std::sort(g.requests_today_by_model.begin(), g.requests_today_by_model.end());
  return g;
}

std::shared_ptr<const ApiKey> KeyPool::KeyById(std::string_view key_id) const {
  std::lock_guard lock(mu_);
  auto it = slot_by_id_.find(key_id);
  if (it == slot_by_id_.end() || slots_[it->second].removed) return nullptr;
  return slots_[it->second].key;
}

std::vector<std::shared_ptr<const ApiKey>> KeyPool::InvalidKeys() const {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<const ApiKey>> out;
  if (present_count_ == usable_count_) return out;
  out.reserve(present_count_ - usable_count_);
  for (const Slot& s : slots_) {
    if (!s.removed && s.invalid) out.push_back(s.key);
  }
  return out;
}

bool KeyPool::SetStatus(std::string_view key_id, bool invalid, std::string_view reason,
                        TimePoint now) {
  std::function<void()> notify;
  {
    std::lock_guard lock(mu_);
    auto it = slot_by_id_.find(key_id);
    if (it == slot_by_id_.end() || slots_[it->second].removed) return false;
    const uint32_t s = it->second;
    Slot& slot = slots_[s];
    std::string why = invalid ? std::string(reason) : std::string();
    if (slot.invalid == invalid && slot.reason == why) return true;
    SetFlags(s, slot.removed, invalid, now);
    slot.reason = std::move(why);
    QueueStatus(s);
    notify = on_state_change_;
  }
  if (notify) notify();
  return true;
}

}  // namespace gkm

namespace gkm {

CapacityView KeyPool::Capacity(TimePoint now) {
  std::lock_guard lock(mu_);
  CapacityView v;
  v.day = clock_.DayOf(now);
  v.day_start = clock_.DayStart(now);
  v.next_reset = clock_.NextReset(now);
  std::vector<ModelPool*> models;
  for (auto& [name, m] : models_) models.push_back(m.get());
  std::sort(models.begin(), models.end(),
            [](const ModelPool* a, const ModelPool* b) { return a->name < b->name; });
  // Keys not invalid per project: once for all models.
  std::vector<size_t> usable(projects_.size(), 0);
  for (const Slot& slot : slots_) usable[slot.project] += Usable(slot);
  for (ModelPool* m : models) {
    RejoinDue(*m, now);
    ModelCapacity mc;
    mc.model = m->name;
    // The learned limits whole (ProjectModel keeps them in 32 bits).
    auto known = learned_.find(m->name);
    for (uint32_t p = 0; p < projects_.size(); ++p) {
      if (projects_[p].keys == 0) continue;
      ProjectModel& pm = m->projects[p];
      Roll(pm, now);
      ProjectCapacity pc;
      if (projects_[p].named) {
        pc.project = projects_[p].name;
      } else {
        pc.key_id = projects_[p].name.substr(1);
      }
      pc.keys = usable[p];
      pc.learned = QuotaLimits{};
      if (known != learned_.end()) {
        if (auto l = known->second.find(projects_[p].name); l != known->second.end()) {
          pc.learned = l->second;
        }
      }
      pc.limits = pc.learned.Over(m->flag_limits);
      pc.used_today = pm.day_requests;
      pc.minute_used = pm.minute_requests;
      pc.state = std::string(StateName(static_cast<int>(pm.state)));
      if (pm.state != State::kOk) {
        pc.until = pm.until;
        pc.reason = pm.reason;
      }
      mc.used_today += pm.day_requests;
      if (pc.limits.rpd >= 0) {
        mc.limit_today = std::max<int64_t>(mc.limit_today, 0) + pc.limits.rpd;
        mc.left_today = std::max<int64_t>(mc.left_today, 0) +
                        (pc.keys > 0 && pm.state != State::kExhausted
                             ? std::max<int64_t>(0, pc.limits.rpd - pm.day_requests)
                             : 0);
      } else {
        ++mc.projects_unknown;
      }
      mc.projects.push_back(std::move(pc));
    }
    v.models.push_back(std::move(mc));
  }
  return v;
}

}  // namespace gkm

namespace gkm {

// Shared state (SPEC 6): changes of other instances, applied with the helpers a local
// verdict uses; what those helpers queue for the store is taken back out (the instance that
// made the change has stored and announced it).
void KeyPool::ApplyShared(const Loaded& c, TimePoint now) {
  std::lock_guard lock(mu_);
  const size_t states = pending_states_.size(), statuses = pending_statuses_.size(),
               project_states = pending_project_states_.size(), limits = pending_limits_.size();
  for (const LearnedLimit& l : c.limits) {
    if (!StorableName(l.model)) continue;
    QuotaLimits& q = learned_[l.model][l.project];
    const bool tokens = l.metric == "input_tokens";
    const int64_t v = l.value < 0 ? -1 : l.value;
    if (l.window == "minute") {
      (tokens ? q.tpm : q.rpm) = v;
    } else if (l.window == "day" && !tokens) {
      q.rpd = v;
    }
    auto p = project_by_name_.find(l.project);
    if (ModelPool* m = FindLocked(l.model); m != nullptr && p != project_by_name_.end()) {
      m->projects[p->second].learned = q;
    }
    if (!q.any()) {
      auto by_model = learned_.find(l.model);
      by_model->second.erase(l.project);
      if (by_model->second.empty()) learned_.erase(by_model);
    }
  }
  for (const KeyStatusRow& st : c.statuses) {
    auto it = slot_by_id_.find(st.key_id);
    if (it == slot_by_id_.end()) continue;
    Slot& slot = slots_[it->second];
    const bool invalid = st.status == "invalid";
    if (slot.invalid != invalid) SetFlags(it->second, slot.removed, invalid, now);
    slot.reason = invalid ? st.reason : std::string();
  }
  auto model_for = [&](const std::string& name) { return ConfirmedLocked(name, now); };
  for (const KeyModelState& st : c.states) {
    auto it = slot_by_id_.find(st.key_id);
    if (it == slot_by_id_.end()) continue;
    const uint32_t s = it->second;
    if (st.state == "ok") {
      ModelPool* m = FindLocked(st.model);
      if (m == nullptr || m->keys[s].state == State::kOk) continue;
      ClearState(*m, s);
      if (Usable(slots_[s])) RingInsert(*m, s);
      continue;
    }
    const TimePoint until = FromUnixMs(st.until_ms);
    if (until <= now) continue;
    if (ModelPool* m = model_for(st.model)) {
      SetUnusable(*m, s, st.state == "exhausted" ? State::kExhausted : State::kCooling, until,
                  st.reason);
    }
  }
  for (const ProjectModelState& st : c.project_states) {
    auto it = project_by_name_.find(st.project);
    if (it == project_by_name_.end()) continue;
    if (st.state == "ok") {
      ModelPool* m = FindLocked(st.model);
      if (m != nullptr && !m->projects[it->second].paced) ClearProject(*m, it->second);
      continue;
    }
    const TimePoint until = FromUnixMs(st.until_ms);
    if (until <= now) continue;
    if (ModelPool* m = model_for(st.model)) {
      SetProjectUnusable(*m, it->second,
                         st.state == "exhausted" ? State::kExhausted : State::kCooling, until,
                         st.reason, false);
    }
  }
  pending_states_.resize(states);
  pending_statuses_.resize(statuses);
  pending_project_states_.resize(project_states);
  pending_limits_.resize(limits);
}

void KeyPool::SetSharedCounts(const std::vector<UsageDelta>& others, TimePoint now) {
  std::lock_guard lock(mu_);
  const int32_t today = DayLocked(now);
  const std::string today_name = QuotaClock::DayName(today);
  for (const UsageDelta& u : others) {
    if (u.day != today_name) continue;
    auto it = slot_by_id_.find(u.key_id);
    if (it == slot_by_id_.end()) continue;
    const uint32_t s = it->second;
    SharedCount& sc = shared_counts_[u.key_id + '\0' + u.model];
    ModelPool* m = FindLocked(u.model);
    if (m == nullptr && u.requests == 0) continue;
    if (m == nullptr) m = TrackLocked(u.model, false, now, /*probation_cap=*/false);
    if (m == nullptr) continue;
    KeyModel& km = m->keys[s];
    if (km.day != today) {
      km.day = today;
      km.today = Counters{};
    }
    const int64_t before = sc.model == m && sc.day == today ? sc.requests : 0;
    const int64_t delta = u.requests - before;
    sc = SharedCount{m, today, u.requests};
    if (delta == 0) continue;
    km.today.requests += delta;
    if (m->day != today) {
      m->day = today;
      m->requests_today = 0;
    }
    if (!slots_[s].removed) m->requests_today += delta;
    ProjectModel& pm = m->projects[slots_[s].project];
    Roll(pm, now);
    pm.day_requests = std::max<int64_t>(0, pm.day_requests + delta);
  }
}

}  // namespace gkm

namespace gkm {

void KeyPool::AddOwnMinute(ModelPool& m, uint32_t p, int64_t requests, int64_t tokens) {
  ProjectModel& pm = m.projects[p];
  pm.minute_requests = Clamp32(pm.minute_requests + requests);
  pm.minute_tokens += tokens;
  if (!on_minute_) return;  // not shared
  const QuotaLimits l = LimitsOf(m, pm);
  if (l.rpm < 0 && l.tpm < 0) return;  // not paced by the minute: nothing to share
  if (pm.unsent_minute != pm.minute && (pm.unsent_requests != 0 || pm.unsent_tokens != 0)) {
    minute_done_.push_back(
        {projects_[p].name, m.name, pm.unsent_minute, pm.unsent_requests, pm.unsent_tokens});
    pm.unsent_requests = pm.unsent_tokens = 0;
  }
  pm.unsent_minute = pm.minute;
  pm.unsent_requests += requests;
  pm.unsent_tokens += tokens;
  if (!pm.minute_dirty) {
    pm.minute_dirty = true;
    minute_dirty_.emplace_back(m.name, p);
    on_minute_();
  }
}

std::vector<MinuteCount> KeyPool::TakeMinuteCounts() {
  std::lock_guard lock(mu_);
  std::vector<MinuteCount> out = std::exchange(minute_done_, {});
  for (const auto& [name, p] : minute_dirty_) {
    ModelPool* m = FindLocked(name);
    if (m == nullptr || p >= m->projects.size()) continue;  // dropped meanwhile
    ProjectModel& pm = m->projects[p];
    if (!pm.minute_dirty) continue;
    pm.minute_dirty = false;
    if (pm.unsent_requests != 0 || pm.unsent_tokens != 0) {
      out.push_back(
          {projects_[p].name, name, pm.unsent_minute, pm.unsent_requests, pm.unsent_tokens});
      pm.unsent_requests = pm.unsent_tokens = 0;
    }
  }
  minute_dirty_.clear();
  return out;
}

void KeyPool::SetSharedMinuteCounts(const std::vector<MinuteCount>& others, TimePoint now) {
  std::lock_guard lock(mu_);
  for (const MinuteCount& c : others) {
    ModelPool* m = FindLocked(c.model);
    auto it = project_by_name_.find(c.project);
    if (m == nullptr || it == project_by_name_.end() || it->second >= m->projects.size()) continue;
    ProjectModel& pm = m->projects[it->second];
    Roll(pm, now);
    if (c.minute != pm.minute) continue;
    const bool same = pm.others_minute == pm.minute;
    pm.minute_requests = Clamp32(
        std::max<int64_t>(0, pm.minute_requests + c.requests - (same ? pm.others_requests : 0)));
    pm.minute_tokens =
        std::max<int64_t>(0, pm.minute_tokens + c.tokens - (same ? pm.others_tokens : 0));
    pm.others_minute = pm.minute;
    pm.others_requests = c.requests;
    pm.others_tokens = c.tokens;
    // Out of the rotation now if the others used the budget up; back in if their figure
    // went down (requests given back) and this window's pacing was all that held it out.
    if (pm.paced && pm.state == State::kCooling) ClearProject(*m, it->second);
    if (pm.state == State::kOk) HasBudget(*m, it->second, now);
  }
}

}  // namespace gkm
