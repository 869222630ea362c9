// Shared state (SPEC 6): other instances' changes applied to the local view without being
// handed back to the store, and other instances' counts added to today's.
#include <gtest/gtest.h>

#include <set>

#include "keypool/key_pool.h"
#include "support/la_clock.h"

namespace gkm {
namespace {

using namespace std::chrono_literals;

QuotaClock LosAngeles() { return testing_util::LosAngelesClock(); }

// 2026-11-27 12:00:00 UTC (04:00 in Los Angeles).
const TimePoint kNoon = FromUnixMs(1795780800000);
const std::string kToday = "2026-11-27";

std::vector<ApiKey> Keys(int n) {
  std::vector<ApiKey> k;
  for (int i = 0; i < n; ++i) k.emplace_back("shared-key-" + std::to_string(i));
  return k;
}

std::set<std::string> PickedIds(KeyPool& pool, std::string_view model, int n) {
  std::set<std::string> ids;
  for (int i = 0; i < n; ++i) {
    auto r = pool.Pick(model, pool.NewRequest(), kNoon);
    if (auto* k = std::get_if<PickedKey>(&r)) ids.insert(k->key->id());
  }
  return ids;
}

TEST(SharedState, RemoteExhaustionTakesTheKeyOutWithoutEcho) {
  KeyPool pool(Keys(3), LosAngeles());
  const std::string id = ApiKey("shared-key-1").id();
  (void)pool.TakeBatch(kNoon);
  Loaded c;
  c.states.push_back({id, "gemini-2.5-flash", "exhausted", ToUnixMs(pool.clock().NextReset(kNoon)),
                      "per-day quota"});
  pool.ApplyShared(c, kNoon);
  EXPECT_EQ(PickedIds(pool, "gemini-2.5-flash", 6).count(id), 0u);
  EXPECT_EQ(PickedIds(pool, "gemini-2.5-pro", 6).count(id), 1u);  // other models unaffected
  Batch b = pool.TakeBatch(kNoon);
  EXPECT_TRUE(b.states.empty()) << "a remote state is not written back";
  bool seen = false;
  for (const KeyView& k : pool.View(kNoon).keys) {
    for (const auto& m : k.models) {
      if (k.id == id && m.model == "gemini-2.5-flash") {
        EXPECT_EQ(m.state, "exhausted");
        seen = true;
      }
    }
  }
  EXPECT_TRUE(seen);
  // A remote reset ("ok") brings it back; an expired state is ignored.
  c.states[0].state = "ok";
  pool.ApplyShared(c, kNoon);
  EXPECT_EQ(PickedIds(pool, "gemini-2.5-flash", 6).count(id), 1u);
  c.states[0] = {id, "gemini-2.5-flash", "cooling", ToUnixMs(kNoon) - 1, "old"};
  pool.ApplyShared(c, kNoon);
  EXPECT_EQ(PickedIds(pool, "gemini-2.5-flash", 6).count(id), 1u);
  EXPECT_TRUE(pool.TakeBatch(kNoon).states.empty());
}

TEST(SharedState, RemoteInvalidAndRevivedKeyWithoutEcho) {
  KeyPool pool(Keys(2), LosAngeles());
  const std::string id = ApiKey("shared-key-0").id();
  Loaded c;
  c.statuses.push_back({id, "invalid", "API_KEY_INVALID"});
  pool.ApplyShared(c, kNoon);
  EXPECT_EQ(pool.active_size(), 1u);
  EXPECT_EQ(PickedIds(pool, "m", 4).count(id), 0u);
  EXPECT_TRUE(pool.TakeBatch(kNoon).statuses.empty());
  c.statuses[0].status = "active";
  pool.ApplyShared(c, kNoon);
  EXPECT_EQ(pool.active_size(), 2u);
  EXPECT_TRUE(pool.TakeBatch(kNoon).statuses.empty());
}

TEST(SharedState, LaterLocalDeadlineWins) {
  KeyPool pool(Keys(1), LosAngeles());
  const std::string id = ApiKey("shared-key-0").id();
  const int64_t reset = ToUnixMs(pool.clock().NextReset(kNoon));
  Loaded c;
  c.states.push_back({id, "m", "exhausted", reset, "per-day quota"});
  pool.ApplyShared(c, kNoon);
  c.states[0] = {id, "m", "cooling", ToUnixMs(kNoon) + 5000, "per-minute"};
  pool.ApplyShared(c, kNoon);
  auto r = pool.Pick("m", pool.NewRequest(), kNoon + 10s);
  ASSERT_TRUE(std::holds_alternative<NoKey>(r)) << "the day state stays";
  EXPECT_EQ(std::get<NoKey>(r).why, NoKey::Why::kExhausted);
}

TEST(SharedState, RemoteProjectStateAndLearnedLimit) {
  std::vector<ApiKey> keys = Keys(3);
  KeyPool pool(std::move(keys), LosAngeles(), {}, {"team-a", "team-a", "team-b"});
  Loaded c;
  c.project_states.push_back(
      {"team-a", "m", "exhausted", ToUnixMs(pool.clock().NextReset(kNoon)), "per-day"});
  c.limits.push_back({"team-b", "m", "day", "requests", 2, 0});
  pool.ApplyShared(c, kNoon);
  std::set<std::string> ids = PickedIds(pool, "m", 6);
  EXPECT_EQ(ids, std::set<std::string>{ApiKey("shared-key-2").id()});
  Batch b = pool.TakeBatch(kNoon);
  EXPECT_TRUE(b.project_states.empty());
  EXPECT_TRUE(b.limits.empty());
  // The learned per-day limit of 2 paced team-b after two picks.
  auto r = pool.Pick("m", pool.NewRequest(), kNoon);
  EXPECT_TRUE(std::holds_alternative<NoKey>(r));
}

TEST(SharedState, OtherInstancesCountsAreTotalsAddedToTodays) {
  KeyPool pool(Keys(2), LosAngeles());
  const std::string id = ApiKey("shared-key-0").id();
  auto p = pool.Pick("m", pool.NewRequest(), kNoon);
  pool.Report(std::get<PickedKey>(p).slot, "m", 200, Verdict{}, {}, kNoon);
  auto requests = [&] {
    for (const KeyView& k : pool.View(kNoon).keys) {
      if (k.id == id) return k.requests_today;
    }
    return int64_t{-1};
  };
  const int64_t own = requests();
  pool.SetSharedCounts({{id, "m", kToday, 10}}, kNoon);
  EXPECT_EQ(requests(), own + 10);
  pool.SetSharedCounts({{id, "m", kToday, 14}}, kNoon);  // a total, not a delta
  EXPECT_EQ(requests(), own + 14);
  pool.SetSharedCounts({{id, "m", "2026-11-26", 99}}, kNoon);  // another day: ignored
  EXPECT_EQ(requests(), own + 14);
  // Only the local request goes to the store.
  Batch b = pool.TakeBatch(kNoon);
  int64_t flushed = 0;
  for (const auto& u : b.usage) flushed += u.requests;
  EXPECT_EQ(flushed, 1);
  PoolGauges g = pool.Gauges(kNoon);
  ASSERT_EQ(g.requests_today_by_model.size(), 1u);
  EXPECT_EQ(g.requests_today_by_model[0].second, 15);
}

TEST(SharedState, OtherInstancesCountsPaceTheDay) {
  PoolOptions o;
  ASSERT_EQ(o.limits.Add("m=-/5"), "");
  KeyPool pool(Keys(1), LosAngeles(), std::move(o));
  const std::string id = ApiKey("shared-key-0").id();
  pool.SetSharedCounts({{id, "m", kToday, 4}}, kNoon);
  EXPECT_TRUE(std::holds_alternative<PickedKey>(pool.Pick("m", pool.NewRequest(), kNoon)));
  auto r = pool.Pick("m", pool.NewRequest(), kNoon);
  ASSERT_TRUE(std::holds_alternative<NoKey>(r)) << "4 elsewhere + 1 here reach the limit of 5";
}

}  // namespace
}  // namespace gkm
