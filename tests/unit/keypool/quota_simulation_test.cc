// A simulated day of quota use (issue "Quota intelligence"): 4 projects of 3 keys, 2 models,
// 5 requests per minute and 12 per day per (project, model), bursty arrivals over a whole
// quota day on an injected clock. A simulated Google counts as the real one does (minute
// windows from second :00, days from midnight Pacific, a 429 not counted) and answers with
// Google's 429 bodies, judged by the real Classify. Reported: served vs. what a greedy oracle
// that knows every budget serves, and the 429s per (project, model).
#include <gtest/gtest.h>

#include <iostream>
#include <map>
#include <random>

#include "keypool/key_pool.h"
#include "support/la_clock.h"

namespace gkm {
namespace {

using namespace std::chrono_literals;

QuotaClock LosAngeles() { return testing_util::LosAngelesClock(); }

constexpr int kProjects = 4;
constexpr int kKeysPerProject = 3;
constexpr int64_t kRpm = 5;
constexpr int64_t kRpd = 12;
const std::vector<std::string> kModels = {"gemini-sim-flash", "gemini-sim-pro"};

// Google's side: budgets per (project, model).
class SimGoogle {
 public:
  explicit SimGoogle(QuotaClock clock) : clock_(clock) {}

  bool HasBudget(int project, const std::string& model, TimePoint now) {
    Counts& c = Roll(project, model, now);
    return c.day < kRpd && c.minute < kRpm;
  }
  bool AnyBudget(const std::string& model, TimePoint now) {
    for (int p = 0; p < kProjects; ++p) {
      if (HasBudget(p, model, now)) return true;
    }
    return false;
  }
  // Status and body of one generateContent.
  std::pair<int, std::string> Answer(int project, const std::string& model, TimePoint now) {
    Counts& c = Roll(project, model, now);
    const int64_t ms = ToUnixMs(now);
    if (c.day >= kRpd) {
      ++rejected[{project, model}];
      return {429, Body("GenerateRequestsPerDayPerProjectPerModel-FreeTier", kRpd, "36.123456s")};
    }
    if (c.minute >= kRpm) {
      ++rejected[{project, model}];
      const int64_t left = 60000 - ms % 60000;
      return {429, Body("GenerateRequestsPerMinutePerProjectPerModel-FreeTier", kRpm,
                        std::to_string(left / 1000) + "." +
                            std::to_string(100 + left % 1000).substr(1) + "654321s")};
    }
    ++c.minute;
    ++c.day;
    return {200, "{}"};
  }
  std::map<std::pair<int, std::string>, int> rejected;

 private:
  struct Counts {
    int64_t minute_no = -1, minute = 0;
    int32_t day_no = -1;
    int64_t day = 0;
  };
  Counts& Roll(int project, const std::string& model, TimePoint now) {
    Counts& c = counts_[{project, model}];
    const int64_t minute_no = ToUnixMs(now) / 60000;
    if (c.minute_no != minute_no) {
      c.minute_no = minute_no;
      c.minute = 0;
    }
    const int32_t day_no = clock_.DayNumberOf(now);
    if (c.day_no != day_no) {
      c.day_no = day_no;
      c.day = 0;
    }
    return c;
  }
  static std::string Body(const std::string& id, int64_t value, const std::string& retry) {
    return R"({"error":{"code":429,"message":"You exceeded your current quota","status":"RESOURCE_EXHAUSTED","details":[)"
           R"({"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":")" +
           id + R"(","quotaDimensions":{"location":"global","model":"m"},"quotaValue":")" +
           std::to_string(value) +
           R"("}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":")" + retry +
           R"("}]}})";
  }
  QuotaClock clock_;
  std::map<std::pair<int, std::string>, Counts> counts_;
};

struct DayResult {
  int arrivals = 0;
  int served = 0;
  int best = 0;     // served by a greedy oracle that knows every budget
  int bad_503 = 0;  // 503s while some project still had budget
  std::map<std::pair<int, std::string>, int> rejected;  // upstream 429s
};

// One quota day from `start`: bursts of 1..25 requests of a random model at random instants.
DayResult SimulateDay(KeyPool& pool, TimePoint start, uint32_t seed) {
  const QuotaClock clock = LosAngeles();
  SimGoogle google(clock), oracle(clock);
  std::mt19937 rng(seed);
  DayResult r;
  TimePoint now = start;
  const TimePoint end = clock.NextReset(start);
  while (true) {
    now += Millis(1000 + rng() % (40 * 60 * 1000));  // the next burst, within 40 minutes
    if (now >= end) break;
    const std::string& model = kModels[rng() % kModels.size()];
    const int burst = 1 + static_cast<int>(rng() % 25);
    for (int i = 0; i < burst; ++i) {
      const TimePoint t = now + Millis(i * 40);  // 25 requests a second
      ++r.arrivals;
      for (int p = 0; p < kProjects; ++p) {
        if (oracle.HasBudget(p, model, t)) {
          oracle.Answer(p, model, t);
          ++r.best;
          break;
        }
      }
      const uint64_t req = pool.NewRequest();
      bool served = false;
      for (int attempt = 0; attempt < kProjects * kKeysPerProject && !served; ++attempt) {
        auto pick = pool.Pick(model, req, t);
        if (!std::holds_alternative<PickedKey>(pick)) break;
        const PickedKey& k = std::get<PickedKey>(pick);
        const int project = static_cast<int>(k.slot) / kKeysPerProject;
        auto [status, body] = google.Answer(project, model, t);
        pool.Report(k.slot, model, status, Classify(status, body, Bare429::kDay), {}, t);
        served = status == 200;
      }
      if (served) {
        ++r.served;
      } else if (google.AnyBudget(model, t)) {
        ++r.bad_503;
      }
    }
  }
  r.rejected = google.rejected;
  return r;
}

std::unique_ptr<KeyPool> MakePool(PoolOptions o = {}) {
  std::vector<ApiKey> keys;
  std::vector<std::string> projects;
  for (int p = 0; p < kProjects; ++p) {
    for (int k = 0; k < kKeysPerProject; ++k) {
      keys.emplace_back("sim-key-" + std::to_string(p) + "-" + std::to_string(k));
      projects.push_back("project-" + std::to_string(p));
    }
  }
  return std::make_unique<KeyPool>(std::move(keys), LosAngeles(), std::move(o),
                                   std::move(projects));
}

void Report(const char* what, const DayResult& r) {
  int total429 = 0, worst = 0;
  for (const auto& [pm, n] : r.rejected) {
    total429 += n;
    worst = std::max(worst, n);
  }
  std::cout << "[simulation] " << what << ": arrivals " << r.arrivals << ", served " << r.served
            << " of best possible " << r.best << ", upstream 429s " << total429
            << " (most for one project-model " << worst << "), 503s while a project had budget "
            << r.bad_503 << "\n";
}

// 2026-11-27 00:00 in Los Angeles (08:00 UTC): the start of a quota day.
const TimePoint kDayStart = FromUnixMs(1795766400000);

TEST(QuotaSimulation, DayOneLearnsWithAtMostTwo429sPerProjectModelThenDayTwoHasNone) {
  auto pool = MakePool();
  ASSERT_EQ(LosAngeles().DayStart(kDayStart + 1h), kDayStart);
  const DayResult day1 = SimulateDay(*pool, kDayStart, 7);
  Report("day one, nothing known", day1);
  EXPECT_EQ(day1.served, day1.best);
  EXPECT_EQ(day1.bad_503, 0);
  ASSERT_FALSE(day1.rejected.empty()) << "the load must reach the limits to test anything";
  for (const auto& [pm, n] : day1.rejected) {
    EXPECT_LE(n, 2) << "project " << pm.first << " model " << pm.second;
  }
  // Limits learned on day one: none on day two.
  const DayResult day2 = SimulateDay(*pool, LosAngeles().NextReset(kDayStart), 8);
  Report("day two, learned limits", day2);
  EXPECT_TRUE(day2.rejected.empty());
  EXPECT_EQ(day2.served, day2.best);
  EXPECT_EQ(day2.bad_503, 0);
}

TEST(QuotaSimulation, KnownLimitsMeanNo429OnDayOne) {
  PoolOptions o;
  ASSERT_EQ(o.limits.Add("gemini-sim-*=5/12"), "");
  auto pool = MakePool(std::move(o));
  const DayResult day = SimulateDay(*pool, kDayStart, 9);
  Report("day one, --limit gemini-sim-*=5/12", day);
  EXPECT_TRUE(day.rejected.empty());
  EXPECT_EQ(day.served, day.best);
  EXPECT_EQ(day.bad_503, 0);
}

TEST(QuotaSimulation, LearnedLimitsSurviveARestartIntoDayTwo) {
  auto pool = MakePool();
  SimulateDay(*pool, kDayStart, 7);  // the day of the first test: every limit is met
  Batch b = pool->TakeBatch(kDayStart + 23h);
  ASSERT_EQ(b.limits.size(), 2u * kProjects * kModels.size()) << "a minute and a day limit each";
  Loaded loaded;
  loaded.limits = b.limits;
  auto again = MakePool();
  const TimePoint day2 = LosAngeles().NextReset(kDayStart);
  again->Restore(loaded, day2);
  const DayResult r = SimulateDay(*again, day2, 11);
  Report("day two after a restart", r);
  EXPECT_TRUE(r.rejected.empty());
  EXPECT_EQ(r.bad_503, 0);
}

}  // namespace
}  // namespace gkm
