#include "keypool/key_pool.h"

#include <algorithm>
#include <cassert>

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

}  // namespace

KeyPool::KeyPool(std::vector<ApiKey> keys, QuotaClock clock, PoolOptions options)
    : clock_(clock), options_(options) {
  slots_.reserve(keys.size());
  for (auto& k : keys) {
    auto key = std::make_shared<const ApiKey>(std::move(k));
    if (slot_by_id_.count(key->id())) continue;  // duplicates are the loader's to report
    slot_by_id_.emplace(key->id(), static_cast<uint32_t>(slots_.size()));
    slots_.push_back(Slot{std::move(key), false, false, {}});
  }
  present_count_ = usable_count_ = slots_.size();
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

void KeyPool::SetFlags(Slot& slot, bool removed, bool invalid) {
  present_count_ -= !slot.removed;
  usable_count_ -= Usable(slot);
  slot.removed = removed;
  slot.invalid = invalid;
  present_count_ += !slot.removed;
  usable_count_ += Usable(slot);
}

uint64_t KeyPool::NewRequest() { return next_request_.fetch_add(1, std::memory_order_relaxed); }

KeyPool::ModelPool& KeyPool::ModelLocked(std::string_view model) {
  auto it = models_.find(model);
  if (it != models_.end()) return *it->second;
  auto m = std::make_unique<ModelPool>();
  m->name = std::string(model);
  m->position.assign(slots_.size(), kNotInRing);
  m->keys.resize(slots_.size());
  m->ring.reserve(slots_.size());
  for (uint32_t s = 0; s < slots_.size(); ++s) {
    if (Usable(slots_[s])) RingInsert(*m, s);
  }
  if (auto c = restored_cursors_.find(m->name); c != restored_cursors_.end()) {
    m->cursor = static_cast<uint64_t>(c->second);
  }
  return *models_.emplace(m->name, std::move(m)).first->second;
}

void KeyPool::RingInsert(ModelPool& m, uint32_t slot) {
  if (m.position[slot] != kNotInRing) return;
  m.position[slot] = static_cast<int32_t>(m.ring.size());
  m.ring.push_back(slot);
}

void KeyPool::RingErase(ModelPool& m, uint32_t slot) {
  int32_t pos = m.position[slot];
  if (pos == kNotInRing) return;
  uint32_t last = m.ring.back();
  m.ring[pos] = last;
  m.position[last] = pos;
  m.ring.pop_back();
  m.position[slot] = kNotInRing;
}

void KeyPool::RejoinDue(ModelPool& m, TimePoint now) {
  while (!m.heap.empty() && m.heap.front().until <= now) {
    std::pop_heap(m.heap.begin(), m.heap.end(), std::greater<>());
    HeapEntry e = m.heap.back();
    m.heap.pop_back();
    ++last_pick_steps_;
    KeyModel& km = m.keys[e.slot];
    if (e.generation != km.heap_generation || km.state == State::kOk) continue;  // stale
    km.state = State::kOk;
    km.reason.clear();
    QueueState(m, e.slot);
    if (Usable(slots_[e.slot])) RingInsert(m, e.slot);
  }
}

void KeyPool::SetUnusable(ModelPool& m, uint32_t slot, State state, TimePoint until,
                          std::string reason) {
  KeyModel& km = m.keys[slot];
  if (km.state != State::kOk && km.until >= until) return;  // re-cooling keeps the later deadline
  km.state = state;
  km.until = until;
  km.reason = std::move(reason);
  ++km.heap_generation;
  m.heap.push_back(HeapEntry{until, slot, km.heap_generation});
  std::push_heap(m.heap.begin(), m.heap.end(), std::greater<>());
  RingErase(m, slot);
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

PickResult KeyPool::Pick(std::string_view model, uint64_t request, TimePoint now) {
  std::lock_guard lock(mu_);
  last_pick_steps_ = 0;
  ModelPool& m = ModelLocked(model);
  RejoinDue(m, now);
  bool tried_some = false;
  for (size_t n = m.ring.size(); n > 0; --n) {
    ++last_pick_steps_;
    uint32_t slot = m.ring[m.cursor++ % m.ring.size()];
    m.cursor_dirty = true;
    KeyModel& km = m.keys[slot];
    if (km.last_request == request) {
      tried_some = true;
      continue;
    }
    km.last_request = request;
    return PickedKey{slot, slots_[slot].key};
  }
  return NothingUsable(m, now, tried_some);
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
  ModelPool& m = ModelLocked(model);
  RejoinDue(m, now);
  if (!m.ring.empty()) return std::nullopt;
  return NothingUsable(m, now, false);
}

PickResult KeyPool::PickById(std::string_view key_id, std::string_view model, uint64_t request,
                             TimePoint now) {
  std::lock_guard lock(mu_);
  auto it = slot_by_id_.find(key_id);
  if (it == slot_by_id_.end() || slots_[it->second].removed) {
    return NoKey{NoKey::Why::kAffinityUnusable, Millis(0),
                 "the key that created this resource is no longer in the key pool"};
  }
  uint32_t slot = it->second;
  const Slot& s = slots_[slot];
  if (s.invalid) {
    return NoKey{NoKey::Why::kAffinityUnusable, Millis(0),
                 "the key that created this resource is invalid (" + s.reason + ")"};
  }
  ModelPool& m = ModelLocked(model);
  RejoinDue(m, now);
  KeyModel& km = m.keys[slot];
  if (km.state != State::kOk) {
    return NoKey{NoKey::Why::kAffinityUnusable, Until(now, km.until),
                 "the key that created this resource is " +
                     std::string(StateName(static_cast<int>(km.state))) + " for model " + m.name +
                     " (" + km.reason + ")"};
  }
  if (km.last_request == request) {
    return NoKey{NoKey::Why::kTried, Millis(0),
                 "the key that created this resource failed for this request"};
  }
  km.last_request = request;
  return PickedKey{slot, s.key};
}

NoKey KeyPool::NothingUsable(const ModelPool& m, TimePoint now, bool tried_some) const {
  if (present_count_ == 0) {
    return NoKey{NoKey::Why::kNoKeys, Millis(0), "the key pool is empty"};
  }
  if (usable_count_ == 0) {
    return NoKey{NoKey::Why::kInvalid, Millis(0), "all keys are invalid"};
  }
  if (tried_some) {
    // Keys remain usable but this request has tried them all.
    return NoKey{NoKey::Why::kTried, Millis(1000),
                 "every usable key was tried for this request and failed"};
  }
  // The heap top is the earliest deadline; skip stale entries without popping (const).
  TimePoint earliest = TimePoint::max();
  bool any_cooling = false;
  size_t exhausted = 0;
  for (const HeapEntry& e : m.heap) {
    const KeyModel& km = m.keys[e.slot];
    if (e.generation != km.heap_generation || km.state == State::kOk) continue;
    if (!Usable(slots_[e.slot])) continue;
    earliest = std::min(earliest, e.until);
    if (km.state == State::kCooling)
      any_cooling = true;
    else
      ++exhausted;
  }
  Millis wait = earliest == TimePoint::max() ? Millis(0) : Until(now, earliest);
  if (wait < Millis(1000)) wait = Millis(1000);
  std::string model = m.name == "-" ? "any model" : "model " + m.name;
  if (!any_cooling) {
    return NoKey{NoKey::Why::kExhausted, wait,
                 "all " + std::to_string(exhausted) + " usable keys are exhausted for today for " +
                     model + "; the quota resets at the next reset instant"};
  }
  return NoKey{NoKey::Why::kCooling, wait,
               "all usable keys are cooling down or exhausted for " + model};
}

void KeyPool::Count(ModelPool& m, uint32_t slot, int32_t day, const Counters& d) {
  KeyModel& km = m.keys[slot];
  if (km.day != day) {
    km.day = day;
    km.today = Counters{};
  }
  km.today.Add(d);
  if (km.unflushed_day != day && !km.unflushed.zero()) {
    // The quota day turned before the flusher took these: keep them under their own day.
    const Counters& u = km.unflushed;
    pending_usage_.push_back(
        UsageDelta{slots_[slot].key->id(), m.name, QuotaClock::DayName(km.unflushed_day),
                   u.requests, u.rate_limited, u.errors, u.prompt, u.candidates, u.thoughts});
    km.unflushed = Counters{};
  }
  km.unflushed_day = day;
  km.unflushed.Add(d);
  if (!km.dirty) {
    km.dirty = true;
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
    ModelPool& m = ModelLocked(model);
    KeyModel& km = m.keys[slot];
    Counters d;
    if (status != 0 && status != 429) d.requests = 1;
    if (status == 429) d.rate_limited = 1;
    if (verdict.outcome != Outcome::kSuccess && verdict.outcome != Outcome::kClientError) {
      d.errors = 1;
    }
    d.prompt = tokens.prompt;
    d.candidates = tokens.candidates;
    d.thoughts = tokens.thoughts;
    Count(m, slot, DayLocked(now), d);

    size_t queued = pending_states_.size() + pending_statuses_.size();
    switch (verdict.outcome) {
      case Outcome::kSuccess:
      case Outcome::kClientError:
        km.transient_streak = 0;
        break;
      case Outcome::kDayExhausted:
        SetUnusable(m, slot, State::kExhausted, clock_.NextReset(now), verdict.reason);
        break;
      case Outcome::kCooling:
        SetUnusable(m, slot, State::kCooling, CoolingUntil(now, verdict.retry_delay),
                    verdict.reason);
        break;
      case Outcome::kTransient: {
        uint32_t shift = std::min<uint32_t>(km.transient_streak, 20);
        Millis wait = std::min<Millis>(options_.transient_cap,
                                       options_.transient_base * (int64_t{1} << shift));
        ++km.transient_streak;
        SetUnusable(m, slot, State::kCooling, now + wait, verdict.reason);
        break;
      }
      case Outcome::kInvalid: {
        Slot& s = slots_[slot];
        if (!s.invalid) {
          SetFlags(s, s.removed, true);
          s.reason = verdict.reason;
          for (auto& [name, mp] : models_) RingErase(*mp, slot);
          QueueStatus(slot);
        }
        break;
      }
    }
    changed = pending_states_.size() + pending_statuses_.size() != queued;
    if (changed) notify = on_state_change_;
  }
  if (notify) notify();
  return changed;
}

void KeyPool::Restore(const Loaded& loaded, TimePoint now) {
  std::lock_guard lock(mu_);
  int32_t today = DayLocked(now);
  for (const auto& [model, pos] : loaded.cursors) restored_cursors_[model] = pos;
  for (const auto& st : loaded.statuses) {
    auto it = slot_by_id_.find(st.key_id);
    if (it == slot_by_id_.end() || st.status != "invalid") continue;
    SetFlags(slots_[it->second], slots_[it->second].removed, true);
    slots_[it->second].reason = st.reason;
  }
  for (const auto& u : loaded.usage) {
    auto it = slot_by_id_.find(u.key_id);
    if (it == slot_by_id_.end()) continue;
    ModelPool& m = ModelLocked(u.model);
    KeyModel& km = m.keys[it->second];
    if (km.day != today) {
      km.day = today;
      km.today = Counters{};
    }
    km.today.Add(Counters{u.requests, u.rate_limited, u.errors, u.prompt_tokens, u.candidate_tokens,
                          u.thought_tokens});
  }
  for (const auto& st : loaded.states) {
    auto it = slot_by_id_.find(st.key_id);
    if (it == slot_by_id_.end() || st.state == "ok") continue;
    TimePoint until = FromUnixMs(st.until_ms);
    if (until <= now) continue;
    ModelPool& m = ModelLocked(st.model);
    KeyModel& km = m.keys[it->second];
    km.state = st.state == "exhausted" ? State::kExhausted : State::kCooling;
    km.until = until;
    km.reason = st.reason;
    ++km.heap_generation;
    m.heap.push_back(HeapEntry{until, it->second, km.heap_generation});
    std::push_heap(m.heap.begin(), m.heap.end(), std::greater<>());
    RingErase(m, it->second);
  }
  // Invalid keys leave every ring that was built before their status was known.
  for (auto& [name, m] : models_) {
    for (uint32_t s = 0; s < slots_.size(); ++s) {
      if (!Usable(slots_[s])) RingErase(*m, s);
    }
  }
  pending_states_.clear();  // what was loaded is already stored
}

std::pair<size_t, size_t> KeyPool::Reload(std::vector<ApiKey> keys, bool revive_invalid,
                                          TimePoint now) {
  std::function<void()> notify;
  std::pair<size_t, size_t> changes{0, 0};
  {
    std::lock_guard lock(mu_);
    std::unordered_map<std::string, ApiKey*> wanted;
    for (auto& k : keys) wanted.emplace(k.id(), &k);
    for (uint32_t s = 0; s < slots_.size(); ++s) {
      Slot& slot = slots_[s];
      bool keep = wanted.count(slot.key->id()) > 0;
      if (!keep && !slot.removed) {
        SetFlags(slot, true, slot.invalid);
        ++changes.second;
        for (auto& [name, m] : models_) RingErase(*m, s);
      } else if (keep && slot.removed) {
        SetFlags(slot, false, slot.invalid);
        ++changes.first;
      }
      if (keep && slot.invalid && revive_invalid) {
        SetFlags(slot, slot.removed, false);
        slot.reason.clear();
        QueueStatus(s);
      }
    }
    for (auto& k : keys) {
      if (slot_by_id_.count(k.id())) continue;
      uint32_t s = static_cast<uint32_t>(slots_.size());
      slot_by_id_.emplace(k.id(), s);
      slots_.push_back(Slot{std::make_shared<const ApiKey>(std::move(k)), false, false, {}});
      ++present_count_;
      ++usable_count_;
      for (auto& [name, m] : models_) {
        m->position.push_back(kNotInRing);
        m->keys.emplace_back();
      }
      ++changes.first;
    }
    // Kept and revived keys rejoin the rings of the models they are not cooling for.
    for (auto& [name, m] : models_) {
      RejoinDue(*m, now);
      for (uint32_t s = 0; s < slots_.size(); ++s) {
        if (Usable(slots_[s]) && m->keys[s].state == State::kOk) RingInsert(*m, s);
      }
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
    SetFlags(slots_[s], slots_[s].removed, false);
    slots_[s].reason.clear();
    QueueStatus(s);
    for (auto& [name, m] : models_) {
      KeyModel& km = m->keys[s];
      if (km.state != State::kOk) {
        km.state = State::kOk;
        km.reason.clear();
        ++km.heap_generation;
        QueueState(*m, s);
      }
      km.transient_streak = 0;
      RejoinDue(*m, now);
      RingInsert(*m, s);
    }
    notify = on_state_change_;
  }
  if (notify) notify();
  return true;
}

Batch KeyPool::TakeBatch(TimePoint now) {
  (void)now;
  Batch b;
  std::lock_guard lock(mu_);
  b.usage = std::move(pending_usage_);
  pending_usage_.clear();
  b.usage.reserve(b.usage.size() + dirty_.size());
  for (auto [m, slot] : dirty_) {
    KeyModel& km = m->keys[slot];
    km.dirty = false;
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
  for (auto& [name, m] : models_) {
    if (!m->cursor_dirty) continue;
    m->cursor_dirty = false;
    b.cursors.emplace_back(name, static_cast<int64_t>(m->cursor));
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
    kv.status = slot.invalid ? "invalid" : "active";
    kv.reason = slot.reason;
    for (const ModelPool* m : models) {
      const KeyModel& km = m->keys[s];
      int64_t requests = km.day == today ? km.today.requests : 0;
      bool live = km.state != State::kOk && km.until > now;
      if (requests == 0 && !live && km.day != today) continue;
      KeyModelView mv;
      mv.model = m->name;
      mv.requests = requests;
      mv.state = live ? std::string(StateName(static_cast<int>(km.state))) : "ok";
      if (live) {
        mv.until = km.until;
        mv.reason = km.reason;
      }
      kv.requests_today += requests;
      kv.models.push_back(std::move(mv));
    }
    v.keys.push_back(std::move(kv));
  }
  return v;
}

PoolGauges KeyPool::Gauges(TimePoint now) const {
  std::lock_guard lock(mu_);
  PoolGauges g;
  int32_t today = DayLocked(now);
  for (const auto& s : slots_) {
    if (s.removed) continue;
    (s.invalid ? g.keys_invalid : g.keys_active)++;
  }
  for (const auto& [name, m] : models_) {
    int64_t total = 0;
    for (uint32_t s = 0; s < m->keys.size(); ++s) {
      const KeyModel& km = m->keys[s];
      if (slots_[s].removed) continue;
      if (km.day == today) total += km.today.requests;
      if (km.state == State::kOk || km.until <= now) continue;
      (km.state == State::kCooling ? g.key_models_cooling : g.key_models_exhausted)++;
    }
    g.requests_today_by_model.emplace_back(name, total);
  }
  std::sort(g.requests_today_by_model.begin(), g.requests_today_by_model.end());
  return g;
}

}  // namespace gkm
