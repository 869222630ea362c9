// Shared-cursor pick cost: what a pick would cost if every request advanced one rotation
// cursor in Redis instead of the pool's local view (issue "a local view so a pick costs no
// Redis round trip when nothing changed: measure both ways"). One EVALSHA per pick: INCR the
// cursor, take it mod N, skip keys marked cooling in a hash, return the index. Sequential (one
// round trip per pick, what a request would wait) and with 4 or 16 picks in flight on the
// connection (pipelined, as an async client multiplexing concurrent requests would send them).
// Compare with bench/pick_bench.cc's BM_Pick (the local pick).
//
// Needs a running redis-server: REDIS_PORT (default 6379), REDIS_PASSWORD (default none),
// REDIS_DB (default 15; the bench's keys are under gkm-bench: and deleted at the end).
// Built and run by bench/run.sh's redis section (Google Benchmark + hiredis).
#include <benchmark/benchmark.h>
#include <hiredis/hiredis.h>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

constexpr int kKeys = 10;
const char* const kScript = R"(
local n = tonumber(ARGV[1])
for _ = 1, n do
  local c = redis.call('INCR', KEYS[1]) % n
  if redis.call('HEXISTS', KEYS[2], c) == 0 then return c end
end
return -1
)";

std::string Env(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != 0 ? v : fallback;
}

redisReply* Run(redisContext* c, std::vector<std::string> args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
  if (r == nullptr) throw std::runtime_error(std::string("redis: ") + c->errstr);
  if (r->type == REDIS_REPLY_ERROR) {
    std::string e(r->str, r->len);
    freeReplyObject(r);
    throw std::runtime_error("redis: " + e);
  }
  return r;
}

struct Conn {
  redisContext* c = nullptr;
  std::string sha;
  Conn() {
    c = redisConnect("127.0.0.1", std::stoi(Env("REDIS_PORT", "6379")));
    if (c == nullptr || c->err != 0) throw std::runtime_error("cannot connect to redis-server");
    if (std::string pw = Env("REDIS_PASSWORD", ""); !pw.empty())
      freeReplyObject(Run(c, {"AUTH", pw}));
    freeReplyObject(Run(c, {"SELECT", Env("REDIS_DB", "15")}));
    redisReply* r = Run(c, {"SCRIPT", "LOAD", kScript});
    sha.assign(r->str, r->len);
    freeReplyObject(r);
  }
  ~Conn() {
    if (c == nullptr) return;
    freeReplyObject(Run(c, {"DEL", "gkm-bench:cur", "gkm-bench:cooling"}));
    redisFree(c);
  }
};

// state.range(0): picks in flight; state.range(1): keys of the 10 marked cooling.
void BM_SharedCursorPick(benchmark::State& state) {
  Conn conn;
  const int inflight = static_cast<int>(state.range(0));
  const int cooling = static_cast<int>(state.range(1));
  freeReplyObject(Run(conn.c, {"DEL", "gkm-bench:cur", "gkm-bench:cooling"}));
  for (int i = 0; i < cooling; ++i) {
    freeReplyObject(Run(conn.c, {"HSET", "gkm-bench:cooling", std::to_string(i), "1"}));
  }
  const std::string n = std::to_string(kKeys);
  const char* argv[] = {"EVALSHA",       conn.sha.c_str(),    "2",
                        "gkm-bench:cur", "gkm-bench:cooling", n.c_str()};
  size_t lens[6];
  for (int i = 0; i < 6; ++i) lens[i] = std::char_traits<char>::length(argv[i]);
  int64_t picks = 0, sum = 0;
  for (auto _ : state) {
    for (int i = 0; i < inflight; ++i) redisAppendCommandArgv(conn.c, 6, argv, lens);
    for (int i = 0; i < inflight; ++i) {
      void* r = nullptr;
      if (redisGetReply(conn.c, &r) != REDIS_OK || r == nullptr) {
        state.SkipWithError("the connection failed");
        return;
      }
      sum += static_cast<redisReply*>(r)->integer;
      freeReplyObject(r);
    }
    picks += inflight;
  }
  benchmark::DoNotOptimize(sum);
  // Time per iteration is one round trip (what each of the `inflight` requests waits);
  // ns_per_pick is the connection's cost per pick.
  state.counters["inflight"] = inflight;
  state.counters["cooling"] = cooling;
  state.counters["picks"] = static_cast<double>(picks);
  state.counters["ns_per_pick"] = benchmark::Counter(
      static_cast<double>(picks), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

BENCHMARK(BM_SharedCursorPick)
    ->Args({1, 0})
    ->Args({4, 0})
    ->Args({16, 0})
    ->Args({1, 9})
    ->Args({16, 9})
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
