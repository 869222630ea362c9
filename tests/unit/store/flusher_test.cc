// The flusher against a store that cannot write: memory stays bounded (rows merged, the
// oldest dropped beyond the cap), the failure is logged once per period, and what was kept
// is written, summed, once the store works again.
#include "store/flusher.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>

namespace gkm {
namespace {

UsageDelta Usage(std::string key, std::string model, std::string day, int64_t n) {
  UsageDelta u;
  u.key_id = std::move(key);
  u.model = std::move(model);
  u.day = std::move(day);
  u.requests = n;
  u.errors = n;
  u.prompt_tokens = 10 * n;
  return u;
}

TEST(MergeForRetry, CountersSumAndValuesKeepTheNewest) {
  Batch older;
  older.usage = {Usage("k1", "m", "d1", 1), Usage("k2", "m", "d1", 1)};
  older.states = {{"k1", "m", "cooling", 5, "429"}};
  older.statuses = {{"k1", "invalid", "bad"}};
  older.bindings = {{"file", "files/a", "k1", 1, 2}};
  older.cursors = {{"m", 3}};
  Batch newer;
  newer.usage = {Usage("k1", "m", "d1", 2), Usage("k1", "m", "d2", 4), Usage("k1", "m", "d1", 3)};
  newer.states = {{"k1", "m", "ok", 0, ""}};
  newer.statuses = {{"k1", "active", ""}};
  newer.bindings = {{"file", "files/a", "k2", 3, 4}};
  newer.cursors = {{"m", 7}};
  newer.bindings_expired_by_ms = 9;
  EXPECT_EQ(MergeForRetry(older, std::move(newer), 100), 0u);
  // Ordered by last change: the row the newer batch did not touch comes first.
  ASSERT_EQ(older.usage.size(), 3u);
  EXPECT_EQ(older.usage[0].key_id, "k2");
  EXPECT_EQ(older.usage[0].requests, 1);
  EXPECT_EQ(older.usage[1].key_id, "k1");
  EXPECT_EQ(older.usage[1].day, "d1");
  EXPECT_EQ(older.usage[1].requests, 6);
  EXPECT_EQ(older.usage[1].errors, 6);
  EXPECT_EQ(older.usage[1].prompt_tokens, 60);
  EXPECT_EQ(older.usage[2].day, "d2");
  EXPECT_EQ(older.usage[2].requests, 4);
  ASSERT_EQ(older.states.size(), 1u);
  EXPECT_EQ(older.states[0].state, "ok");
  ASSERT_EQ(older.statuses.size(), 1u);
  EXPECT_EQ(older.statuses[0].status, "active");
  ASSERT_EQ(older.bindings.size(), 1u);
  EXPECT_EQ(older.bindings[0].key_id, "k2");
  ASSERT_EQ(older.cursors.size(), 1u);
  EXPECT_EQ(older.cursors[0].second, 7);
  EXPECT_EQ(older.bindings_expired_by_ms, 9);
}

TEST(MergeForRetry, ClientUsageOfOneClientModelAndDaySumsUp) {
  Batch older;
  older.client_usage = {{"ci-bots", "m", "2026-03-10", 2}, {"alice", "m", "2026-03-10", 1}};
  Batch newer;
  newer.client_usage = {{"ci-bots", "m", "2026-03-10", 3}, {"ci-bots", "m", "2026-03-11", 4}};
  EXPECT_EQ(MergeForRetry(older, std::move(newer), 100), 0u);
  ASSERT_EQ(older.client_usage.size(), 3u);
  EXPECT_EQ(older.client_usage[0].client, "alice");
  EXPECT_EQ(older.client_usage[1].requests, 5);
  EXPECT_EQ(older.client_usage[2].day, "2026-03-11");
  EXPECT_EQ(RowCount(older), 3u);
  EXPECT_FALSE(older.empty());
}

TEST(MergeForRetry, BeyondTheCapTheOldestUsageGoesFirst) {
  Batch older;
  for (int i = 0; i < 10; ++i) older.usage.push_back(Usage("k" + std::to_string(i), "m", "d", 1));
  older.states = {{"k1", "m", "exhausted", 5, "day"}};
  Batch newer;
  for (int i = 10; i < 15; ++i) newer.usage.push_back(Usage("k" + std::to_string(i), "m", "d", 1));
  EXPECT_EQ(MergeForRetry(older, std::move(newer), 8), 8u);
  EXPECT_EQ(RowCount(older), 8u);
  ASSERT_EQ(older.usage.size(), 7u);
  EXPECT_EQ(older.usage.front().key_id, "k8") << "the oldest rows were dropped";
  EXPECT_EQ(older.usage.back().key_id, "k14");
  EXPECT_EQ(older.states.size(), 1u) << "states outlive history";
}

// Captures the log lines of the default logger for the test's life.
class LogCapture {
 public:
  LogCapture() : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000)) {
    old_ = spdlog::default_logger();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink_));
  }
  ~LogCapture() { spdlog::set_default_logger(old_); }
  size_t Count(std::string_view what) const {
    size_t n = 0;
    for (const auto& l : sink_->last_formatted()) n += l.find(what) != std::string::npos;
    return n;
  }
  std::string All() const {
    std::string s;
    for (const auto& l : sink_->last_formatted()) s += l;
    return s;
  }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
  std::shared_ptr<spdlog::logger> old_;
};

bool WaitUntil(const std::function<bool()>& cond) {
  for (int i = 0; i < 20000 && !cond(); ++i) usleep(500);
  return cond();
}

TEST(Flusher, AFailingStoreKeepsBoundedMemoryLogsOnceAndWritesTheSumLater) {
  LogCapture log;
  std::atomic<bool> fail{true};
  std::atomic<int> tries{0};
  std::vector<Batch> written;
  std::atomic<int> takes{0};
  Flusher f(
      [&](const Batch& b, std::string* error) {
        ++tries;
        if (fail) {
          *error = "database or disk is full";
          return false;
        }
        written.push_back(b);
        return true;
      },
      [&] {
        // Every take brings one more request of the same row and a new distinct row.
        int n = takes++;
        Batch b;
        b.usage = {Usage("k1", "m", "d", 1), Usage("row" + std::to_string(n), "m", "d", 1)};
        return b;
      },
      Millis(1), FlusherLimits{50, Millis(3600 * 1000)});
  f.Start();
  ASSERT_TRUE(WaitUntil([&] { return tries >= 200; }));
  EXPECT_LE(f.retry_rows(), 50u) << "the retry batch is capped";
  EXPECT_GT(f.dropped_rows(), 0u);
  fail = false;
  f.Stop();
  // One line at the first failure; the hour's throttle holds the rest back.
  EXPECT_EQ(log.Count("write failed"), 1u) << log.All();
  EXPECT_EQ(log.Count("still failing"), 0u) << log.All();
  EXPECT_EQ(log.Count("succeed again"), 1u) << log.All();
  ASSERT_FALSE(written.empty());
  int64_t k1 = 0;
  size_t rows = 0;
  for (const auto& b : written) {
    rows = std::max(rows, b.usage.size());
    for (const auto& u : b.usage) {
      if (u.key_id == "k1") k1 += u.requests;
    }
  }
  EXPECT_LE(rows, 50u);
  // The merged row kept every request of every take: nothing of it was dropped.
  EXPECT_EQ(k1, takes.load());
}

TEST(Flusher, RetryIsNotDrivenByWakesWhileFailing) {
  LogCapture log;
  std::atomic<int> tries{0};
  Flusher f(
      [&](const Batch&, std::string* error) {
        ++tries;
        *error = "locked";
        return false;
      },
      [] {
        Batch b;
        b.cursors = {{"m", 1}};
        return b;
      },
      Millis(3600 * 1000));
  f.Start();
  f.Wake();
  ASSERT_TRUE(WaitUntil([&] { return tries >= 1; }));
  for (int i = 0; i < 1000; ++i) f.Wake();  // state changes keep coming
  usleep(20000);
  EXPECT_EQ(tries.load(), 1) << "after a failure the next try waits for the interval";
  f.Stop();  // the last try at stop
  EXPECT_EQ(tries.load(), 2);
  EXPECT_EQ(log.Count("stopping with"), 1u) << log.All();
}

// A real SQLite store that cannot write (a trigger aborts every usage insert), then can.
TEST(Flusher, RealStoreThatFailsThenRecovers) {
  LogCapture log;
  namespace fs = std::filesystem;
  fs::path dir = fs::path(testing::TempDir()) / ("gkm_flusher_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::string error;
  auto store = SqliteStore::Open(dir.string(), &error);
  ASSERT_NE(store, nullptr) << error;
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "gemini-key-manager.db").c_str(), &other), SQLITE_OK);
  // The flusher writes every millisecond: this connection waits for its lock, as the
  // product's own connection does, instead of failing with SQLITE_BUSY.
  sqlite3_busy_timeout(other, 5000);
  ASSERT_EQ(sqlite3_exec(other,
                         "CREATE TRIGGER full BEFORE INSERT ON usage"
                         " BEGIN SELECT RAISE(ABORT, 'disk full (simulated)'); END;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  std::atomic<int> takes{0};
  Flusher f(
      *store,
      [&] {
        ++takes;
        Batch b;
        b.usage = {Usage("k1", "m", "d", 1)};
        return b;
      },
      Millis(1));
  f.Start();
  ASSERT_TRUE(WaitUntil([&] { return takes >= 50; }));
  EXPECT_EQ(f.retry_rows(), 1u) << "one row, however many tries";
  ASSERT_EQ(sqlite3_exec(other, "DROP TRIGGER full", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  f.Stop();
  auto rows = store->UsageOf("d");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].requests, takes.load());
  EXPECT_EQ(log.Count("write failed"), 1u) << log.All();
  EXPECT_NE(log.All().find("disk full (simulated)"), std::string::npos);
  store.reset();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace gkm
