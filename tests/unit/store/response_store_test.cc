#include "store/response_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>

#include "store/sqlite_store.h"
#include "support/temp_dir.h"

namespace gkm {
namespace {

namespace fs = std::filesystem;

class ResponseStoreTest : public testing_util::TempDirTest {
 protected:
  std::unique_ptr<ResponseStore> Open() {
    std::string error;
    auto s = ResponseStore::Open(dir_.string(), &error);
    EXPECT_NE(s, nullptr) << error;
    return s;
  }
};

constexpr int64_t kNow = 1767000000000;
constexpr int64_t kDay = 24 * 3600 * 1000;

TEST_F(ResponseStoreTest, KeepsAnExchangeUntilItExpires) {
  auto s = Open();
  ASSERT_TRUE(
      s->Put("resp_1", {"{\"id\":\"resp_1\"}", "[1]", "owner-a"}, kNow, kNow + kDay, nullptr));
  auto got = s->Get("resp_1", kNow + 1);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->body, "{\"id\":\"resp_1\"}");
  EXPECT_EQ(got->items, "[1]");
  EXPECT_EQ(got->owner, "owner-a");
  EXPECT_FALSE(s->Get("resp_1", kNow + kDay));
  EXPECT_FALSE(s->Get("resp_2", kNow));
}

TEST_F(ResponseStoreTest, DeleteRemovesAndSaysWhetherThereWasAnything) {
  auto s = Open();
  ASSERT_TRUE(s->Put("resp_1", {"b", "[]", "o"}, kNow, kNow + kDay, nullptr));
  EXPECT_TRUE(s->Delete("resp_1", kNow));
  EXPECT_FALSE(s->Get("resp_1", kNow));
  EXPECT_FALSE(s->Delete("resp_1", kNow));
  s->Sync();
  EXPECT_FALSE(s->Get("resp_1", kNow)) << "gone from the database too";
}

TEST_F(ResponseStoreTest, SurvivesARestartInTheStateDatabase) {
  {
    auto s = Open();
    ASSERT_TRUE(s->Put("resp_1", {"body", "[\"x\"]", "owner-a"}, kNow, kNow + kDay, nullptr));
    ASSERT_TRUE(s->Put("resp_2", {"gone", "[]", "o"}, kNow, kNow + kDay, nullptr));
    ASSERT_TRUE(s->Delete("resp_2", kNow));
    s->Sync();
  }
  auto s = Open();
  auto got = s->Get("resp_1", kNow);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->items, "[\"x\"]");
  EXPECT_EQ(got->owner, "owner-a");
  EXPECT_FALSE(s->Get("resp_2", kNow));
  EXPECT_FALSE(s->Get("resp_1", kNow + kDay)) << "expiry holds for rows read back";
}

TEST_F(ResponseStoreTest, SharesTheDatabaseWithTheStateStore) {
  std::string error;
  auto state = SqliteStore::Open(dir_.string(), &error);
  ASSERT_NE(state, nullptr) << error;
  auto s = Open();
  ASSERT_TRUE(s->Put("resp_1", {"b", "[]", "o"}, kNow, kNow + kDay, nullptr));
  s->Sync();
  EXPECT_TRUE(fs::exists(dir_ / "gemini-key-manager.db"));
  EXPECT_TRUE(s->Get("resp_1", kNow));
}

TEST_F(ResponseStoreTest, TheStateStoreOpensADatabaseThatHasTheTable) {
  {
    auto s = Open();
    ASSERT_TRUE(s->Put("resp_1", {"b", "[]", "o"}, kNow, kNow + kDay, nullptr));
    s->Sync();
  }
  std::string error;
  auto state = SqliteStore::Open(dir_.string(), &error);
  EXPECT_NE(state, nullptr) << error;
}

TEST_F(ResponseStoreTest, RefusesAnExchangeOverTheBound) {
  auto s = Open();
  std::string error;
  StoredResponse big{"", std::string(ResponseStore::kMaxRecordBytes + 1, 'x'), "o"};
  EXPECT_FALSE(s->Put("resp_big", big, kNow, kNow + kDay, &error));
  EXPECT_NE(error.find("exceeds"), std::string::npos);
  EXPECT_FALSE(s->Get("resp_big", kNow));
}

}  // namespace
}  // namespace gkm
