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

KeyPool::KeyPool(std::vector<ApiKey> keys, QuotaClock clock, PoolOptions options)
    : clock_(clock), options_(options) {
  slots_.reserve(keys.size());
  for (auto& k : keys) {
    auto key = std::make_shared<const ApiKey>(std::move(k));
    if (slot_by_id_.count(key->id())) continue;  // duplicates are the loader's to report
    auto s = static_cast<uint32_t>(slots_.size());
    slot_by_id_.emplace(key->id(), s);
    slots_.push_back(Slot{std::move(key), false, false, {}, static_cast<int32_t>(s), 0});
    shared_ring_.push_back(s);
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

uint64_t KeyPool::NewRequest() { return next_request_.fetch_add(1, std::memory_order_relaxed); }

KeyPool::ModelPool* KeyPool::FindLocked(std::string_view model) {
  auto it = models_.find(model);
  return it == models_.end() ? nullptr : it->second.get();
}

bool KeyPool::Idle(ModelPool& m, int32_t today, TimePoint now) {
  RejoinDue(m, now);
  return m.cooling + m.exhausted == 0 && m.day != today && m.dirty == 0;
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
      if (c.cooling + c.exhausted != 0) continue;
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
  // The ring starts as a copy of the shared one and its cursor where the shared one is,
  // so the rotation goes on across the change instead of restarting at the first key.
  m->ring.reserve(shared_ring_.size());
  for (uint32_t s : shared_ring_) RingInsert(*m, s);
  m->cursor = shared_cursor_;
  // A request that picked a key before the model was tracked does not get it again.
  for (uint32_t s = 0; s < slots_.size(); ++s) m->keys[s].last_request = slots_[s].last_request;
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
  models_.erase(it);
}

void KeyPool::RingInsert(ModelPool& m, uint32_t slot) {
  if (m.position[slot] != kNotInRing) return;
  m.position[slot] = static_cast<int32_t>(m.ring.size());
  m.ring.push_back(slot);
}

void KeyPool::RingErase(ModelPool& m, uint32_t slot) {
  int32_t pos = m.position[slot];
  if (pos == kNotInRing) return;
  const size_t n = m.ring.size();
  const auto at = static_cast<size_t>(pos);
  const bool just_picked = (m.cursor + n - 1) % n == at;
  uint32_t last = m.ring.back();
  m.ring[pos] = last;
  m.position[last] = pos;
  m.ring.pop_back();
  m.position[slot] = kNotInRing;
  if (just_picked && n > 1) {
    // The key just picked leaves (its answer made it unusable): the next pick is the key
    // that followed it, wherever the swap put it, so no key comes twice in a row.
    size_t follower = (at + 1) % n;
    m.cursor = follower == n - 1 ? at : follower;
    m.cursor_dirty = true;
  }
}

void KeyPool::RejoinDue(ModelPool& m, TimePoint now) {
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
      return PickedKey{slot, s.key};
    }
    return NothingUsable(nullptr, now, tried_some);
  }
  RejoinDue(*m, now);
  for (size_t n = m->ring.size(); n > 0; --n) {
    ++last_pick_steps_;
    uint32_t slot = m->ring[m->cursor++ % m->ring.size()];
    m->cursor_dirty = true;
    KeyModel& km = m->keys[slot];
    Slot& s = slots_[slot];
    if (km.last_request == request || s.last_request == request) {
      tried_some = true;
      continue;
    }
    km.last_request = request;
    s.last_request = request;
    return PickedKey{slot, s.key};
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
  ModelPool* m = FindLocked(model);
  if (m == nullptr) {
    if (!shared_ring_.empty()) return std::nullopt;
    return NothingUsable(nullptr, now, false);
  }
  RejoinDue(*m, now);
  if (!m->ring.empty()) return std::nullopt;
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
  KeyModel* km = nullptr;
  if ((r.model = FindLocked(model)) != nullptr) {
    RejoinDue(*r.model, now);
    km = &r.model->keys[r.slot];
    if (km->state != State::kOk) {
      r.problem = ById::Problem::kState;
      return r;
    }
  }
  if ((km && km->last_request == request) || s.last_request == request) {
    r.problem = ById::Problem::kTried;
    return r;
  }
  if (km) km->last_request = request;
  s.last_request = request;
  return r;
}

PickResult KeyPool::PickById(std::string_view key_id, std::string_view model, uint64_t request,
                             TimePoint now) {
  std::lock_guard lock(mu_);
  ById r = TakeByIdLocked(key_id, model, request, now);
  switch (r.problem) {
    case ById::Problem::kNone:
      return PickedKey{r.slot, slots_[r.slot].key};
    case ById::Problem::kGone:
      return NoKey{NoKey::Why::kAffinityUnusable, Millis(0),
                   "the key that created this resource is no longer in the key pool"};
    case ById::Problem::kInvalid:
      return NoKey{NoKey::Why::kAffinityUnusable, Millis(0),
                   "the key that created this resource is invalid (" + slots_[r.slot].reason + ")"};
    case ById::Problem::kState: {
      const KeyModel& km = r.model->keys[r.slot];
      return NoKey{NoKey::Why::kAffinityUnusable, Until(now, km.until),
                   "the key that created this resource is " +
                       std::string(StateName(static_cast<int>(km.state))) + " for model " +
                       r.model->name + " (" + km.reason + ")"};
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
  return PickedKey{r.slot, slots_[r.slot].key};
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
  Millis wait = m->heap.empty() ? Millis(0) : Until(now, m->heap.front().until);
  if (wait < Millis(1000)) wait = Millis(1000);
  std::string model = m->name == "-" ? "any model" : "model " + m->name;
  if (m->cooling == 0) {
    return NoKey{NoKey::Why::kExhausted, wait,
                 "all " + std::to_string(m->exhausted) +
                     " usable keys are exhausted for today for " + model +
                     "; the quota resets at the next reset instant"};
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

    size_t queued = pending_states_.size() + pending_statuses_.size();
    switch (verdict.outcome) {
      case Outcome::kSuccess:
      case Outcome::kClientError:
        if (m != nullptr) m->keys[slot].transient_streak = 0;
        break;
      case Outcome::kDayExhausted:
        if (m != nullptr) {
          SetUnusable(*m, slot, State::kExhausted, clock_.NextReset(now), verdict.reason);
        }
        break;
      case Outcome::kCooling:
        if (m != nullptr) {
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
    ModelPool* m = FindLocked(st.model);
    if (m == nullptr) m = TrackLocked(st.model, true, now);
    if (m == nullptr) continue;
    if (!m->confirmed) {
      m->confirmed = true;
      --probation_;
    }
    SetUnusable(*m, it->second, st.state == "exhausted" ? State::kExhausted : State::kCooling,
                until, st.reason);
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
    for (auto& k : keys) {
      if (slot_by_id_.count(k.id())) continue;
      // A new slot starts removed, so that SetFlags adds it to the rings and counts.
      auto s = static_cast<uint32_t>(slots_.size());
      slot_by_id_.emplace(k.id(), s);
      slots_.push_back(
          Slot{std::make_shared<const ApiKey>(std::move(k)), true, false, {}, kNotInRing, 0});
      for (auto& [name, m] : models_) {
        m->position.push_back(kNotInRing);
        m->keys.emplace_back();
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
    for (auto& [name, m] : models_) {
      ClearState(*m, s);
      m->keys[s].transient_streak = 0;
      RingInsert(*m, s);
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
