// Pick cost: KeyPool::Pick with 10, 10,000 and 100,000 keys of which 99 % (9 of 10 for the
// 10-key pool) are exhausted for the model, as in the key-count section of bench/run.sh.
// Built by bench/run.sh against the Release libraries in build-release/ (Google Benchmark).
// Reports the time per pick and the steps (ring probes plus heap pops) the pool counts.
#include <benchmark/benchmark.h>

#include <chrono>
#include <string>
#include <vector>

#include "keypool/key_pool.h"

namespace {

using namespace std::chrono_literals;

gkm::QuotaClock Clock() {
  std::string error;
  auto c = gkm::QuotaClock::Make("America/Los_Angeles", 0s, &error);
  if (!c) throw std::runtime_error(error);
  return *c;
}

std::vector<gkm::ApiKey> BenchKeys(size_t n) {
  std::vector<gkm::ApiKey> keys;
  keys.reserve(n);
  for (size_t i = 0; i < n; ++i) keys.emplace_back("bench-key-" + std::to_string(i) + "-pick");
  return keys;
}

// Runs the picks the benchmark times; returns the pool's steps per pick.
double TimePicks(benchmark::State& state, gkm::KeyPool& pool, const std::string& model,
                 gkm::TimePoint now) {
  uint64_t steps = 0;
  uint64_t picks = 0;
  for (auto _ : state) {
    auto r = pool.Pick(model, pool.NewRequest(), now);
    benchmark::DoNotOptimize(r);
    steps += pool.last_pick_steps();
    ++picks;
  }
  return picks ? static_cast<double>(steps) / static_cast<double>(picks) : 0;
}

void BM_Pick(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  gkm::KeyPool pool(BenchKeys(n), Clock());
  const gkm::TimePoint now = gkm::NowMs();
  const std::string model = "gemini-2.5-flash";
  size_t exhausted = 0;
  for (uint32_t s = 0; s < n; ++s) {
    if (s % 100 == 0) continue;  // the usable ones, as the stand-in's key map
    pool.Report(s, model, 429,
                gkm::Verdict{gkm::Outcome::kDayExhausted, 36000ms, "per-day quota", false, {}}, {},
                now);
    ++exhausted;
  }
  const double steps = TimePicks(state, pool, model, now);
  state.counters["keys"] = static_cast<double>(n);
  state.counters["exhausted"] = static_cast<double>(exhausted);
  state.counters["steps_per_pick"] = steps;
}

BENCHMARK(BM_Pick)->Arg(10)->Arg(10000)->Arg(100000);

// Projects and pacing (issue "Quota intelligence"): n keys in n/10 projects, pacing on (a
// --limit for the model), 99 % of the projects (all but one, for 10 keys) exhausted for the
// day by a per-project 429 and out of the rotation; the picks go round the rest.
void BM_PickProjects(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  const size_t per_project = 10;
  std::vector<std::string> projects;
  for (size_t i = 0; i < n; ++i) projects.push_back("project-" + std::to_string(i / per_project));
  gkm::PoolOptions options;
  const std::string model = "gemini-2.5-flash";
  if (!options.limits.Add(model + "=1000000000/1000000000").empty()) {
    throw std::runtime_error("bad --limit");
  }
  gkm::KeyPool pool(BenchKeys(n), Clock(), std::move(options), std::move(projects));
  const gkm::TimePoint now = gkm::NowMs();
  const size_t project_count = (n + per_project - 1) / per_project;
  gkm::Verdict day{gkm::Outcome::kDayExhausted, 36000ms, "per-day quota", true, {}};
  size_t exhausted = 0;
  for (size_t p = 0; p < project_count; ++p) {
    if (project_count < 100 ? p == 0 : p % 100 == 0) continue;
    pool.Report(static_cast<uint32_t>(p * per_project), model, 429, day, {}, now);
    ++exhausted;
  }
  const double steps = TimePicks(state, pool, model, now);
  state.counters["keys"] = static_cast<double>(n);
  state.counters["projects"] = static_cast<double>(project_count);
  state.counters["exhausted"] = static_cast<double>(exhausted);
  state.counters["steps_per_pick"] = steps;
}

BENCHMARK(BM_PickProjects)->Arg(10)->Arg(100000);

}  // namespace

BENCHMARK_MAIN();
