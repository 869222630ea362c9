#include "keypool/key_pool.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace gkm {
namespace {

using namespace std::chrono_literals;

QuotaClock LosAngeles() {
  std::string error;
  auto c = QuotaClock::Make("America/Los_Angeles", 0s, &error);
  EXPECT_TRUE(c) << error;
  return *c;
}

std::vector<ApiKey> MakeKeys(size_t n) {
  std::vector<ApiKey> keys;
  for (size_t i = 0; i < n; ++i) keys.emplace_back("test-key-" + std::to_string(i));
  return keys;
}

// 2026-11-27 12:00:00 UTC (04:00 in Los Angeles).
const TimePoint kNoon = FromUnixMs(1795780800000);

Verdict V(Outcome o, std::string reason = "r", Millis delay = 0ms) {
  return Verdict{o, delay, std::move(reason)};
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
  KeyPool pool(MakeKeys(1), LosAngeles(), PoolOptions{1000ms, 8000ms});
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
