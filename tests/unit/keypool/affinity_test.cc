// Affinity bindings expire with what they name (files 48 h, caches at their expireTime but
// not before 48 h, upload sessions a week), with an injected clock.
#include "keypool/affinity.h"

#include <gtest/gtest.h>

namespace gkm {
namespace {

using std::chrono::hours;

struct FakeClock {
  TimePoint now = FromUnixMs(1'700'000'000'000);
  std::function<TimePoint()> fn() {
    return [this] { return now; };
  }
};

TEST(Affinity, BindingsExpireByKind) {
  FakeClock clock;
  Affinity a(clock.fn());
  TimePoint t0 = clock.now;
  a.Bind("file", "files/f", "k1", t0);
  a.Bind("cache", "cachedContents/c", "k2", t0);
  a.Bind("upload", "u1", "k3", t0);
  EXPECT_EQ(a.Find("file", "files/f"), "k1");

  clock.now = t0 + hours(48) - Millis(1);
  EXPECT_EQ(a.Find("file", "files/f"), "k1");
  EXPECT_EQ(a.Find("cache", "cachedContents/c"), "k2");
  clock.now = t0 + hours(48);
  EXPECT_EQ(a.Find("file", "files/f"), std::nullopt) << "Google deleted the file";
  EXPECT_EQ(a.Find("cache", "cachedContents/c"), std::nullopt);
  EXPECT_EQ(a.Find("upload", "u1"), "k3") << "an upload session lives a week";
  clock.now = t0 + hours(7 * 24);
  EXPECT_EQ(a.Find("upload", "u1"), std::nullopt);
}

TEST(Affinity, ExpiredBindingsLeaveMemoryAndTheStoreIsToldTheCutoff) {
  FakeClock clock;
  Affinity a(clock.fn());
  TimePoint t0 = clock.now;
  (void)a.TakePending();  // the first take sweeps (cleans the store's old rows)
  EXPECT_EQ(a.TakeExpiredBy(), ToUnixMs(t0));
  EXPECT_EQ(a.TakeExpiredBy(), 0) << "handed over once";
  for (int i = 0; i < 1000; ++i) a.Bind("file", "files/" + std::to_string(i), "k", t0);
  clock.now = t0 + hours(1);
  a.Bind("file", "files/late", "k", clock.now);
  EXPECT_EQ(a.size(), 1001u);
  EXPECT_EQ(a.TakePending().size(), 1001u);

  clock.now = t0 + hours(48) + Millis(1);
  std::vector<Binding> none = a.TakePending();  // a sweep is due
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(a.size(), 1u) << "memory is bounded by what Google still keeps";
  EXPECT_EQ(a.TakeExpiredBy(), ToUnixMs(clock.now));
  EXPECT_EQ(a.Find("file", "files/late"), "k");

  // No sweep again within the minute: no store work on every flush.
  clock.now += Millis(1000);
  (void)a.TakePending();
  EXPECT_EQ(a.TakeExpiredBy(), 0);
}

TEST(Affinity, CachesLiveUntilTheirExpireTimeButNotLessThan48Hours) {
  FakeClock clock;
  Affinity a(clock.fn());
  TimePoint t0 = clock.now;
  a.Bind("cache", "cachedContents/long", "k1", t0, t0 + hours(240));
  a.Bind("cache", "cachedContents/short", "k2", t0, t0 + hours(1));
  clock.now = t0 + hours(47);
  EXPECT_EQ(a.Find("cache", "cachedContents/short"), "k2") << "TTLs can be extended unseen";
  clock.now = t0 + hours(239);
  EXPECT_EQ(a.Find("cache", "cachedContents/short"), std::nullopt);
  EXPECT_EQ(a.Find("cache", "cachedContents/long"), "k1");
  clock.now = t0 + hours(240);
  EXPECT_EQ(a.Find("cache", "cachedContents/long"), std::nullopt);
  auto pending = a.TakePending();
  ASSERT_EQ(pending.size(), 2u);
  EXPECT_EQ(pending[0].expires_ms, ToUnixMs(t0 + hours(240)));
  EXPECT_EQ(pending[1].expires_ms, ToUnixMs(t0 + hours(48)));
}

TEST(Affinity, RestoreSkipsExpiredAndGivesOldRowsAnExpiry) {
  FakeClock clock;
  Affinity a(clock.fn());
  int64_t now = ToUnixMs(clock.now);
  const int64_t h = 3600 * 1000;
  a.Restore({
      {"file", "files/fresh", "k1", now - h, now + 47 * h},
      {"file", "files/gone", "k2", now - 49 * h, now - h},
      {"file", "files/old-fresh", "k3", now - h, 0},  // written by an older version
      {"file", "files/old-gone", "k4", now - 49 * h, 0},
  });
  EXPECT_EQ(a.Find("file", "files/fresh"), "k1");
  EXPECT_EQ(a.Find("file", "files/gone"), std::nullopt);
  EXPECT_EQ(a.Find("file", "files/old-fresh"), "k3");
  EXPECT_EQ(a.Find("file", "files/old-gone"), std::nullopt);
  EXPECT_EQ(a.size(), 2u);
  auto pending = a.TakePending();
  ASSERT_EQ(pending.size(), 1u) << "the old row is written back with its expiry";
  EXPECT_EQ(pending[0].name, "files/old-fresh");
  EXPECT_EQ(pending[0].expires_ms, now - h + 48 * h);
}

TEST(Affinity, ExpiryIsReadFromTheCreatingAnswer) {
  auto t = Affinity::ExpiryInAnswer(
      R"({"name":"cachedContents/x","expireTime":"2025-01-02T03:04:05.678901Z"})");
  ASSERT_TRUE(t);
  EXPECT_EQ(ToUnixMs(*t), 1735787045678);
  auto f = Affinity::ExpiryInAnswer(
      R"({"file":{"name":"files/y","expirationTime":"2025-01-02T05:04:05+02:00"}})");
  ASSERT_TRUE(f);
  EXPECT_EQ(ToUnixMs(*f), 1735787045000);
  for (const char* bad :
       {"", "[]", "{}", R"({"expireTime":5})", R"({"expireTime":"soon"})",
        R"({"expireTime":"2025-13-02T03:04:05Z"})", R"({"expireTime":"2025-01-02T03:04:05"})"}) {
    EXPECT_EQ(Affinity::ExpiryInAnswer(bad), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace gkm
