#include "store/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <tuple>

#include "support/temp_dir.h"

namespace gkm {
namespace {

namespace fs = std::filesystem;

// Each test gets its own directory, so tests never see each other's database, even when
// run in parallel (ctest -j) from several processes.
class SqliteStoreTest : public testing_util::TempDirTest {
 protected:
  std::unique_ptr<SqliteStore> OpenStore() {
    std::string error;
    auto store = SqliteStore::Open(dir_.string(), &error);
    EXPECT_NE(store, nullptr) << error;
    return store;
  }

  fs::path db_path() const { return dir_ / "gemini-key-manager.db"; }
};

UsageDelta Usage(std::string key, std::string model, std::string day, int64_t n) {
  UsageDelta u;
  u.key_id = std::move(key);
  u.model = std::move(model);
  u.day = std::move(day);
  u.requests = n;
  u.rate_limited = n * 2;
  u.errors = n * 3;
  u.prompt_tokens = n * 100;
  u.candidate_tokens = n * 10;
  u.thought_tokens = n * 7;
  return u;
}

// (key, model) -> usage, for order-independent comparisons.
std::map<std::pair<std::string, std::string>, UsageDelta> ByKeyModel(
    const std::vector<UsageDelta>& rows) {
  std::map<std::pair<std::string, std::string>, UsageDelta> m;
  for (const auto& u : rows) m[{u.key_id, u.model}] = u;
  return m;
}

void ExpectUsage(const UsageDelta& u, int64_t n) {
  EXPECT_EQ(u.requests, n);
  EXPECT_EQ(u.rate_limited, n * 2);
  EXPECT_EQ(u.errors, n * 3);
  EXPECT_EQ(u.prompt_tokens, n * 100);
  EXPECT_EQ(u.candidate_tokens, n * 10);
  EXPECT_EQ(u.thought_tokens, n * 7);
}

TEST_F(SqliteStoreTest, OpenCreatesTheFileInWalMode) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(fs::path(store->path()), db_path());
  EXPECT_TRUE(fs::exists(db_path()));
  EXPECT_EQ(store->GetMeta("schema_version"), "1");

  // WAL is a property of the file, so a second, independent connection must see it.
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(db_path().c_str(), &other), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(other, "PRAGMA journal_mode", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "wal");
  sqlite3_finalize(stmt);
  sqlite3_close(other);
}

TEST_F(SqliteStoreTest, UsageDeltasAddUpAcrossWritesAndStayPerDay) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string error;
  Batch first;
  first.usage = {Usage("k1", "gemini-pro", "2025-01-01", 1),
                 Usage("k1", "gemini-pro", "2025-01-01", 2),  // same row twice in one batch
                 Usage("k1", "gemini-flash", "2025-01-01", 5),
                 Usage("k1", "gemini-pro", "2025-01-02", 7)};
  ASSERT_TRUE(store->Write(first, &error)) << error;
  Batch second;
  second.usage = {Usage("k1", "gemini-pro", "2025-01-01", 4),
                  Usage("k2", "gemini-pro", "2025-01-01", 1)};
  ASSERT_TRUE(store->Write(second, &error)) << error;

  auto day1 = ByKeyModel(store->UsageOf("2025-01-01"));
  ASSERT_EQ(day1.size(), 3u);
  ExpectUsage(day1.at({"k1", "gemini-pro"}), 7);
  ExpectUsage(day1.at({"k1", "gemini-flash"}), 5);
  ExpectUsage(day1.at({"k2", "gemini-pro"}), 1);
  EXPECT_EQ(day1.at({"k1", "gemini-pro"}).day, "2025-01-01");

  auto day2 = store->UsageOf("2025-01-02");
  ASSERT_EQ(day2.size(), 1u);
  ExpectUsage(day2[0], 7);
  EXPECT_EQ(day2[0].day, "2025-01-02");
  EXPECT_TRUE(store->UsageOf("2025-01-03").empty());
}

TEST_F(SqliteStoreTest, LoadReturnsOnlyTheRequestedDaysUsage) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string error;
  Batch b;
  b.usage = {Usage("k1", "m", "2025-01-01", 1), Usage("k1", "m", "2025-01-02", 2),
             Usage("k2", "m", "2025-01-02", 3), Usage("k1", "m", "2025-01-03", 4)};
  ASSERT_TRUE(store->Write(b, &error)) << error;

  Loaded loaded = store->Load("2025-01-02", &error);
  ASSERT_EQ(loaded.usage.size(), 2u);
  for (const auto& u : loaded.usage) EXPECT_EQ(u.day, "2025-01-02");
  auto m = ByKeyModel(loaded.usage);
  ExpectUsage(m.at({"k1", "m"}), 2);
  ExpectUsage(m.at({"k2", "m"}), 3);
  EXPECT_TRUE(store->Load("2024-12-31").usage.empty());
}

TEST_F(SqliteStoreTest, ClientUsageAddsUpPerClientModelAndDayAndLoadsTheDaysRows) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  Batch b;
  b.client_usage = {{"ci-bots", "gemini-2.5-flash", "2026-03-10", 2},
                    {"ci-bots", "-", "2026-03-10", 1},
                    {"alice", "gemini-2.5-flash", "2026-03-09", 5}};
  std::string error;
  ASSERT_TRUE(store->Write(b, &error)) << error;
  b.client_usage = {{"ci-bots", "gemini-2.5-flash", "2026-03-10", 3}};
  ASSERT_TRUE(store->Write(b, &error)) << error;
  store.reset();
  store = OpenStore();
  Loaded day = store->Load("2026-03-10");
  std::map<std::pair<std::string, std::string>, int64_t> got;
  for (const ClientUsageDelta& u : day.client_usage) {
    EXPECT_EQ(u.day, "2026-03-10");
    got[{u.client, u.model}] = u.requests;
  }
  EXPECT_EQ(got, (std::map<std::pair<std::string, std::string>, int64_t>{
                     {{"ci-bots", "gemini-2.5-flash"}, 5}, {{"ci-bots", "-"}, 1}}));
  EXPECT_EQ(store->Load("2026-03-09").client_usage.size(), 1u);
}

TEST_F(SqliteStoreTest, StatesReplaceAndOkDeletes) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string error;
  Batch b;
  b.states = {{"k1", "m1", "cooling", 1000, "429"},
              {"k2", "m1", "exhausted", 2000, "daily quota"},
              {"k1", "m2", "cooling", 3000, "429"}};
  ASSERT_TRUE(store->Write(b, &error)) << error;

  Batch c;
  c.states = {{"k1", "m1", "exhausted", 9000, "daily quota"},  // replaces
              {"k2", "m1", "ok", 0, ""},                       // deletes
              {"k3", "m1", "ok", 0, ""}};                      // deleting nothing is fine
  ASSERT_TRUE(store->Write(c, &error)) << error;

  Loaded loaded = store->Load("2025-01-01");
  ASSERT_EQ(loaded.states.size(), 2u);
  std::map<std::pair<std::string, std::string>, KeyModelState> m;
  for (const auto& s : loaded.states) m[{s.key_id, s.model}] = s;
  EXPECT_EQ(m.at({"k1", "m1"}).state, "exhausted");
  EXPECT_EQ(m.at({"k1", "m1"}).until_ms, 9000);
  EXPECT_EQ(m.at({"k1", "m1"}).reason, "daily quota");
  EXPECT_EQ(m.at({"k1", "m2"}).state, "cooling");
  EXPECT_EQ(m.at({"k1", "m2"}).until_ms, 3000);
  EXPECT_EQ(m.count({"k2", "m1"}), 0u);
}

TEST_F(SqliteStoreTest, StatusesReplace) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string error;
  Batch b;
  b.statuses = {{"k1", "invalid", "API_KEY_INVALID"}, {"k2", "active", ""}};
  ASSERT_TRUE(store->Write(b, &error)) << error;
  Batch c;
  c.statuses = {{"k1", "active", ""}};
  ASSERT_TRUE(store->Write(c, &error)) << error;

  Loaded loaded = store->Load("2025-01-01");
  ASSERT_EQ(loaded.statuses.size(), 2u);
  std::map<std::string, KeyStatusRow> m;
  for (const auto& s : loaded.statuses) m[s.key_id] = s;
  EXPECT_EQ(m.at("k1").status, "active");
  EXPECT_EQ(m.at("k1").reason, "");
  EXPECT_EQ(m.at("k2").status, "active");
}

TEST_F(SqliteStoreTest, BindingsReplace) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string error;
  Batch b;
  b.bindings = {{"upload", "up-1", "k1", 100},
                {"file", "files/abc", "k1", 200},
                {"cache", "cachedContents/xyz", "k2", 300}};
  ASSERT_TRUE(store->Write(b, &error)) << error;
  Batch c;
  c.bindings = {{"file", "files/abc", "k3", 400},
                {"upload", "files/abc", "k4", 500}};  // same name, other kind: its own row
  ASSERT_TRUE(store->Write(c, &error)) << error;

  Loaded loaded = store->Load("2025-01-01");
  ASSERT_EQ(loaded.bindings.size(), 4u);
  std::map<std::pair<std::string, std::string>, Binding> m;
  for (const auto& x : loaded.bindings) m[{x.kind, x.name}] = x;
  EXPECT_EQ(m.at({"file", "files/abc"}).key_id, "k3");
  EXPECT_EQ(m.at({"file", "files/abc"}).created_ms, 400);
  EXPECT_EQ(m.at({"upload", "files/abc"}).key_id, "k4");
  EXPECT_EQ(m.at({"upload", "up-1"}).key_id, "k1");
  EXPECT_EQ(m.at({"cache", "cachedContents/xyz"}).key_id, "k2");
  EXPECT_EQ(m.at({"cache", "cachedContents/xyz"}).created_ms, 300);
}

TEST_F(SqliteStoreTest, CursorsReplace) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string error;
  Batch b;
  b.cursors = {{"m1", 5}, {"m2", 7}};
  ASSERT_TRUE(store->Write(b, &error)) << error;
  Batch c;
  c.cursors = {{"m1", 6}};
  ASSERT_TRUE(store->Write(c, &error)) << error;

  Loaded loaded = store->Load("2025-01-01");
  std::map<std::string, int64_t> m(loaded.cursors.begin(), loaded.cursors.end());
  EXPECT_EQ(m, (std::map<std::string, int64_t>{{"m1", 6}, {"m2", 7}}));
}

TEST_F(SqliteStoreTest, MetaRoundTrip) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string error;
  EXPECT_EQ(store->GetMeta("client_token"), std::nullopt);
  ASSERT_TRUE(store->SetMeta("client_token", "abc", &error)) << error;
  EXPECT_EQ(store->GetMeta("client_token"), "abc");
  ASSERT_TRUE(store->SetMeta("client_token", "def", &error)) << error;
  EXPECT_EQ(store->GetMeta("client_token"), "def");
  ASSERT_TRUE(store->SetMeta("empty", "", &error)) << error;
  EXPECT_EQ(store->GetMeta("empty"), "");  // set-but-empty differs from unset
}

TEST_F(SqliteStoreTest, EmptyBatchIsANoOp) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string error;
  EXPECT_TRUE(store->Write(Batch{}, &error)) << error;
  Loaded loaded = store->Load("2025-01-01");
  EXPECT_TRUE(loaded.usage.empty());
  EXPECT_TRUE(loaded.states.empty());
}

TEST_F(SqliteStoreTest, ReopenKeepsEverything) {
  std::string error;
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    Batch b;
    b.usage = {Usage("k1", "m", "2025-01-01", 3), Usage("k1", "m", "2025-01-02", 4)};
    b.states = {{"k1", "m", "cooling", 1234, "429"}};
    b.statuses = {{"k2", "invalid", "bad key"}};
    b.bindings = {{"file", "files/abc", "k1", 99}};
    b.cursors = {{"m", 42}};
    ASSERT_TRUE(store->Write(b, &error)) << error;
    ASSERT_TRUE(store->SetMeta("imported", "yes", &error)) << error;
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  Loaded loaded = store->Load("2025-01-02", &error);
  ASSERT_EQ(loaded.usage.size(), 1u);
  ExpectUsage(loaded.usage[0], 4);
  ASSERT_EQ(store->UsageOf("2025-01-01").size(), 1u);
  ExpectUsage(store->UsageOf("2025-01-01")[0], 3);
  ASSERT_EQ(loaded.states.size(), 1u);
  EXPECT_EQ(loaded.states[0].key_id, "k1");
  EXPECT_EQ(loaded.states[0].state, "cooling");
  EXPECT_EQ(loaded.states[0].until_ms, 1234);
  EXPECT_EQ(loaded.states[0].reason, "429");
  ASSERT_EQ(loaded.statuses.size(), 1u);
  EXPECT_EQ(loaded.statuses[0].status, "invalid");
  EXPECT_EQ(loaded.statuses[0].reason, "bad key");
  ASSERT_EQ(loaded.bindings.size(), 1u);
  EXPECT_EQ(loaded.bindings[0].name, "files/abc");
  EXPECT_EQ(loaded.bindings[0].key_id, "k1");
  EXPECT_EQ(loaded.bindings[0].created_ms, 99);
  ASSERT_EQ(loaded.cursors.size(), 1u);
  EXPECT_EQ(loaded.cursors[0], (std::pair<std::string, int64_t>{"m", 42}));
  EXPECT_EQ(store->GetMeta("imported"), "yes");
  EXPECT_EQ(store->GetMeta("schema_version"), "1");

  // Usage keeps adding on top of what was stored before the reopen.
  Batch more;
  more.usage = {Usage("k1", "m", "2025-01-02", 1)};
  ASSERT_TRUE(store->Write(more, &error)) << error;
  ExpectUsage(store->UsageOf("2025-01-02").at(0), 5);
}

TEST_F(SqliteStoreTest, OpenOnAMissingDirFailsNamingIt) {
  std::string missing = (dir_ / "no-such-dir").string();
  std::string error;
  EXPECT_EQ(SqliteStore::Open(missing, &error), nullptr);
  EXPECT_NE(error.find(missing), std::string::npos) << error;
  EXPECT_NE(error.find("does not exist"), std::string::npos) << error;
  EXPECT_FALSE(fs::exists(missing));  // not created behind the operator's back
}

TEST_F(SqliteStoreTest, OpenWithAnEmptyDirFails) {
  std::string error;
  EXPECT_EQ(SqliteStore::Open("", &error), nullptr);
  EXPECT_NE(error.find("state dir"), std::string::npos) << error;
}

TEST_F(SqliteStoreTest, OpenOnAFileInsteadOfADirFails) {
  fs::path file = dir_ / "plain-file";
  std::ofstream(file) << "x";
  std::string error;
  EXPECT_EQ(SqliteStore::Open(file.string(), &error), nullptr);
  EXPECT_NE(error.find(file.string()), std::string::npos) << error;
  EXPECT_NE(error.find("not a directory"), std::string::npos) << error;
}

TEST_F(SqliteStoreTest, OpenOnAGarbageFileFails) {
  {
    std::ofstream out(db_path(), std::ios::binary);
    for (int i = 0; i < 1000; ++i) out << "this is not a sqlite database, just garbage. ";
  }
  auto before = fs::file_size(db_path());
  std::string error;
  EXPECT_EQ(SqliteStore::Open(dir_.string(), &error), nullptr);
  EXPECT_NE(error.find(db_path().string()), std::string::npos) << error;
  EXPECT_NE(error.find("not a SQLite database"), std::string::npos) << error;
  EXPECT_EQ(fs::file_size(db_path()), before);  // the file is left as it was, for inspection
}

TEST_F(SqliteStoreTest, OpenOnATinyGarbageFileFails) {
  std::ofstream(db_path(), std::ios::binary) << "junk";
  std::string error;
  EXPECT_EQ(SqliteStore::Open(dir_.string(), &error), nullptr);
  EXPECT_NE(error.find("not a SQLite database"), std::string::npos) << error;
}

TEST_F(SqliteStoreTest, FailedWriteRollsBackTheWholeBatch) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string error;
  Batch b;
  b.usage = {Usage("k1", "m", "2025-01-01", 1)};
  ASSERT_TRUE(store->Write(b, &error)) << error;

  // Make the last part of the next batch fail, from a second connection, so that the usage
  // rows before it have already been written inside the transaction.
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(db_path().c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other,
                         "CREATE TRIGGER fail_cursor BEFORE INSERT ON cursor"
                         " BEGIN SELECT RAISE(ABORT, 'cursor boom'); END;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  Batch bad;
  bad.usage = {Usage("k1", "m", "2025-01-01", 10), Usage("k2", "m", "2025-01-01", 10)};
  bad.states = {{"k1", "m", "cooling", 1, "429"}};
  bad.cursors = {{"m", 3}};
  EXPECT_FALSE(store->Write(bad, &error));
  EXPECT_NE(error.find("cursor boom"), std::string::npos) << error;

  auto rows = store->UsageOf("2025-01-01");
  ASSERT_EQ(rows.size(), 1u);
  ExpectUsage(rows[0], 1);
  EXPECT_TRUE(store->Load("2025-01-01").states.empty());

  // The store stays usable after a failed write.
  ASSERT_EQ(sqlite3_exec(other, "DROP TRIGGER fail_cursor", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  error.clear();
  ASSERT_TRUE(store->Write(bad, &error)) << error;
  ExpectUsage(ByKeyModel(store->UsageOf("2025-01-01")).at({"k1", "m"}), 11);
}

TEST_F(SqliteStoreTest, FiftyThousandUsageRowsInOneBatch) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  constexpr int kKeys = 10000;
  const std::string models[] = {"m0", "m1", "m2", "m3", "m4"};
  Batch b;
  b.usage.reserve(kKeys * 5);
  for (int k = 0; k < kKeys; ++k) {
    for (const auto& m : models) {
      b.usage.push_back(Usage("k" + std::to_string(k), m, "2025-01-01", 1));
    }
  }
  ASSERT_EQ(b.usage.size(), 50000u);
  std::string error;
  ASSERT_TRUE(store->Write(b, &error)) << error;
  ASSERT_TRUE(store->Write(b, &error)) << error;

  auto rows = store->Load("2025-01-01", &error).usage;
  ASSERT_EQ(rows.size(), 50000u);
  EXPECT_TRUE(std::all_of(rows.begin(), rows.end(),
                          [](const UsageDelta& u) { return u.requests == 2 && u.errors == 6; }));
}
TEST_F(SqliteStoreTest, ASecondOpenOfTheSameDirIsRefusedWhileTheFirstLives) {
  auto first = OpenStore();
  ASSERT_NE(first, nullptr);
  std::string error;
  EXPECT_EQ(SqliteStore::Open(dir_.string(), &error), nullptr);
  EXPECT_NE(error.find("in use by another gemini-key-manager"), std::string::npos) << error;
  EXPECT_NE(error.find("pid " + std::to_string(::getpid())), std::string::npos) << error;
  EXPECT_NE(error.find(dir_.string()), std::string::npos) << error;
  first.reset();
  EXPECT_NE(OpenStore(), nullptr) << "the lock goes with the store";
}

TEST_F(SqliteStoreTest, TheDatabaseAndItsWalAreOwnerOnlyWhateverTheUmask) {
  mode_t old = ::umask(022);
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    std::string error;
    ASSERT_TRUE(store->SetMeta("client_token", "gkm-secret", &error)) << error;
    for (const char* suffix : {"", "-wal", "-shm"}) {
      fs::path p = db_path().string() + suffix;
      ASSERT_TRUE(fs::exists(p)) << p;
      EXPECT_EQ(fs::status(p).permissions() & fs::perms::all,
                fs::perms::owner_read | fs::perms::owner_write)
          << p;
    }
  }
  ::umask(old);
}

TEST_F(SqliteStoreTest, FilesOfAnOlderVersionWithWiderPermissionsAreNarrowed) {
  { auto store = OpenStore(); }
  fs::permissions(db_path(), fs::perms::owner_read | fs::perms::owner_write |
                                 fs::perms::group_read | fs::perms::others_read);
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(fs::status(db_path()).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
}

TEST_F(SqliteStoreTest, BindingsKeepTheirExpiryAndExpiredOnesAreDeleted) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::string error;
  Batch b;
  b.bindings = {{"file", "files/a", "k1", 100, 1000}, {"file", "files/b", "k2", 100, 2000}};
  ASSERT_TRUE(store->Write(b, &error)) << error;
  Batch sweep;
  sweep.bindings_expired_by_ms = 1000;
  ASSERT_FALSE(sweep.empty()) << "a sweep alone is a write";
  ASSERT_TRUE(store->Write(sweep, &error)) << error;
  auto loaded = store->Load("d").bindings;
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_EQ(loaded[0].name, "files/b");
  EXPECT_EQ(loaded[0].expires_ms, 2000);
}

// A database of the version before expiry: the column is added, old rows read as 0.
TEST_F(SqliteStoreTest, ABindingTableWithoutExpiryIsMigrated) {
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(db_path().c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "CREATE TABLE binding(kind TEXT NOT NULL, name TEXT NOT NULL,"
                           " key_id TEXT NOT NULL, created_ms INTEGER NOT NULL DEFAULT 0,"
                           " PRIMARY KEY(kind, name));"
                           "INSERT INTO binding VALUES('file', 'files/old', 'k1', 5);",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto loaded = store->Load("d").bindings;
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_EQ(loaded[0].created_ms, 5);
  EXPECT_EQ(loaded[0].expires_ms, 0);
  std::string error;
  Batch b;
  b.bindings = {{"file", "files/old", "k1", 5, 7}};
  ASSERT_TRUE(store->Write(b, &error)) << error;
  EXPECT_EQ(store->Load("d").bindings.at(0).expires_ms, 7);
}

}  // namespace
}  // namespace gkm
