// KeyPool's probe interface: KeyById, InvalidKeys, SetStatus (SPEC 2.1 --recheck-invalid).
#include <gtest/gtest.h>

#include <set>

#include "keypool/key_pool.h"

namespace gkm {
namespace {

using namespace std::chrono_literals;

const TimePoint kT = FromUnixMs(1795780800000);  // 2026-11-27 12:00:00 UTC

KeyPool ThreeKeys() {
  std::string error;
  auto clock = QuotaClock::Make("America/Los_Angeles", 0s, &error);
  std::vector<ApiKey> keys;
  for (int i = 0; i < 3; ++i) keys.emplace_back("probe-key-" + std::to_string(i));
  return KeyPool(std::move(keys), *clock);
}

std::string Id(int i) { return ApiKey("probe-key-" + std::to_string(i)).id(); }

TEST(KeyPoolStatus, InvalidKeysListsOnlyInvalidOnes) {
  KeyPool pool = ThreeKeys();
  EXPECT_TRUE(pool.InvalidKeys().empty());
  pool.Report(1, "m", 400, Verdict{Outcome::kInvalid, 0ms, "API key invalid", false, {}}, {},
              kT);  // slot 1
  auto invalid = pool.InvalidKeys();
  ASSERT_EQ(invalid.size(), 1u);
  EXPECT_EQ(invalid[0]->id(), Id(1));
  ASSERT_TRUE(pool.KeyById(Id(2)));
  EXPECT_EQ(pool.KeyById(Id(2))->id(), Id(2));
  EXPECT_FALSE(pool.KeyById("k000000000000"));
}

TEST(KeyPoolStatus, RevivedKeyServesAgainAndKeepsItsModelStates) {
  KeyPool pool = ThreeKeys();
  int changes = 0;
  pool.SetOnStateChange([&] { ++changes; });
  // Key 1 is exhausted for model "a" today, then found invalid.
  pool.Report(1, "a", 429, Verdict{Outcome::kDayExhausted, 0ms, "per-day quota", false, {}}, {},
              kT);
  pool.Report(1, "b", 400, Verdict{Outcome::kInvalid, 0ms, "API key invalid", false, {}}, {}, kT);
  pool.TakeBatch(kT);
  changes = 0;
  EXPECT_EQ(pool.active_size(), 2u);

  ASSERT_TRUE(pool.SetStatus(Id(1), false, "", kT));
  EXPECT_EQ(changes, 1);
  EXPECT_EQ(pool.active_size(), 3u);
  EXPECT_TRUE(pool.InvalidKeys().empty());
  Batch b = pool.TakeBatch(kT);
  ASSERT_EQ(b.statuses.size(), 1u);
  EXPECT_EQ(b.statuses[0].key_id, Id(1));
  EXPECT_EQ(b.statuses[0].status, "active");

  // It serves model "b" again, not model "a" (still exhausted for today).
  std::set<uint32_t> b_keys, a_keys;
  for (int i = 0; i < 3; ++i) {
    b_keys.insert(std::get<PickedKey>(pool.Pick("b", pool.NewRequest(), kT)).slot);
    a_keys.insert(std::get<PickedKey>(pool.Pick("a", pool.NewRequest(), kT)).slot);
  }
  EXPECT_TRUE(b_keys.count(1));
  EXPECT_FALSE(a_keys.count(1));
  PoolView v = pool.View(kT);
  EXPECT_EQ(v.keys[1].status, "active");
  EXPECT_EQ(v.keys[1].models[0].state, "exhausted");

  // The same finding again changes nothing and tells the store nothing.
  ASSERT_TRUE(pool.SetStatus(Id(1), false, "", kT));
  EXPECT_EQ(changes, 1);
  EXPECT_TRUE(pool.TakeBatch(kT).statuses.empty());
}

TEST(KeyPoolStatus, ProbeCanInvalidateAndUpdateTheReason) {
  KeyPool pool = ThreeKeys();
  ASSERT_TRUE(pool.SetStatus(Id(0), true, "key suspended", kT));
  EXPECT_EQ(pool.active_size(), 2u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_NE(std::get<PickedKey>(pool.Pick("m", pool.NewRequest(), kT)).slot, 0u);
  }
  EXPECT_EQ(pool.View(kT).keys[0].reason, "key suspended");
  ASSERT_TRUE(pool.SetStatus(Id(0), true, "API key invalid", kT));
  EXPECT_EQ(pool.View(kT).keys[0].reason, "API key invalid");
  EXPECT_EQ(pool.Gauges(kT).keys_invalid, 1);
  Batch b = pool.TakeBatch(kT);
  ASSERT_EQ(b.statuses.size(), 2u);
  EXPECT_EQ(b.statuses[1].reason, "API key invalid");
  EXPECT_FALSE(pool.SetStatus("k000000000000", false, "", kT));
}

TEST(KeyPoolStatus, RemovedKeyIsNotFound) {
  KeyPool pool = ThreeKeys();
  std::vector<ApiKey> kept;
  kept.emplace_back("probe-key-0");
  kept.emplace_back("probe-key-2");
  pool.Reload(std::move(kept), false, kT);
  EXPECT_FALSE(pool.KeyById(Id(1)));
  EXPECT_FALSE(pool.SetStatus(Id(1), true, "x", kT));
}

}  // namespace
}  // namespace gkm
