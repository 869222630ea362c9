// Projects, learned limits and pacing in the key pool (SPEC 4.5, 4.6): verdicts come from
// Google-shaped 429 bodies through the real Classify, time is injected.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "keypool/key_pool.h"
#include "support/la_clock.h"

namespace gkm {
namespace {

using namespace std::chrono_literals;

QuotaClock LosAngeles() { return testing_util::LosAngelesClock(); }

// 2026-11-27 12:00:00 UTC (04:00 in Los Angeles), on a minute boundary.
const TimePoint kNoon = FromUnixMs(1795780800000);

// Keys "key-<project>-<i>"; project "" makes keys of their own projects.
struct Fleet {
  std::vector<ApiKey> keys;
  std::vector<std::string> projects;
  void Add(const std::string& project, int n) {
    for (int i = 0; i < n; ++i) {
      keys.emplace_back("key-" + (project.empty() ? "own" : project) + "-" +
                        std::to_string(keys.size()));
      projects.push_back(project);
    }
  }
};

std::unique_ptr<KeyPool> MakePool(Fleet f, PoolOptions o = {}) {
  return std::make_unique<KeyPool>(std::move(f.keys), LosAngeles(), std::move(o),
                                   std::move(f.projects));
}

// A 429 as Google sends it: one violation per (quotaId, value), a RetryInfo.
std::string Body429(std::vector<std::pair<std::string, int64_t>> violations,
                    std::string retry = "") {
  std::string v;
  for (const auto& [id, value] : violations) {
    if (!v.empty()) v += ",";
    v +=
        R"({"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":")" +
        id + R"(","quotaDimensions":{"location":"global","model":"m"},"quotaValue":")" +
        std::to_string(value) + R"("})";
  }
  std::string body =
      R"({"error":{"code":429,"message":"You exceeded your current quota","status":"RESOURCE_EXHAUSTED","details":[)"
      R"({"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[)" +
      v + "]}";
  if (!retry.empty()) {
    body +=
        R"(,{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":")" + retry + "\"}";
  }
  return body + "]}}";
}

constexpr char kMinuteProject[] = "GenerateRequestsPerMinutePerProjectPerModel-FreeTier";
constexpr char kDayProject[] = "GenerateRequestsPerDayPerProjectPerModel-FreeTier";
constexpr char kTokensMinute[] = "GenerateContentInputTokensPerModelPerMinute-FreeTier";

Verdict Judge(const std::string& body) { return Classify(429, body, Bare429::kDay); }
Verdict Ok() { return Verdict{}; }
Verdict V503() { return Classify(503, "", Bare429::kDay); }

// The project of the key picked, from the key's text.
std::string ProjectOf(const PickedKey& k) {
  std::string_view s = k.key->reveal();
  s.remove_prefix(4);
  return std::string(s.substr(0, s.find('-')));
}

std::optional<PickedKey> TryPick(KeyPool& pool, std::string_view model, TimePoint now) {
  auto r = pool.Pick(model, pool.NewRequest(), now);
  if (auto* k = std::get_if<PickedKey>(&r)) return *k;
  return std::nullopt;
}

// Picks and answers 200 until nothing can be picked; returns how many were served.
int ServeAll(KeyPool& pool, std::string_view model, TimePoint now, int cap = 1000) {
  int n = 0;
  while (n < cap) {
    auto k = TryPick(pool, model, now);
    if (!k) break;
    pool.Report(k->slot, model, 200, Ok(), {}, now);
    ++n;
  }
  return n;
}

TEST(Verdict, PerProjectAndQuotaFactsFromViolations) {
  Verdict day = Judge(Body429({{kDayProject, 250}}, "36s"));
  EXPECT_EQ(day.outcome, Outcome::kDayExhausted);
  EXPECT_TRUE(day.per_project);
  ASSERT_EQ(day.quotas.size(), 1u);
  EXPECT_EQ(day.quotas[0].window, QuotaFact::Window::kDay);
  EXPECT_EQ(day.quotas[0].metric, QuotaFact::Metric::kRequests);
  EXPECT_EQ(day.quotas[0].value, 250);

  Verdict minute = Judge(Body429({{kMinuteProject, 5}, {kTokensMinute, 250000}}, "45.837906927s"));
  EXPECT_EQ(minute.outcome, Outcome::kCooling);
  EXPECT_TRUE(minute.per_project);
  EXPECT_EQ(minute.retry_delay, 45837ms);
  ASSERT_EQ(minute.quotas.size(), 2u);
  EXPECT_EQ(minute.quotas[1].metric, QuotaFact::Metric::kInputTokens);
  EXPECT_EQ(minute.quotas[1].value, 250000);

  // The token quota alone does not name the project: the key cools, not its project.
  Verdict tokens = Judge(Body429({{kTokensMinute, 1000}}, "3s"));
  EXPECT_EQ(tokens.outcome, Outcome::kCooling);
  EXPECT_FALSE(tokens.per_project);

  Verdict zero = Judge(Body429({{kDayProject, 0}}));
  EXPECT_EQ(zero.reason, "quota limit 0");
  EXPECT_TRUE(zero.per_project);
  ASSERT_EQ(zero.quotas.size(), 1u);
  EXPECT_EQ(zero.quotas[0].value, 0);

  // A RetryInfo alone teaches nothing.
  std::string retry_only =
      R"({"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"2s"}]}})";
  EXPECT_TRUE(Judge(retry_only).quotas.empty());
  EXPECT_FALSE(Judge(retry_only).per_project);
}

TEST(Projects, RotationAlternatesProjectsThenKeys) {
  Fleet f;
  f.Add("a", 3);
  f.Add("b", 1);
  auto pool = MakePool(f);
  // Tracked from the first answer on.
  auto first = TryPick(*pool, "m", kNoon);
  pool->Report(first->slot, "m", 200, Ok(), {}, kNoon);
  std::map<std::string, int> by_project;
  std::map<uint32_t, int> by_key;
  for (int i = 0; i < 120; ++i) {
    auto k = TryPick(*pool, "m", kNoon);
    ASSERT_TRUE(k);
    ++by_project[ProjectOf(*k)];
    ++by_key[k->slot];
  }
  EXPECT_EQ(by_project["a"], 60);
  EXPECT_EQ(by_project["b"], 60);
  for (uint32_t s = 0; s < 3; ++s) EXPECT_EQ(by_key[s], 20) << s;
  EXPECT_EQ(by_key[3], 60);
}

TEST(Projects, PerProjectDayQuotaRetiresEveryKeyOfTheProjectForThatModel) {
  Fleet f;
  f.Add("a", 3);
  f.Add("b", 1);
  auto pool = MakePool(f);
  auto k = TryPick(*pool, "m", kNoon);
  ASSERT_EQ(ProjectOf(*k), "a");
  pool->Report(k->slot, "m", 429, Judge(Body429({{kDayProject, 20}}, "0s")), {}, kNoon);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(ProjectOf(*TryPick(*pool, "m", kNoon)), "b");
  // Another model is not touched.
  std::set<std::string> other;
  for (int i = 0; i < 4; ++i) other.insert(ProjectOf(*TryPick(*pool, "other", kNoon)));
  EXPECT_TRUE(other.count("a"));
  // Every key of the project shows the state, with the project's reason and until.
  PoolView v = pool->View(kNoon);
  int exhausted = 0;
  for (const KeyView& kv : v.keys) {
    for (const KeyModelView& mv : kv.models) {
      if (mv.model == "m" && mv.state == "exhausted") {
        ++exhausted;
        EXPECT_EQ(kv.project, "a");
        EXPECT_EQ(mv.until, LosAngeles().NextReset(kNoon));
      }
    }
  }
  EXPECT_EQ(exhausted, 3);
  EXPECT_EQ(pool->Gauges(kNoon).project_models_exhausted, 1);
  // The next quota day, project a serves again.
  const TimePoint tomorrow = LosAngeles().NextReset(kNoon) + 1s;
  std::set<std::string> seen;
  for (int i = 0; i < 4; ++i) seen.insert(ProjectOf(*TryPick(*pool, "m", tomorrow)));
  EXPECT_TRUE(seen.count("a"));
}

TEST(Projects, KeyVerdictsStayPerKeyAndPlainKeysAreTheirOwnProjects) {
  Fleet f;
  f.Add("", 3);
  auto pool = MakePool(f);
  auto k = TryPick(*pool, "m", kNoon);
  pool->Report(k->slot, "m", 429, Judge(Body429({{kDayProject, 20}})), {}, kNoon);
  std::set<uint32_t> seen;
  for (int i = 0; i < 6; ++i) seen.insert(TryPick(*pool, "m", kNoon)->slot);
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_FALSE(seen.count(k->slot));
  PoolView v = pool->View(kNoon);
  for (const KeyView& kv : v.keys) EXPECT_EQ(kv.project, "");
}

TEST(Pacing, LearnedMinuteLimitIsNeverExceededAndThePhaseComesFromRetryInfo) {
  Fleet f;
  f.Add("a", 2);
  auto pool = MakePool(f);
  // Google's window ends 17.2 s from now: its windows start at :17 past each minute (phases
  // are kept to the second). The project cools until the later of that and the next minute
  // (SPEC 4.2).
  auto k = TryPick(*pool, "m", kNoon);
  pool->Report(k->slot, "m", 429, Judge(Body429({{kMinuteProject, 5}}, "17.2s")), {}, kNoon);
  EXPECT_FALSE(TryPick(*pool, "m", kNoon + 17s));
  auto nk = pool->Unavailable("m", kNoon + 17s);
  ASSERT_TRUE(nk);
  EXPECT_EQ(nk->why, NoKey::Why::kCooling);
  EXPECT_EQ(nk->retry_after, 43s);
  // From then on: five per window of Google's phase, whatever the wall-clock minute says.
  EXPECT_EQ(ServeAll(*pool, "m", kNoon + 60s), 5);  // window [:17, 1:17)
  auto paced = pool->Pick("m", pool->NewRequest(), kNoon + 70s);
  ASSERT_TRUE(std::holds_alternative<NoKey>(paced));
  EXPECT_EQ(std::get<NoKey>(paced).retry_after, 7s);
  EXPECT_NE(std::get<NoKey>(paced).message.find("paced by their per-minute limit"),
            std::string::npos);
  EXPECT_EQ(pool->Gauges(kNoon + 70s).project_models_paced, 1);
  EXPECT_EQ(ServeAll(*pool, "m", kNoon + 77s), 5);
  EXPECT_EQ(ServeAll(*pool, "m", kNoon + 120s), 0);  // crossing :00 changes nothing
  EXPECT_EQ(ServeAll(*pool, "m", kNoon + 137s), 5);
}

TEST(Pacing, FlagLimitsPaceFromTheFirstRequestAndDaysReset) {
  Fleet f;
  f.Add("a", 2);
  f.Add("b", 2);
  PoolOptions o;
  ASSERT_EQ(o.limits.Add("gemini-*=-/3"), "");
  auto pool = MakePool(f, std::move(o));
  // Not yet tracked, but paced: three per project per day.
  EXPECT_EQ(ServeAll(*pool, "gemini-x", kNoon), 6);
  auto r = pool->Pick("gemini-x", pool->NewRequest(), kNoon + 1h);
  ASSERT_TRUE(std::holds_alternative<NoKey>(r));
  EXPECT_EQ(std::get<NoKey>(r).why, NoKey::Why::kExhausted);
  EXPECT_NE(std::get<NoKey>(r).message.find("known per-day limit"), std::string::npos);
  const TimePoint reset = LosAngeles().NextReset(kNoon);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::seconds>(std::get<NoKey>(r).retry_after),
            std::chrono::duration_cast<std::chrono::seconds>(reset - (kNoon + 1h)));
  // A model the flag does not name is not paced.
  EXPECT_EQ(ServeAll(*pool, "other", kNoon, 50), 50);
  EXPECT_EQ(ServeAll(*pool, "gemini-x", reset), 6);
}

TEST(Pacing, A429GivesItsReservationBack) {
  Fleet f;
  f.Add("a", 1);
  PoolOptions o;
  ASSERT_EQ(o.limits.Add("m=-/2"), "");
  auto pool = MakePool(f, std::move(o));
  auto k = TryPick(*pool, "m", kNoon);
  // A bare RetryInfo 429: the key cools, the request was not counted by Google.
  pool->Report(
      k->slot, "m", 429,
      Judge(
          R"({"error":{"code":429,"details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1s"}]}})"),
      {}, kNoon);
  EXPECT_EQ(ServeAll(*pool, "m", kNoon + 2min), 2);
}

TEST(Pacing, ZeroLimitsSkipTheProjectOnLaterDaysWithoutAsking) {
  Fleet f;
  f.Add("a", 1);
  f.Add("b", 1);
  auto pool = MakePool(f);
  auto k = TryPick(*pool, "m", kNoon);
  const std::string project = ProjectOf(*k);
  pool->Report(k->slot, "m", 429, Judge(Body429({{kDayProject, 0}})), {}, kNoon);
  const TimePoint tomorrow = LosAngeles().NextReset(kNoon) + 1min;
  for (int i = 0; i < 6; ++i) EXPECT_NE(ProjectOf(*TryPick(*pool, "m", tomorrow)), project);
}

TEST(Pacing, InputTokensPerMinute) {
  Fleet f;
  f.Add("a", 1);
  PoolOptions o;
  ASSERT_EQ(o.limits.Add("m=-/-/1000"), "");
  auto pool = MakePool(f, std::move(o));
  auto k = TryPick(*pool, "m", kNoon);
  pool->Report(k->slot, "m", 200, Ok(), TokenUsage{1200, 5, 0}, kNoon + 1s);
  EXPECT_FALSE(TryPick(*pool, "m", kNoon + 2s));
  EXPECT_TRUE(TryPick(*pool, "m", kNoon + 60s));
}

// The pool keeps learned limits in 32 bits (ProjectModel's first cache line). One of 2^31
// or more does not pace, is shown whole, and is stored whole; one just below paces exactly.
TEST(Pacing, LearnedLimitsBeyond32BitsDoNotPaceAndAreShownWhole) {
  Fleet f;
  f.Add("a", 1);
  f.Add("b", 1);
  auto pool = MakePool(f);
  const int64_t huge = int64_t{5000000000};
  const int64_t below = int64_t{INT32_MAX} - 1;
  auto k = TryPick(*pool, "m", kNoon);
  ASSERT_EQ(ProjectOf(*k), "a");
  pool->Report(k->slot, "m", 429, Judge(Body429({{kTokensMinute, huge}}, "3s")), {}, kNoon);
  k = TryPick(*pool, "m", kNoon);
  ASSERT_EQ(ProjectOf(*k), "b");
  pool->Report(k->slot, "m", 429, Judge(Body429({{kTokensMinute, below}}, "3s")), {}, kNoon);
  Batch b = pool->TakeBatch(kNoon);
  ASSERT_EQ(b.limits.size(), 2u);
  EXPECT_EQ(b.limits[0].value, huge);
  EXPECT_EQ(b.limits[1].value, below);

  // The next minute: 3e9 input tokens through a, and INT32_MAX - 1 through b.
  const TimePoint next = kNoon + 1min;
  for (int i = 0; i < 2; ++i) {
    k = TryPick(*pool, "m", next);
    ASSERT_TRUE(k.has_value());
    const bool a = ProjectOf(*k) == "a";
    pool->Report(k->slot, "m", 200, Ok(), TokenUsage{a ? 3000000000 : below, 1, 0}, next);
  }
  // a still serves (its limit is too large to pace); b is at its limit.
  for (int i = 0; i < 3; ++i) {
    k = TryPick(*pool, "m", next + 1s);
    ASSERT_TRUE(k.has_value());
    EXPECT_EQ(ProjectOf(*k), "a");
    pool->Report(k->slot, "m", 200, Ok(), {}, next + 1s);
  }
  CapacityView cap = pool->Capacity(next + 1s);
  ASSERT_EQ(cap.models.size(), 1u);
  ASSERT_EQ(cap.models[0].projects.size(), 2u);
  for (const ProjectCapacity& pc : cap.models[0].projects) {
    EXPECT_EQ(pc.learned.tpm, pc.project == "a" ? huge : below) << pc.project;
    EXPECT_EQ(pc.limits.tpm, pc.learned.tpm) << pc.project;
    EXPECT_EQ(pc.state, pc.project == "a" ? "ok" : "cooling") << pc.project;
  }
}

TEST(Pacing, LearnedLimitsAndProjectStatesSurviveARestart) {
  Fleet f;
  f.Add("a", 2);
  f.Add("b", 1);
  auto pool = MakePool(f);
  auto k = TryPick(*pool, "m", kNoon);
  ASSERT_EQ(ProjectOf(*k), "a");
  pool->Report(k->slot, "m", 200, Ok(), {}, kNoon);
  k = TryPick(*pool, "m", kNoon);
  ASSERT_EQ(ProjectOf(*k), "b");
  pool->Report(k->slot, "m", 429, Judge(Body429({{kDayProject, 4}, {kMinuteProject, 2}}, "20s")),
               {}, kNoon);
  Batch b = pool->TakeBatch(kNoon);
  ASSERT_EQ(b.limits.size(), 2u);
  ASSERT_EQ(b.project_states.size(), 1u);
  EXPECT_EQ(b.project_states[0].project, "b");
  EXPECT_EQ(b.project_states[0].state, "exhausted");

  Loaded loaded;
  loaded.limits = b.limits;
  loaded.project_states = b.project_states;
  loaded.usage = b.usage;
  // Project a learned the same limits elsewhere: 4 a day, and it sent 1 today.
  loaded.limits.push_back({"a", "m", "day", "requests", 4, 0});
  auto again = MakePool(f);
  again->Restore(loaded, kNoon + 1min);
  // b stays exhausted; a has 3 left today.
  EXPECT_EQ(ServeAll(*again, "m", kNoon + 1min), 3);
  CapacityView cap = again->Capacity(kNoon + 1min);
  ASSERT_EQ(cap.models.size(), 1u);
  EXPECT_EQ(cap.models[0].used_today, 4 + 0);
  EXPECT_EQ(cap.models[0].limit_today, 8);
  EXPECT_EQ(cap.models[0].left_today, 0);
}

TEST(Pacing, ResetKeyForgetsItsProjectsVerdictsAndLearnedLimits) {
  Fleet f;
  f.Add("a", 2);
  auto pool = MakePool(f);
  auto k = TryPick(*pool, "m", kNoon);
  pool->Report(k->slot, "m", 429, Judge(Body429({{kDayProject, 0}})), {}, kNoon);
  EXPECT_FALSE(TryPick(*pool, "m", kNoon));
  pool->TakeBatch(kNoon);
  ASSERT_TRUE(pool->ResetKey(k->key->id(), kNoon));
  EXPECT_TRUE(TryPick(*pool, "m", kNoon));
  Batch b = pool->TakeBatch(kNoon);
  bool forgot = false;
  for (const auto& l : b.limits) forgot = forgot || (l.window == "day" && l.value < 0);
  EXPECT_TRUE(forgot);
}

TEST(Projects, ReloadMovesAKeyToAnotherProject) {
  Fleet f;
  f.Add("a", 2);
  f.Add("b", 1);
  auto pool = MakePool(f);
  auto k = TryPick(*pool, "m", kNoon);
  pool->Report(k->slot, "m", 200, Ok(), {}, kNoon);
  Fleet g = f;
  g.projects[1] = "b";  // the second key of a is in fact b's
  pool->Reload(std::move(g.keys), false, kNoon, g.projects);
  std::map<uint32_t, int> n;
  for (int i = 0; i < 40; ++i) ++n[TryPick(*pool, "m", kNoon)->slot];
  EXPECT_EQ(n[0], 20);  // a holds one key now, b two
  EXPECT_EQ(n[1] + n[2], 20);
  EXPECT_EQ(pool->View(kNoon).keys[1].project, "b");
}

TEST(Pacing, PickStaysConstantWith100000KeysIn10000Projects) {
  Fleet f;
  for (int p = 0; p < 10000; ++p) f.Add("p" + std::to_string(p), 10);
  PoolOptions o;
  ASSERT_EQ(o.limits.Add("m=2/1000"), "");
  auto pool = MakePool(f, std::move(o));
  // All but the last 10 projects use their minute budget.
  uint64_t max_steps = 0;
  for (int i = 0; i < 2 * 9990; ++i) {
    auto k = TryPick(*pool, "m", kNoon);
    ASSERT_TRUE(k);
    pool->Report(k->slot, "m", 200, Ok(), {}, kNoon);
    max_steps = std::max(max_steps, pool->last_pick_steps());
  }
  for (int i = 0; i < 1000; ++i) {
    auto k = TryPick(*pool, "m", kNoon + 1s);
    ASSERT_TRUE(k);
    max_steps = std::max(max_steps, pool->last_pick_steps());
    pool->Report(k->slot, "m", 200, Ok(), {}, kNoon + 1s);
    if (i == 18) break;  // the last 10 projects hold 20 requests this minute
  }
  EXPECT_LE(max_steps, 4u);
}

}  // namespace
}  // namespace gkm

namespace gkm {
namespace {

TEST(IndexSet, NextFromAcrossLevels) {
  IndexSet s;
  s.Resize(300000);
  EXPECT_FALSE(s.NextFrom(0));
  for (size_t i : {5u, 64u, 4095u, 4096u, 262143u, 299999u}) s.Insert(i);
  EXPECT_EQ(s.NextFrom(0), 5u);
  EXPECT_EQ(s.NextFrom(6), 64u);
  EXPECT_EQ(s.NextFrom(65), 4095u);
  EXPECT_EQ(s.NextFrom(4097), 262143u);
  EXPECT_EQ(s.NextFrom(262144), 299999u);
  EXPECT_FALSE(s.NextFrom(300000));
  s.Erase(4095);
  s.Erase(4096);
  EXPECT_EQ(s.NextFrom(65), 262143u);
  EXPECT_TRUE(s.Contains(64));
  EXPECT_FALSE(s.Contains(4096));
  s.Resize(600000);  // growing keeps the members
  EXPECT_EQ(s.NextFrom(6), 64u);
  s.Insert(599999);
  EXPECT_EQ(s.NextFrom(300000), 599999u);
}

std::unique_ptr<KeyPool> StrategyPool(PoolStrategy st, int projects, int keys_each,
                                      const char* limit) {
  Fleet f;
  for (int p = 0; p < projects; ++p) f.Add("p" + std::to_string(p), keys_each);
  PoolOptions o;
  o.strategy = st;
  if (limit) {
    EXPECT_EQ(o.limits.Add(limit), "");
  }
  return MakePool(std::move(f), std::move(o));
}

int ProjectNo(const PickedKey& k) { return std::stoi(ProjectOf(k).substr(1)); }

TEST(Strategy, FillFirstDrainsOneProjectBeforeTheNext) {
  auto pool = StrategyPool(PoolStrategy::kFillFirst, 3, 2, "m=-/4");
  std::vector<int> order;
  for (int i = 0; i < 12; ++i) {
    auto k = TryPick(*pool, "m", kNoon);
    ASSERT_TRUE(k);
    order.push_back(ProjectNo(*k));
    pool->Report(k->slot, "m", 200, Ok(), {}, kNoon);
  }
  EXPECT_EQ(order, (std::vector<int>{0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2}));
  EXPECT_FALSE(TryPick(*pool, "m", kNoon));
  // The keys of the project being filled still take turns, and a request never gets the
  // same key twice: its retry goes to the project's other key, then to the next project.
  auto again = StrategyPool(PoolStrategy::kFillFirst, 2, 2, nullptr);
  const uint64_t req = again->NewRequest();
  std::vector<int> tries;
  for (int i = 0; i < 4; ++i) {
    auto r = again->Pick("m", req, kNoon);
    ASSERT_TRUE(std::holds_alternative<PickedKey>(r));
    tries.push_back(static_cast<int>(std::get<PickedKey>(r).slot));
    again->Report(std::get<PickedKey>(r).slot, "m", 503, V503(), {}, kNoon);
  }
  EXPECT_EQ(std::set<int>(tries.begin(), tries.end()).size(), 4u);
  EXPECT_LT(std::max(tries[0], tries[1]), std::min(tries[2], tries[3]));
}

TEST(Strategy, LeastUsedSpreadsBySharesOfTheDailyLimit) {
  Fleet f;
  f.Add("big", 1);
  f.Add("small", 1);
  PoolOptions o;
  o.strategy = PoolStrategy::kLeastUsed;
  auto pool = MakePool(std::move(f), std::move(o));
  // Learned: big allows 300 a day, small 100.
  for (auto [project, rpd] : {std::pair{"big", 300}, std::pair{"small", 100}}) {
    Loaded l;
    l.limits.push_back({project, "m", "day", "requests", rpd, 0});
    pool->Restore(l, kNoon);
  }
  std::map<std::string, int> n;
  for (int i = 0; i < 200; ++i) {
    auto k = TryPick(*pool, "m", kNoon);
    ASSERT_TRUE(k);
    ++n[ProjectOf(*k)];
    pool->Report(k->slot, "m", 200, Ok(), {}, kNoon);
  }
  // Three to one, as their limits are, within a bucket's width.
  EXPECT_NEAR(n["big"], 150, 6);
  EXPECT_NEAR(n["small"], 50, 6);
}

TEST(Strategy, EveryStrategyPicksInConstantStepsAt100000KeysIn10000Projects) {
  for (PoolStrategy st :
       {PoolStrategy::kRoundRobin, PoolStrategy::kLeastUsed, PoolStrategy::kFillFirst}) {
    auto pool = StrategyPool(st, 10000, 10, "m=2/1000");
    uint64_t max_steps = 0;
    // Use up the minute budget of all projects but a few, then pick among those few.
    for (int i = 0; i < 2 * 9990; ++i) {
      auto k = TryPick(*pool, "m", kNoon);
      ASSERT_TRUE(k) << static_cast<int>(st) << " at " << i;
      max_steps = std::max(max_steps, pool->last_pick_steps());
      pool->Report(k->slot, "m", 200, Ok(), {}, kNoon);
    }
    EXPECT_LE(max_steps, 4u) << static_cast<int>(st);
  }
}

}  // namespace
}  // namespace gkm

namespace gkm {
namespace {

// The quota day is Pacific: on the days the clocks change it is 25 or 23 hours long, and the
// per-day budget opens at the real midnight.
TEST(Pacing, DayWindowsFollowPacificMidnightAcrossDstChanges) {
  struct Case {
    const char* what;
    int64_t late_evening_ms;  // 23:30 local, on the day of the change
    int64_t midnight_ms;      // the next local midnight
  };
  const Case cases[] = {
      // 2026-11-01 (25 h, clocks back): 23:30 PST = 07:30 UTC on Nov 2; midnight 08:00 UTC.
      {"fall back", 1793604600000, 1793606400000},
      // 2026-03-08 (23 h, clocks forward): 23:30 PDT = 06:30 UTC on Mar 9; midnight 07:00 UTC.
      {"spring forward", 1773037800000, 1773039600000},
  };
  for (const Case& c : cases) {
    Fleet f;
    f.Add("a", 1);
    PoolOptions o;
    ASSERT_EQ(o.limits.Add("m=-/2"), "");
    auto pool = MakePool(f, std::move(o));
    const TimePoint evening = FromUnixMs(c.late_evening_ms);
    const TimePoint midnight = FromUnixMs(c.midnight_ms);
    ASSERT_EQ(LosAngeles().NextReset(evening), midnight) << c.what;
    EXPECT_EQ(ServeAll(*pool, "m", evening), 2) << c.what;
    auto r = pool->Pick("m", pool->NewRequest(), evening);
    ASSERT_TRUE(std::holds_alternative<NoKey>(r)) << c.what;
    EXPECT_EQ(std::get<NoKey>(r).retry_after, 30min) << c.what;
    EXPECT_EQ(ServeAll(*pool, "m", midnight - 1s), 0) << c.what;
    EXPECT_EQ(ServeAll(*pool, "m", midnight), 2) << c.what;
  }
}

}  // namespace
}  // namespace gkm
