#include "clients/clients.h"

#include <date/date.h>
#include <gtest/gtest.h>

namespace gkm {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;

QuotaClock Utc() {
  std::string error;
  return *QuotaClock::Make("UTC", seconds(0), &error);
}

TimePoint At(int h, int m, int s, int ms = 0) {
  const date::sys_days day{date::year{2026} / 3 / 10};
  return TimePoint(day.time_since_epoch() + hours(h) + std::chrono::minutes(m) + seconds(s) +
                   milliseconds(ms));
}

ClientSpec Spec(uint32_t rpm, uint32_t rpd, std::vector<std::string> models = {}) {
  return ClientSpec{"ci-bots", rpm, rpd, std::move(models)};
}

TEST(Client, NoLimitsAdmitsEverythingAndCountsIt) {
  QuotaClock clock = Utc();
  Client c(Spec(0, 0), clock);
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(c.Admit("gemini-2.5-flash", At(12, 0, 0)).ok());
  ClientView v = c.View(At(12, 0, 1));
  EXPECT_EQ(v.today_requests, 1000);
  EXPECT_EQ(v.minute_requests, 1000);
  EXPECT_EQ(v.by_model["gemini-2.5-flash"], 1000);
  EXPECT_EQ(v.day, "2026-03-10");
}

TEST(Client, RpmRefusesTheRequestOverTheLimitWithTheWaitUntilTheWindowAdmits) {
  QuotaClock clock = Utc();
  Client c(Spec(3, 0), clock);
  EXPECT_TRUE(c.Admit("m", At(12, 0, 0, 100)).ok());
  EXPECT_TRUE(c.Admit("m", At(12, 0, 10)).ok());
  EXPECT_TRUE(c.Admit("m", At(12, 0, 20)).ok());
  Admission a = c.Admit("m", At(12, 0, 30, 500));
  EXPECT_EQ(a.refusal, Refusal::kMinute);
  // The request of 12:00:00 leaves the window at 12:01:00: 30 s from 12:00:30.
  EXPECT_EQ(a.retry_after_s, 30);
  EXPECT_EQ(c.Admit("m", At(12, 0, 59, 999)).refusal, Refusal::kMinute);
  EXPECT_TRUE(c.Admit("m", At(12, 1, 0)).ok());
  // Refusals are not counted.
  EXPECT_EQ(c.View(At(12, 1, 0)).today_requests, 4);
}

TEST(Client, RpmSlidesRatherThanResettingAtTheMinute) {
  QuotaClock clock = Utc();
  Client c(Spec(2, 0), clock);
  EXPECT_TRUE(c.Admit("m", At(12, 0, 58)).ok());
  EXPECT_TRUE(c.Admit("m", At(12, 0, 59)).ok());
  // A fixed window would admit two more at 12:01:00.
  Admission a = c.Admit("m", At(12, 1, 0));
  EXPECT_EQ(a.refusal, Refusal::kMinute);
  EXPECT_EQ(a.retry_after_s, 58);
  EXPECT_TRUE(c.Admit("m", At(12, 1, 58)).ok());
  EXPECT_EQ(c.Admit("m", At(12, 1, 58)).retry_after_s, 1);
}

TEST(Client, WindowForgetsEverythingAfterAMinuteOfSilence) {
  QuotaClock clock = Utc();
  Client c(Spec(1, 0), clock);
  EXPECT_TRUE(c.Admit("m", At(12, 0, 0)).ok());
  EXPECT_FALSE(c.Admit("m", At(12, 0, 59)).ok());
  EXPECT_TRUE(c.Admit("m", At(15, 0, 0)).ok());
  EXPECT_EQ(c.View(At(15, 0, 0)).minute_requests, 1);
}

TEST(Client, RpdRefusesUntilTheQuotaDayResets) {
  QuotaClock clock = Utc();
  Client c(Spec(0, 2), clock);
  EXPECT_TRUE(c.Admit("a", At(22, 0, 0)).ok());
  EXPECT_TRUE(c.Admit("b", At(23, 0, 0)).ok());
  Admission a = c.Admit("a", At(23, 59, 0, 1));
  EXPECT_EQ(a.refusal, Refusal::kDay);
  EXPECT_EQ(a.retry_after_s, 60);  // 59.999 s, rounded up
  EXPECT_TRUE(c.Admit("a", At(24, 0, 0)).ok());
  EXPECT_EQ(c.View(At(24, 0, 1)).today_requests, 1);
  EXPECT_EQ(c.View(At(24, 0, 1)).day, "2026-03-11");
}

TEST(Client, DayLimitIsReportedBeforeTheMinute) {
  QuotaClock clock = Utc();
  Client c(Spec(1, 1), clock);
  EXPECT_TRUE(c.Admit("a", At(12, 0, 0)).ok());
  EXPECT_EQ(c.Admit("a", At(12, 0, 1)).refusal, Refusal::kDay);
}

TEST(Client, ModelGlobsAllowOnlyTheirModelsAndRequestsWithoutAModel) {
  QuotaClock clock = Utc();
  Client c(Spec(0, 0, {"gemini-2.5-flash*", "text-embedding-004"}), clock);
  EXPECT_TRUE(c.ModelAllowed("gemini-2.5-flash"));
  EXPECT_TRUE(c.ModelAllowed("gemini-2.5-flash-lite"));
  EXPECT_TRUE(c.ModelAllowed("text-embedding-004"));
  EXPECT_TRUE(c.ModelAllowed("-"));
  EXPECT_TRUE(c.ModelAllowed(""));
  EXPECT_FALSE(c.ModelAllowed("gemini-2.5-pro"));
  EXPECT_FALSE(c.ModelAllowed("text-embedding-0045"));
  EXPECT_FALSE(c.ModelAllowed("GEMINI-2.5-FLASH"));  // case matters, as in Google's names
  Admission a = c.Admit("gemini-2.5-pro", At(12, 0, 0));
  EXPECT_EQ(a.refusal, Refusal::kModel);
  EXPECT_EQ(c.View(At(12, 0, 0)).today_requests, 0);
  EXPECT_EQ(c.View(At(12, 0, 0)).refused[static_cast<size_t>(Refusal::kModel)], 1u);
}

TEST(Client, PendingRowsAreDeltasAndAPastDaysRowsAreKept) {
  QuotaClock clock = Utc();
  Client c(Spec(0, 0), clock);
  std::vector<ClientUsageDelta> out;
  c.TakePending(out);
  EXPECT_TRUE(out.empty());
  c.Admit("a", At(23, 0, 0));
  c.Admit("a", At(23, 0, 0));
  c.Admit("-", At(23, 0, 0));
  c.TakePending(out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].client, "ci-bots");
  EXPECT_EQ(out[0].model, "-");
  EXPECT_EQ(out[1].model, "a");
  EXPECT_EQ(out[1].requests, 2);
  EXPECT_EQ(out[1].day, "2026-03-10");
  out.clear();
  c.Admit("a", At(23, 30, 0));
  c.Admit("a", At(24, 30, 0));  // the next day: the last one of the old day is carried
  c.TakePending(out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].day, "2026-03-10");
  EXPECT_EQ(out[0].requests, 1);
  EXPECT_EQ(out[1].day, "2026-03-11");
  EXPECT_EQ(out[1].requests, 1);
  out.clear();
  c.TakePending(out);
  EXPECT_TRUE(out.empty());
}

TEST(Client, RestoredRowsOfTodayCountTowardsRpdAndAreNotWrittenAgain) {
  QuotaClock clock = Utc();
  Clients clients({Spec(0, 3)}, clock);
  clients.Restore({{"ci-bots", "a", "2026-03-10", 2},
                   {"ci-bots", "a", "2026-03-09", 50},
                   {"gone", "a", "2026-03-10", 7}},
                  At(12, 0, 0));
  Client& c = clients.at(0);
  EXPECT_TRUE(c.Admit("a", At(12, 0, 1)).ok());
  EXPECT_EQ(c.Admit("a", At(12, 0, 2)).refusal, Refusal::kDay);
  std::vector<ClientUsageDelta> out = clients.TakePending();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].requests, 1);
  EXPECT_EQ(clients.View(At(12, 0, 3))[0].today_requests, 3);
}

TEST(Client, StatusCountsAndRefusalsAreViewed) {
  QuotaClock clock = Utc();
  Client c(Spec(1, 0), clock);
  c.Admit("a", At(12, 0, 0));
  c.Admit("a", At(12, 0, 0));
  c.CountStatus(200);
  c.CountStatus(429);
  c.CountStatus(429);
  c.CountStatus(999);  // ignored
  ClientView v = c.View(At(12, 0, 0));
  ASSERT_EQ(v.codes.size(), 2u);
  EXPECT_EQ(v.codes[0], (std::pair<int, uint64_t>{200, 1}));
  EXPECT_EQ(v.codes[1], (std::pair<int, uint64_t>{429, 2}));
  EXPECT_EQ(v.refused[static_cast<size_t>(Refusal::kMinute)], 1u);
  EXPECT_EQ(RefusalName(Refusal::kMinute), "rpm");
}

// Shared state (SPEC 6): other instances' requests of the client count in its admission.
TEST(Client, OtherInstancesRequestsTodayCountForRpd) {
  QuotaClock clock = Utc();
  Client c(Spec(0, 10), clock);
  c.SetOthersToday("2026-03-10", 8, At(12, 0, 0));
  EXPECT_TRUE(c.Admit("m", At(12, 0, 1)).ok());
  EXPECT_TRUE(c.Admit("m", At(12, 0, 2)).ok());
  Admission a = c.Admit("m", At(12, 0, 3));
  EXPECT_EQ(a.refusal, Refusal::kDay) << "2 here + 8 elsewhere";
  c.SetOthersToday("2026-03-10", 7, At(12, 0, 4));  // replaces, does not add
  EXPECT_TRUE(c.Admit("m", At(12, 0, 5)).ok());
  EXPECT_EQ(c.Admit("m", At(12, 0, 6)).refusal, Refusal::kDay);
  c.SetOthersToday("2026-03-09", 0, At(12, 0, 7));  // another day's figure: ignored
  EXPECT_EQ(c.Admit("m", At(12, 0, 8)).refusal, Refusal::kDay);
  EXPECT_EQ(c.View(At(12, 0, 9)).today_requests, 3) << "the view is this instance's";
  EXPECT_TRUE(c.Admit("m", At(23, 59, 59) + seconds(2)).ok()) << "a new day forgets them";
}

TEST(Client, OtherInstancesLastMinuteCountsForRpmAndOwnAdmissionsAreTakenPerMinute) {
  QuotaClock clock = Utc();
  Client c(Spec(3, 0), clock);
  std::vector<ClientMinuteCount> out;
  c.TakeMinuteCounts(out);
  EXPECT_TRUE(out.empty()) << "not shared without OnCount";
  int woken = 0;
  c.OnCount([&] { ++woken; });
  c.SetOthersMinute(2);
  EXPECT_TRUE(c.Admit("m", At(12, 0, 1)).ok());
  EXPECT_EQ(c.Admit("m", At(12, 0, 2)).refusal, Refusal::kMinute);
  c.SetOthersMinute(0);
  EXPECT_TRUE(c.Admit("m", At(12, 0, 59)).ok());
  EXPECT_TRUE(c.Admit("m", At(12, 1, 0)).ok());
  EXPECT_EQ(woken, 1);
  c.TakeMinuteCounts(out);
  ASSERT_EQ(out.size(), 2u);
  const int64_t minute = ToUnixMs(At(12, 0, 0)) / 60000;
  EXPECT_EQ(out[0].client, "ci-bots");
  EXPECT_EQ(out[0].minute, minute);
  EXPECT_EQ(out[0].requests, 2);
  EXPECT_EQ(out[1].minute, minute + 1);
  EXPECT_EQ(out[1].requests, 1);
  out.clear();
  c.TakeMinuteCounts(out);
  EXPECT_TRUE(out.empty());
}

TEST(Client, AClientWithoutRpmNeverWakesTheRedisWriter) {
  Client c(Spec(0, 100), Utc());
  int woken = 0;
  c.OnCount([&] { ++woken; });
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(c.Admit("m", At(12, 0, i)).ok());
  std::vector<ClientMinuteCount> out;
  c.TakeMinuteCounts(out);
  EXPECT_EQ(woken, 0);
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace gkm
