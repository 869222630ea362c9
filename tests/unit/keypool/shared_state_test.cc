// Shared state (SPEC 6): other instances' changes applied to the local view without being
// handed back to the store, and other instances' counts added to today's.
#include <gtest/gtest.h>

#include <map>
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

// Minute windows across instances: what this instance sends is taken as deltas per (project,
// model, window), what the others sent replaces their previous figure in the window.
const int64_t kNoonMinute = 1795780800000 / 60000;

TEST(SharedState, OwnMinuteCountsAreTakenAsDeltasOfPacedProjectsOnly) {
  PoolOptions o;
  ASSERT_EQ(o.limits.Add("m=3/-"), "");
  KeyPool pool(Keys(3), LosAngeles(), std::move(o), {"team-a", "team-a", "team-b"});
  EXPECT_TRUE(pool.TakeMinuteCounts().empty());
  int woken = 0;
  pool.OnMinuteCount([&] { ++woken; });
  PickedIds(pool, "unpaced", 2);
  EXPECT_TRUE(pool.TakeMinuteCounts().empty()) << "a model without a minute limit is not shared";
  PickedIds(pool, "m", 4);
  EXPECT_EQ(woken, 2) << "once per project until taken";
  std::vector<MinuteCount> c = pool.TakeMinuteCounts();
  ASSERT_EQ(c.size(), 2u);
  int64_t total = 0;
  for (const MinuteCount& x : c) {
    EXPECT_EQ(x.model, "m");
    EXPECT_EQ(x.minute, kNoonMinute);
    EXPECT_TRUE(x.project == "team-a" || x.project == "team-b") << x.project;
    total += x.requests;
  }
  EXPECT_EQ(total, 4);
  EXPECT_TRUE(pool.TakeMinuteCounts().empty()) << "taken once";
  // A request Google refused is given back: -1.
  auto r = pool.Pick("m", pool.NewRequest(), kNoon);
  auto* k = std::get_if<PickedKey>(&r);
  ASSERT_NE(k, nullptr);
  pool.Report(k->slot, "m", 429, Verdict{}, {}, kNoon);
  EXPECT_TRUE(pool.TakeMinuteCounts().empty()) << "+1 then -1: nothing to send";
  // Counts of a window that ended before they were taken keep their window.
  PickedIds(pool, "m", 1);
  const TimePoint later = kNoon + 61s;
  auto r2 = pool.Pick("m", pool.NewRequest(), later);
  ASSERT_NE(std::get_if<PickedKey>(&r2), nullptr);
  c = pool.TakeMinuteCounts();
  std::map<int64_t, int64_t> by_minute;
  for (const MinuteCount& x : c) by_minute[x.minute] += x.requests;
  EXPECT_EQ(by_minute[kNoonMinute], 1);
  EXPECT_EQ(by_minute[kNoonMinute + 1], 1);
}

TEST(SharedState, OtherInstancesMinuteCountsPaceTheWindowAndReplaceEachOther) {
  PoolOptions o;
  ASSERT_EQ(o.limits.Add("m=3/-"), "");
  KeyPool pool(Keys(2), LosAngeles(), std::move(o), {"team-a", "team-a"});
  pool.OnMinuteCount([] {});
  EXPECT_EQ(PickedIds(pool, "m", 1).size(), 1u);
  pool.SetSharedMinuteCounts({{"team-a", "m", kNoonMinute, 2, 0}}, kNoon);
  EXPECT_TRUE(PickedIds(pool, "m", 1).empty()) << "1 here + 2 elsewhere reach 3";
  // A later figure replaces the earlier one (a request given back elsewhere).
  pool.SetSharedMinuteCounts({{"team-a", "m", kNoonMinute, 1, 0}}, kNoon + 1s);
  EXPECT_EQ(PickedIds(pool, "m", 1).size(), 1u) << "1 + 1 leaves one";
  EXPECT_TRUE(PickedIds(pool, "m", 1).empty());
  // Rows of another window, of an unknown project or model are ignored.
  pool.SetSharedMinuteCounts({{"team-a", "m", kNoonMinute - 1, 50, 0},
                              {"nobody", "m", kNoonMinute + 1, 50, 0},
                              {"team-a", "other", kNoonMinute + 1, 50, 0}},
                             kNoon + 61s);
  int picked = 0;
  for (int i = 0; i < 4; ++i) {
    picked += std::holds_alternative<PickedKey>(pool.Pick("m", pool.NewRequest(), kNoon + 61s));
  }
  EXPECT_EQ(picked, 3) << "the next window is this instance's own: 3 picks";
}

}  // namespace
}  // namespace gkm
