#include "keypool/key_pool.h"

#include <gtest/gtest.h>

#include <iterator>
#include <map>
#include <random>
#include <set>

#include "support/la_clock.h"

namespace gkm {
namespace {

using namespace std::chrono_literals;

QuotaClock LosAngeles() { return testing_util::LosAngelesClock(); }

std::vector<ApiKey> MakeKeys(size_t n) {
  std::vector<ApiKey> keys;
  for (size_t i = 0; i < n; ++i) keys.emplace_back("test-key-" + std::to_string(i));
  return keys;
}

// 2026-11-27 12:00:00 UTC (04:00 in Los Angeles).
const TimePoint kNoon = FromUnixMs(1795780800000);

Verdict V(Outcome o, std::string reason = "r", Millis delay = 0ms) {
  return Verdict{o, delay, std::move(reason), false, {}};
}

uint32_t MustPick(KeyPool& pool, std::string_view model, uint64_t req, TimePoint now) {
  auto r = pool.Pick(model, req, now);
  EXPECT_TRUE(std::holds_alternative<PickedKey>(r)) << std::get<NoKey>(r).message;
  return std::holds_alternative<PickedKey>(r) ? std::get<PickedKey>(r).slot : 999999;
}

TEST(KeyPool, RoundRobinVisitsEveryKeyInTurn) {
  KeyPool pool(MakeKeys(3), LosAngeles());
  std::vector<uint32_t> order;
  for (int i = 0; i < 6; ++i) order.push_back(MustPick(pool, "m", pool.NewRequest(), kNoon));
  EXPECT_EQ(order[0], order[3]);
  EXPECT_EQ(order[1], order[4]);
  EXPECT_EQ(order[2], order[5]);
  EXPECT_EQ(std::set<uint32_t>(order.begin(), order.begin() + 3).size(), 3u);
}

TEST(KeyPool, NeverTheSameKeyTwiceInOneRequest) {
  KeyPool pool(MakeKeys(3), LosAngeles());
  uint64_t req = pool.NewRequest();
  std::set<uint32_t> seen;
  for (int i = 0; i < 3; ++i) seen.insert(MustPick(pool, "m", req, kNoon));
  EXPECT_EQ(seen.size(), 3u);
  auto r = pool.Pick("m", req, kNoon);
  ASSERT_TRUE(std::holds_alternative<NoKey>(r));
  EXPECT_EQ(std::get<NoKey>(r).why, NoKey::Why::kTried);
}

TEST(KeyPool, DayExhaustedKeyRestsUntilTheResetThenReturns) {
  KeyPool pool(MakeKeys(2), LosAngeles());
  uint32_t a = MustPick(pool, "m", pool.NewRequest(), kNoon);
  pool.Report(a, "m", 429, V(Outcome::kDayExhausted, "per-day quota"), {}, kNoon);
  for (int i = 0; i < 4; ++i) EXPECT_NE(MustPick(pool, "m", pool.NewRequest(), kNoon), a);
  // Other models are not affected.
  std::set<uint32_t> other;
  for (int i = 0; i < 2; ++i) other.insert(MustPick(pool, "other", pool.NewRequest(), kNoon));
  EXPECT_EQ(other.size(), 2u);
  // Reset is at 08:00Z on 2026-11-28 (midnight PST).
  TimePoint reset = LosAngeles().NextReset(kNoon);
  EXPECT_EQ(ToUnixMs(reset), 1795852800000);
  std::set<uint32_t> after;
  for (int i = 0; i < 2; ++i) after.insert(MustPick(pool, "m", pool.NewRequest(), reset));
  EXPECT_TRUE(after.count(a));
}

TEST(KeyPool, AllExhaustedGives503InfoWithWaitUntilReset) {
  KeyPool pool(MakeKeys(2), LosAngeles());
  for (int i = 0; i < 2; ++i) {
    uint32_t k = MustPick(pool, "m", pool.NewRequest(), kNoon);
    pool.Report(k, "m", 429, V(Outcome::kDayExhausted), {}, kNoon);
  }
  auto r = pool.Pick("m", pool.NewRequest(), kNoon);
  ASSERT_TRUE(std::holds_alternative<NoKey>(r));
  const NoKey& nk = std::get<NoKey>(r);
  EXPECT_EQ(nk.why, NoKey::Why::kExhausted);
  EXPECT_EQ(nk.retry_after, std::chrono::duration_cast<Millis>(20h));
  EXPECT_NE(nk.message.find("exhausted"), std::string::npos);
}

TEST(KeyPool, CoolingKeyReturnsAfterItsDelayAndRecoolingKeepsTheLaterDeadline) {
  KeyPool pool(MakeKeys(1), LosAngeles());
  uint32_t a = MustPick(pool, "m", pool.NewRequest(), kNoon);
  pool.Report(a, "m", 429, V(Outcome::kCooling, "per-minute quota", 30000ms), {}, kNoon);
  auto r = pool.Pick("m", pool.NewRequest(), kNoon + 10s);
  ASSERT_TRUE(std::holds_alternative<NoKey>(r));
  EXPECT_EQ(std::get<NoKey>(r).why, NoKey::Why::kCooling);
  EXPECT_EQ(std::get<NoKey>(r).retry_after, 50000ms);  // next minute boundary is 60 s away
  MustPick(pool, "m", pool.NewRequest(), kNoon + 60s);
}

TEST(KeyPool, TransientCooldownDoublesAndSuccessResetsIt) {
  KeyPool pool(MakeKeys(1), LosAngeles(), PoolOptions{1000ms, 8000ms, 256, 16, {}});
  TimePoint t = kNoon;
  std::vector<Millis> waits;
  for (int i = 0; i < 5; ++i) {
    uint32_t a = MustPick(pool, "m", pool.NewRequest(), t);
    pool.Report(a, "m", 503, V(Outcome::kTransient), {}, t);
    auto r = pool.Pick("m", pool.NewRequest(), t);
    ASSERT_TRUE(std::holds_alternative<NoKey>(r));
    waits.push_back(std::get<NoKey>(r).retry_after);
    t += std::get<NoKey>(r).retry_after;
  }
  EXPECT_EQ(waits, (std::vector<Millis>{1000ms, 2000ms, 4000ms, 8000ms, 8000ms}));
  uint32_t a = MustPick(pool, "m", pool.NewRequest(), t);
  pool.Report(a, "m", 200, V(Outcome::kSuccess), {}, t);
  pool.Report(a, "m", 503, V(Outcome::kTransient), {}, t);
  auto r = pool.Pick("m", pool.NewRequest(), t);
  EXPECT_EQ(std::get<NoKey>(r).retry_after, 1000ms);
}

TEST(KeyPool, InvalidKeyLeavesEveryModelUntilReset) {
  KeyPool pool(MakeKeys(2), LosAngeles());
  uint32_t a = MustPick(pool, "m", pool.NewRequest(), kNoon);
  MustPick(pool, "other", pool.NewRequest(), kNoon);
  pool.Report(a, "m", 400, V(Outcome::kInvalid, "API key invalid"), {}, kNoon);
  for (int i = 0; i < 4; ++i) {
    EXPECT_NE(MustPick(pool, "m", pool.NewRequest(), kNoon), a);
    EXPECT_NE(MustPick(pool, "other", pool.NewRequest(), kNoon), a);
  }
  EXPECT_EQ(pool.active_size(), 1u);
  EXPECT_TRUE(pool.ResetKey(ApiKey("test-key-" + std::to_string(a)).id(), kNoon));
  EXPECT_EQ(pool.active_size(), 2u);
}

TEST(KeyPool, CountsRequestsPerKeyModelAndDay) {
  KeyPool pool(MakeKeys(1), LosAngeles());
  uint32_t a = MustPick(pool, "m", pool.NewRequest(), kNoon);
  pool.Report(a, "m", 200, V(Outcome::kSuccess), TokenUsage{3, 2, 5}, kNoon);
  pool.Report(a, "m", 400, V(Outcome::kClientError), {}, kNoon);
  Batch b = pool.TakeBatch(kNoon);
  ASSERT_EQ(b.usage.size(), 1u);
  EXPECT_EQ(b.usage[0].day, "2026-11-27");
  EXPECT_EQ(b.usage[0].requests, 2);
  EXPECT_EQ(b.usage[0].prompt_tokens, 3);
  EXPECT_EQ(b.usage[0].candidate_tokens, 2);
  EXPECT_EQ(b.usage[0].thought_tokens, 5);
  EXPECT_TRUE(pool.TakeBatch(kNoon).usage.empty());
  PoolView v = pool.View(kNoon);
  ASSERT_EQ(v.keys.size(), 1u);
  EXPECT_EQ(v.keys[0].requests_today, 2);
  // The next quota day starts from zero.
  PoolView tomorrow = pool.View(kNoon + 24h);
  EXPECT_EQ(tomorrow.keys[0].requests_today, 0);
}

TEST(KeyPool, A429IsNotCountedAsARequest) {
  KeyPool pool(MakeKeys(1), LosAngeles());
  pool.Report(0, "m", 429, V(Outcome::kCooling), {}, kNoon);
  Batch b = pool.TakeBatch(kNoon);
  ASSERT_EQ(b.usage.size(), 1u);
  EXPECT_EQ(b.usage[0].requests, 0);
  EXPECT_EQ(b.usage[0].rate_limited, 1);
  ASSERT_EQ(b.states.size(), 1u);
  EXPECT_EQ(b.states[0].state, "cooling");
}

TEST(KeyPool, CountersOfADayThatEndedBeforeAFlushKeepTheirDay) {
  KeyPool pool(MakeKeys(1), LosAngeles());
  pool.Report(0, "m", 200, V(Outcome::kSuccess), {}, kNoon);
  pool.Report(0, "m", 200, V(Outcome::kSuccess), {}, kNoon + 24h);
  Batch b = pool.TakeBatch(kNoon + 24h);
  std::map<std::string, int64_t> by_day;
  for (auto& u : b.usage) by_day[u.day] += u.requests;
  EXPECT_EQ(by_day, (std::map<std::string, int64_t>{{"2026-11-27", 1}, {"2026-11-28", 1}}));
}

TEST(KeyPool, StateChangesWakeTheStore) {
  KeyPool pool(MakeKeys(2), LosAngeles());
  int wakes = 0;
  pool.SetOnStateChange([&] { ++wakes; });
  pool.Report(0, "m", 200, V(Outcome::kSuccess), {}, kNoon);
  EXPECT_EQ(wakes, 0);
  pool.Report(0, "m", 429, V(Outcome::kDayExhausted), {}, kNoon);
  EXPECT_EQ(wakes, 1);
  pool.Report(1, "m", 400, V(Outcome::kInvalid), {}, kNoon);
  EXPECT_EQ(wakes, 2);
}

TEST(KeyPool, RestoreBringsBackStatesCountersAndRotation) {
  Loaded loaded;
  std::string id0 = KeyIdOf("test-key-0"), id1 = KeyIdOf("test-key-1");
  loaded.usage.push_back(UsageDelta{id0, "m", "2026-11-27", 7, 0, 0, 0, 0, 0});
  loaded.states.push_back(
      KeyModelState{id1, "m", "exhausted", ToUnixMs(kNoon + 1h), "per-day quota"});
  loaded.statuses.push_back(KeyStatusRow{KeyIdOf("test-key-2"), "invalid", "API key invalid"});
  loaded.cursors.emplace_back("m", 5);
  KeyPool pool(MakeKeys(3), LosAngeles());
  pool.Restore(loaded, kNoon);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(MustPick(pool, "m", pool.NewRequest(), kNoon), 0u);
  PoolView v = pool.View(kNoon);
  EXPECT_EQ(v.keys[0].requests_today, 7);
  EXPECT_EQ(v.keys[2].status, "invalid");
  EXPECT_EQ(v.keys[1].models[0].state, "exhausted");
  EXPECT_EQ(pool.TakeBatch(kNoon).cursors.at(0).second, 8);
}

TEST(KeyPool, ReloadKeepsStateOfKeptKeysAddsAndRemoves) {
  KeyPool pool(MakeKeys(2), LosAngeles());
  pool.Report(0, "m", 429, V(Outcome::kDayExhausted), {}, kNoon);
  std::vector<ApiKey> next;
  next.emplace_back("test-key-0");
  next.emplace_back("test-key-9");
  auto [added, removed] = pool.Reload(std::move(next), false, kNoon);
  EXPECT_EQ(added, 1u);
  EXPECT_EQ(removed, 1u);
  for (int i = 0; i < 3; ++i) {
    auto r = pool.Pick("m", pool.NewRequest(), kNoon);
    ASSERT_TRUE(std::holds_alternative<PickedKey>(r));
    EXPECT_EQ(std::get<PickedKey>(r).key->id(), KeyIdOf("test-key-9"));
  }
  EXPECT_EQ(pool.size(), 2u);
}

TEST(KeyPool, AffinityPicksTheCreatingKeyOrSaysWhy) {
  KeyPool pool(MakeKeys(2), LosAngeles());
  std::string id1 = KeyIdOf("test-key-1");
  auto r = pool.PickById(id1, "m", pool.NewRequest(), kNoon);
  ASSERT_TRUE(std::holds_alternative<PickedKey>(r));
  EXPECT_EQ(std::get<PickedKey>(r).slot, 1u);
  pool.Report(1, "m", 429, V(Outcome::kDayExhausted, "per-day quota"), {}, kNoon);
  r = pool.PickById(id1, "m", pool.NewRequest(), kNoon);
  ASSERT_TRUE(std::holds_alternative<NoKey>(r));
  EXPECT_EQ(std::get<NoKey>(r).why, NoKey::Why::kAffinityUnusable);
  EXPECT_NE(std::get<NoKey>(r).message.find("exhausted"), std::string::npos);
}

TEST(KeyPool, PreferredKeyServesOnlyWhileUsableAndLeavesTheRoundRobinAlone) {
  KeyPool pool(MakeKeys(3), LosAngeles());
  std::string id2 = KeyIdOf("test-key-2");
  // Round robin order without preferences.
  std::vector<uint32_t> plain;
  for (int i = 0; i < 3; ++i) plain.push_back(MustPick(pool, "m", pool.NewRequest(), kNoon));
  // Preferred picks in between do not move the cursor: the cycle continues where it was.
  for (int i = 0; i < 5; ++i) {
    auto p = pool.PickPreferred(id2, "m", pool.NewRequest(), kNoon);
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(p->slot, 2u);
    EXPECT_EQ(p->key->id(), id2);
  }
  for (int i = 0; i < 3; ++i) EXPECT_EQ(MustPick(pool, "m", pool.NewRequest(), kNoon), plain[i]);

  // Not twice in one request: a preferred key that failed is not preferred again.
  uint64_t req = pool.NewRequest();
  ASSERT_TRUE(pool.PickPreferred(id2, "m", req, kNoon).has_value());
  EXPECT_FALSE(pool.PickPreferred(id2, "m", req, kNoon).has_value());
  EXPECT_NE(MustPick(pool, "m", req, kNoon), 2u) << "round robin skips the tried key";

  // Cooling for the model: no preference for it, another model is unaffected.
  pool.Report(2, "m", 429, V(Outcome::kCooling, "per-minute", 10s), {}, kNoon);
  EXPECT_FALSE(pool.PickPreferred(id2, "m", pool.NewRequest(), kNoon).has_value());
  EXPECT_TRUE(pool.PickPreferred(id2, "other", pool.NewRequest(), kNoon).has_value());
  // (A cooldown lasts at least to the next minute.)
  EXPECT_TRUE(pool.PickPreferred(id2, "m", pool.NewRequest(), kNoon + 61s).has_value())
      << "usable again once the cooldown passed";

  // Invalid, or unknown: nothing.
  pool.Report(2, "m", 400, V(Outcome::kInvalid, "API_KEY_INVALID"), {}, kNoon + 61s);
  EXPECT_FALSE(pool.PickPreferred(id2, "m", pool.NewRequest(), kNoon + 61s).has_value());
  EXPECT_FALSE(pool.PickPreferred("no-such-id", "m", pool.NewRequest(), kNoon).has_value());
}

// SPEC 4.1: a pick costs about the same however many keys are unusable. Counts steps
// (ring probes plus heap pops), not time.
uint64_t StepsPerPick(size_t keys, double unusable_share) {
  KeyPool pool(MakeKeys(keys), LosAngeles());
  size_t unusable = static_cast<size_t>(keys * unusable_share);
  for (uint32_t s = 0; s < unusable; ++s) {
    pool.Report(s, "m", 429, V(Outcome::kDayExhausted), {}, kNoon);
  }
  uint64_t total = 0;
  const int kPicks = 1000;
  for (int i = 0; i < kPicks; ++i) {
    MustPick(pool, "m", pool.NewRequest(), kNoon);
    total += pool.last_pick_steps();
  }
  return total / kPicks;
}

TEST(KeyPool, PickIsConstantTimeWhenMostKeysAreUnusable) {
  uint64_t small = StepsPerPick(10, 0.0);
  uint64_t huge = StepsPerPick(100000, 0.99);
  EXPECT_LE(small, 2u);
  EXPECT_LE(huge, small + 1);
}

}  // namespace
}  // namespace gkm

namespace gkm {
namespace {

TEST(KeyPool, UnavailableSaysWhyAndForHowLong) {
  KeyPool pool(MakeKeys(2), LosAngeles());
  EXPECT_FALSE(pool.Unavailable("m", kNoon).has_value());
  pool.Report(0, "m", 429, V(Outcome::kDayExhausted), {}, kNoon);
  EXPECT_FALSE(pool.Unavailable("m", kNoon).has_value());
  pool.Report(1, "m", 429, V(Outcome::kDayExhausted), {}, kNoon);
  auto none = pool.Unavailable("m", kNoon);
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(none->why, NoKey::Why::kExhausted);
  EXPECT_EQ(none->retry_after, std::chrono::duration_cast<Millis>(std::chrono::hours(20)));
}

}  // namespace
}  // namespace gkm

// ---- Bounded per-model memory (SPEC 8) -----------------------------------------------------

namespace gkm {
namespace {

using namespace std::chrono_literals;

// A request for `model` as the proxy makes it: pick, then report what Google answered.
uint32_t Serve(KeyPool& pool, std::string_view model, int status, Outcome outcome, TimePoint now,
               Millis delay = 0ms) {
  uint32_t slot = MustPick(pool, model, pool.NewRequest(), now);
  pool.Report(slot, model, status, V(outcome, "r", delay), {}, now);
  return slot;
}

size_t UsageRowsFor(const Batch& b, std::string_view model) {
  size_t n = 0;
  for (const auto& u : b.usage) n += u.model == model;
  return n;
}

TEST(KeyPoolModels, AModelGoogleDoesNotKnowCostsNothing) {
  KeyPool pool(MakeKeys(1000), LosAngeles());
  for (int i = 0; i < 1500; ++i) {
    std::string junk = "junk-model-" + std::to_string(i);
    Serve(pool, junk, 404, Outcome::kClientError, kNoon);
    EXPECT_FALSE(pool.Tracks(junk));
  }
  EXPECT_EQ(pool.Gauges(kNoon).models_tracked, 0);
  Batch b = pool.TakeBatch(kNoon);
  EXPECT_TRUE(b.usage.empty());  // nothing of them reaches the store either
  EXPECT_TRUE(b.cursors.empty());
  EXPECT_TRUE(pool.View(kNoon).keys[0].models.empty());
}

TEST(KeyPoolModels, GooglesFirstSuccessStartsTrackingAndCounting) {
  KeyPool pool(MakeKeys(3), LosAngeles());
  EXPECT_FALSE(pool.Tracks("m"));
  uint32_t a = Serve(pool, "m", 200, Outcome::kSuccess, kNoon);
  EXPECT_TRUE(pool.Tracks("m"));
  PoolView v = pool.View(kNoon);
  EXPECT_EQ(v.keys[a].requests_today, 1);
  EXPECT_EQ(UsageRowsFor(pool.TakeBatch(kNoon), "m"), 1u);
}

TEST(KeyPoolModels, AnUnknownModelStillNeverGetsTheSameKeyTwice) {
  KeyPool pool(MakeKeys(3), LosAngeles());
  uint64_t req = pool.NewRequest();
  std::set<uint32_t> seen;
  // The first attempt is picked before the model is tracked, the others after.
  uint32_t first = MustPick(pool, "m", req, kNoon);
  seen.insert(first);
  Serve(pool, "m", 200, Outcome::kSuccess, kNoon);  // another request confirms the model
  ASSERT_TRUE(pool.Tracks("m"));
  for (int i = 0; i < 2; ++i) seen.insert(MustPick(pool, "m", req, kNoon));
  EXPECT_EQ(seen.size(), 3u);
  auto r = pool.Pick("m", req, kNoon);
  ASSERT_TRUE(std::holds_alternative<NoKey>(r));
  EXPECT_EQ(std::get<NoKey>(r).why, NoKey::Why::kTried);
}

// A request's stamp on a key lives in the key's ring entry while the key is in its
// project's ring, and is kept aside while it is out: it survives the key leaving and coming
// back, is seen by a pick by id, and by the shared ring once the model is dropped.
TEST(KeyPoolModels, TheStampOfARequestFollowsTheKeyOutOfItsRingAndBack) {
  KeyPool pool(MakeKeys(2), LosAngeles());
  Serve(pool, "m", 200, Outcome::kSuccess, kNoon);
  ASSERT_TRUE(pool.Tracks("m"));
  uint64_t req = pool.NewRequest();
  uint32_t a = MustPick(pool, "m", req, kNoon);
  pool.Report(a, "m", 429, V(Outcome::kCooling, "per-minute quota", 1000ms), {}, kNoon);
  // A minute on, `a` is back in the rotation; the request still may not have it again.
  uint32_t b = MustPick(pool, "m", req, kNoon + 61s);
  EXPECT_NE(a, b);
  auto r = pool.Pick("m", req, kNoon + 61s);
  ASSERT_TRUE(std::holds_alternative<NoKey>(r));
  EXPECT_EQ(std::get<NoKey>(r).why, NoKey::Why::kTried);
  // Nor by id, for the key in the ring (b) and the one that came back (a).
  for (uint32_t slot : {a, b}) {
    r = pool.PickById(KeyIdOf("test-key-" + std::to_string(slot)), "m", req, kNoon + 61s);
    ASSERT_TRUE(std::holds_alternative<NoKey>(r)) << slot;
    EXPECT_EQ(std::get<NoKey>(r).why, NoKey::Why::kTried);
  }
  // A key taken by id is skipped by the rotation for that request.
  uint64_t req2 = pool.NewRequest();
  r = pool.PickById(KeyIdOf("test-key-" + std::to_string(a)), "m", req2, kNoon + 61s);
  ASSERT_TRUE(std::holds_alternative<PickedKey>(r));
  EXPECT_EQ(MustPick(pool, "m", req2, kNoon + 61s), b);
  r = pool.Pick("m", req2, kNoon + 61s);
  ASSERT_TRUE(std::holds_alternative<NoKey>(r));
}

TEST(KeyPoolModels, ARequestKeepsItsStampsWhenItsModelIsDropped) {
  PoolOptions o;
  o.max_models = 8;
  o.max_probation_models = 1;
  KeyPool pool(MakeKeys(2), LosAngeles(), o);
  Serve(pool, "p1", 400, Outcome::kClientError, kNoon);  // tracked on probation
  ASSERT_TRUE(pool.Tracks("p1"));
  uint64_t req = pool.NewRequest();
  uint32_t a = MustPick(pool, "p1", req, kNoon);
  // Another request's 400 for p2 takes p1's place (a key holds one stamp: had that request
  // picked `a` from the shared ring, its stamp would have replaced this one's).
  pool.Report(a, "p2", 400, V(Outcome::kClientError), {}, kNoon);
  ASSERT_FALSE(pool.Tracks("p1"));
  // p1's picks now come from the shared ring: the request gets the other key, then none.
  EXPECT_NE(MustPick(pool, "p1", req, kNoon), a);
  auto r = pool.Pick("p1", req, kNoon);
  ASSERT_TRUE(std::holds_alternative<NoKey>(r));
  EXPECT_EQ(std::get<NoKey>(r).why, NoKey::Why::kTried);
}

// The first pick of a model not yet tracked comes from the shared ring; the model's own
// rotation then goes on from there, and a key leaving mid-cycle does not bring its
// neighbour twice in a row.
TEST(KeyPoolModels, RotationGoesOnAcrossTrackingAndAKeyLeavingMidCycle) {
  KeyPool pool(MakeKeys(3), LosAngeles());
  // Another model's picks move the shared cursor (two whole turns: the cycle starts at
  // slot 0, and the cursor values are those that showed the swap's repeat).
  for (int i = 0; i < 6; ++i) MustPick(pool, "other", pool.NewRequest(), kNoon);
  std::vector<uint32_t> seen;
  seen.push_back(Serve(pool, "m", 200, Outcome::kSuccess, kNoon));
  ASSERT_TRUE(pool.Tracks("m"));
  for (int i = 0; i < 2; ++i) seen.push_back(Serve(pool, "m", 200, Outcome::kSuccess, kNoon));
  EXPECT_EQ(std::set<uint32_t>(seen.begin(), seen.end()).size(), 3u);
  // The next key in the cycle is exhausted mid-cycle; the two others then alternate.
  uint32_t gone = Serve(pool, "m", 429, Outcome::kDayExhausted, kNoon);
  EXPECT_EQ(gone, seen[0]);
  uint32_t prev = seen[2];  // the last key that answered
  for (int i = 0; i < 6; ++i) {
    uint32_t k = Serve(pool, "m", 200, Outcome::kSuccess, kNoon);
    EXPECT_NE(k, gone);
    EXPECT_NE(k, prev) << "the same key twice in a row at pick " << i;
    prev = k;
  }
}

TEST(KeyPoolModels, AnExhaustionOnAnUnknownModelIsKeptAndNotRetried) {
  KeyPool pool(MakeKeys(2), LosAngeles());
  uint32_t a = Serve(pool, "m", 429, Outcome::kDayExhausted, kNoon);
  EXPECT_TRUE(pool.Tracks("m"));
  for (int i = 0; i < 4; ++i) EXPECT_NE(MustPick(pool, "m", pool.NewRequest(), kNoon), a);
}

TEST(KeyPoolModels, ModelsOnProbationAreBounded) {
  PoolOptions o;
  o.max_models = 8;
  o.max_probation_models = 2;
  KeyPool pool(MakeKeys(4), LosAngeles(), o);
  // A 400 (not 404) says little: at most two such models are tracked at a time, and the
  // oldest gives its place, its counters going to the store.
  for (int i = 0; i < 5; ++i)
    Serve(pool, "p" + std::to_string(i), 400, Outcome::kClientError, kNoon);
  EXPECT_EQ(pool.Gauges(kNoon).models_tracked, 2);
  EXPECT_TRUE(pool.Tracks("p3"));
  EXPECT_TRUE(pool.Tracks("p4"));
  Batch b = pool.TakeBatch(kNoon);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(UsageRowsFor(b, "p" + std::to_string(i)), 1u) << i;
  // A success confirms a model on probation; it then no longer counts against the bound.
  Serve(pool, "p4", 200, Outcome::kSuccess, kNoon);
  Serve(pool, "p5", 400, Outcome::kClientError, kNoon);
  Serve(pool, "p6", 400, Outcome::kClientError, kNoon);
  EXPECT_TRUE(pool.Tracks("p4"));
  EXPECT_EQ(pool.Gauges(kNoon).models_tracked, 3);
}

TEST(KeyPoolModels, TheNumberOfModelsIsBoundedAndStatesAreNeverDropped) {
  PoolOptions o;
  o.max_models = 2;
  KeyPool pool(MakeKeys(2), LosAngeles(), o);
  uint32_t a = Serve(pool, "exhausted", 429, Outcome::kDayExhausted, kNoon);
  Serve(pool, "used", 200, Outcome::kSuccess, kNoon);
  // Full of a model with an exhausted key and one used today: a third is served but not
  // tracked; its counts still reach the store.
  Serve(pool, "third", 200, Outcome::kSuccess, kNoon);
  EXPECT_FALSE(pool.Tracks("third"));
  EXPECT_TRUE(pool.Tracks("exhausted"));
  EXPECT_TRUE(pool.Tracks("used"));
  EXPECT_EQ(UsageRowsFor(pool.TakeBatch(kNoon), "third"), 1u);
  for (int i = 0; i < 3; ++i) EXPECT_NE(MustPick(pool, "exhausted", pool.NewRequest(), kNoon), a);
  // The next quota day both are idle: a new model takes a place.
  TimePoint tomorrow = kNoon + 24h;
  Serve(pool, "third", 200, Outcome::kSuccess, tomorrow);
  EXPECT_TRUE(pool.Tracks("third"));
  EXPECT_LE(pool.Gauges(tomorrow).models_tracked, 2);
}

TEST(KeyPoolModels, DroppingAModelKeepsItsUnflushedCounters) {
  PoolOptions o;
  o.max_models = 1;
  KeyPool pool(MakeKeys(2), LosAngeles(), o);
  Serve(pool, "old", 200, Outcome::kSuccess, kNoon);
  Serve(pool, "old", 200, Outcome::kSuccess, kNoon + 24h);  // counted on the next day, unflushed
  // Two days on, "old" is idle (not used this day) but its counters are not yet flushed.
  TimePoint later = kNoon + 48h;
  Serve(pool, "new", 200, Outcome::kSuccess, later);
  EXPECT_TRUE(pool.Tracks("new"));
  EXPECT_FALSE(pool.Tracks("old"));
  Batch b = pool.TakeBatch(later);
  std::map<std::string, int64_t> old_by_day;
  for (auto& u : b.usage) {
    if (u.model == "old") old_by_day[u.day] += u.requests;
  }
  EXPECT_EQ(old_by_day, (std::map<std::string, int64_t>{{"2026-11-27", 1}, {"2026-11-28", 1}}));
}

TEST(KeyPoolModels, IdleModelsAreDroppedAtAFlushButNotThoseWithState) {
  KeyPool pool(MakeKeys(2), LosAngeles());
  Serve(pool, "yesterday", 200, Outcome::kSuccess, kNoon);
  Serve(pool, "cooling", 429, Outcome::kCooling, kNoon, 30000ms);
  pool.TakeBatch(kNoon);
  EXPECT_TRUE(pool.Tracks("yesterday"));  // used today
  TimePoint tomorrow = kNoon + 24h;
  Serve(pool, "today", 200, Outcome::kSuccess, tomorrow);
  pool.TakeBatch(tomorrow);
  EXPECT_FALSE(pool.Tracks("yesterday"));
  EXPECT_FALSE(pool.Tracks("cooling"));  // its cooling ended long ago
  EXPECT_TRUE(pool.Tracks("today"));
  // An exhaustion lasts to the reset; until then its model stays.
  Serve(pool, "exhausted", 429, Outcome::kDayExhausted, tomorrow);
  pool.TakeBatch(tomorrow + 1h);
  EXPECT_TRUE(pool.Tracks("exhausted"));
}

TEST(KeyPoolModels, RestoreSkipsNamesThatAreNotModelNamesAndKeepsTheBound) {
  PoolOptions o;
  o.max_models = 3;
  Loaded loaded;
  std::string id0 = KeyIdOf("test-key-0");
  loaded.usage.push_back(UsageDelta{id0, "bad\xFFname", "2026-11-27", 1, 0, 0, 0, 0, 0});
  loaded.usage.push_back(UsageDelta{id0, "with space", "2026-11-27", 1, 0, 0, 0, 0, 0});
  for (int i = 0; i < 10; ++i) {
    loaded.usage.push_back(
        UsageDelta{id0, "m" + std::to_string(i), "2026-11-27", 1, 0, 0, 0, 0, 0});
  }
  loaded.states.push_back(
      KeyModelState{id0, "kept", "exhausted", ToUnixMs(kNoon + 1h), "per-day quota"});
  KeyPool pool(MakeKeys(2), LosAngeles(), o);
  pool.Restore(loaded, kNoon);
  EXPECT_FALSE(pool.Tracks("bad\xFFname"));
  EXPECT_FALSE(pool.Tracks("with space"));
  EXPECT_TRUE(pool.Tracks("kept"));  // states first
  EXPECT_EQ(pool.Gauges(kNoon).models_tracked, 3);
  EXPECT_NE(MustPick(pool, "kept", pool.NewRequest(), kNoon), 0u);
}

// ---- Gauges and 503 reasons from maintained counts, pinned against a scan -----------------

// What the old scans computed, from the public view.
struct Scanned {
  int64_t active = 0, invalid = 0, cooling = 0, exhausted = 0;
  std::map<std::string, int64_t> today;
};

Scanned Scan(const PoolView& v) {
  Scanned s;
  for (const auto& k : v.keys) {
    (k.status == "active" ? s.active : s.invalid)++;
    for (const auto& m : k.models) {
      s.today[m.model] += m.requests;
      if (k.status != "active") continue;
      if (m.state == "cooling") ++s.cooling;
      if (m.state == "exhausted") ++s.exhausted;
    }
  }
  return s;
}

// The 503 a scan of the view gives for `model`, or nullopt when some key is usable.
std::optional<NoKey> ScanUnavailable(const PoolView& v, std::string_view model, TimePoint now) {
  size_t present = v.keys.size(), active = 0, exhausted = 0;
  bool cooling = false;
  TimePoint earliest = TimePoint::max();
  for (const auto& k : v.keys) {
    if (k.status != "active") continue;
    ++active;
    const KeyModelView* mv = nullptr;
    for (const auto& m : k.models) {
      if (m.model == model) mv = &m;
    }
    if (mv == nullptr || mv->state == "ok") return std::nullopt;
    cooling |= mv->state == "cooling";
    exhausted += mv->state == "exhausted";
    earliest = std::min(earliest, *mv->until);
  }
  if (present == 0) return NoKey{NoKey::Why::kNoKeys, 0ms, ""};
  if (active == 0) return NoKey{NoKey::Why::kInvalid, 0ms, ""};
  Millis wait = std::chrono::duration_cast<Millis>(earliest - now);
  if (wait < 1000ms) wait = 1000ms;
  return NoKey{cooling ? NoKey::Why::kCooling : NoKey::Why::kExhausted, wait,
               std::to_string(exhausted)};
}

TEST(KeyPoolCounts, GaugesAndUnavailableAgreeWithAScanAfterRandomOperations) {
  std::map<NoKey::Why, int> reasons;  // the 503s seen, so that the test is known to reach them
  int states_seen = 0;
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    std::mt19937 rng(seed);
    auto below = [&](uint32_t n) { return static_cast<uint32_t>(rng() % n); };
    PoolOptions o{1000ms, 8000ms, 256, 16, {}};
    o.max_models = 4;
    o.max_probation_models = 2;
    KeyPool pool(MakeKeys(6), LosAngeles(), o);
    const std::vector<std::string> models = {"a", "b", "c", "d", "e", "-"};
    TimePoint now = kNoon;
    int next_key = 6;
    for (int step = 0; step < 600; ++step) {
      now += Millis(below(5) == 0 ? below(4 * 3600 * 1000) : below(20000));
      const std::string& model = models[below(models.size())];
      switch (below(12)) {
        case 0: {  // an admin reset
          pool.ResetKey(KeyIdOf("test-key-" + std::to_string(below(next_key))), now);
          break;
        }
        case 1: {  // a reload that removes some keys and adds one
          std::vector<ApiKey> keys;
          for (int k = 0; k < next_key; ++k) {
            if (below(4) != 0) keys.emplace_back("test-key-" + std::to_string(k));
          }
          if (below(2) == 0) keys.emplace_back("test-key-" + std::to_string(next_key++));
          pool.Reload(std::move(keys), below(2) == 0, now);
          break;
        }
        case 2:
          pool.TakeBatch(now);
          break;
        default: {  // a request with a few attempts
          uint64_t req = pool.NewRequest();
          for (int attempt = 0; attempt < 3; ++attempt) {
            auto r = pool.Pick(model, req, now);
            if (!std::holds_alternative<PickedKey>(r)) break;
            uint32_t slot = std::get<PickedKey>(r).slot;
            static const std::pair<int, Outcome> kAnswers[] = {
                {200, Outcome::kSuccess},      {200, Outcome::kSuccess},
                {429, Outcome::kDayExhausted}, {429, Outcome::kCooling},
                {503, Outcome::kTransient},    {400, Outcome::kClientError},
                {404, Outcome::kClientError},  {400, Outcome::kInvalid}};
            auto [status, outcome] = kAnswers[below(std::size(kAnswers))];
            if (outcome == Outcome::kInvalid && below(3) != 0) outcome = Outcome::kSuccess;
            pool.Report(slot, model, status, V(outcome, "r", Millis(below(90000))), {}, now);
            if (outcome == Outcome::kSuccess || outcome == Outcome::kClientError) break;
          }
        }
      }
      // The view is a scan of every key and model; the gauges and 503s are kept counts.
      const PoolView view = pool.View(now);
      const Scanned want = Scan(view);
      const PoolGauges got = pool.Gauges(now);
      ASSERT_EQ(got.keys_active, want.active) << "seed " << seed << " step " << step;
      ASSERT_EQ(got.keys_invalid, want.invalid) << "seed " << seed << " step " << step;
      ASSERT_EQ(got.key_models_cooling, want.cooling) << "seed " << seed << " step " << step;
      ASSERT_EQ(got.key_models_exhausted, want.exhausted) << "seed " << seed << " step " << step;
      ASSERT_LE(got.models_tracked, 4);
      states_seen += got.key_models_cooling + got.key_models_exhausted > 0;
      for (const auto& [name, n] : got.requests_today_by_model) {
        auto it = want.today.find(name);
        ASSERT_EQ(n, it == want.today.end() ? 0 : it->second)
            << name << " seed " << seed << " step " << step;
      }
      for (const std::string& m : models) {
        if (!pool.Tracks(m)) continue;
        auto scanned = ScanUnavailable(view, m, now);
        auto kept = pool.Unavailable(m, now);
        ASSERT_EQ(kept.has_value(), scanned.has_value())
            << m << " seed " << seed << " step " << step;
        if (!kept) continue;
        ++reasons[kept->why];
        ASSERT_EQ(kept->why, scanned->why) << m << " seed " << seed << " step " << step;
        ASSERT_EQ(kept->retry_after, scanned->retry_after) << m << " seed " << seed;
        if (kept->why == NoKey::Why::kExhausted) {
          ASSERT_NE(kept->message.find("all " + scanned->message + " usable"), std::string::npos)
              << kept->message;
        }
      }
    }
  }
  EXPECT_GT(reasons[NoKey::Why::kCooling], 0);
  EXPECT_GT(reasons[NoKey::Why::kExhausted], 0);
  EXPECT_GT(states_seen, 100);
}

}  // namespace
}  // namespace gkm
