#include "store/usage_reader.h"

#include <gtest/gtest.h>

#include "store/sqlite_store.h"
#include "support/temp_dir.h"

namespace gkm {
namespace {

class UsageReaderTest : public testing_util::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    std::string error;
    store_ = SqliteStore::Open(dir_.string(), &error);
    ASSERT_NE(store_, nullptr) << error;
    Batch b;
    auto u = [](std::string key, std::string model, std::string day, int64_t n) {
      UsageDelta d;
      d.key_id = key;
      d.model = model;
      d.day = day;
      d.requests = n;
      d.rate_limited = 1;
      d.prompt_tokens = 10 * n;
      return d;
    };
    b.usage = {u("k1", "flash", "2026-12-01", 3), u("k2", "flash", "2026-12-01", 4),
               u("k1", "pro", "2026-12-02", 5), u("k2", "flash", "2026-12-03", 6),
               u("k1", "flash", "2026-11-30", 100)};
    b.client_usage = {{"ci", "flash", "2026-12-01", 2},
                      {"bot", "flash", "2026-12-01", 1},
                      {"ci", "pro", "2026-12-02", 8}};
    ASSERT_TRUE(store_->Write(b, &error)) << error;
  }

  std::vector<UsageRow> Read(const std::string& group_by, std::string from = "2026-12-01",
                             std::string to = "2026-12-03") {
    auto q = std::get<UsageQuery>(ParseUsageQuery(from, to, group_by, to));
    std::string error;
    auto reader = UsageReader::Open(dir_.string(), &error);
    EXPECT_NE(reader, nullptr) << error;
    std::vector<UsageRow> rows;
    if (reader) {
      EXPECT_TRUE(reader->Read(q, 1000, &rows, &error)) << error;
    }
    return rows;
  }

  std::unique_ptr<SqliteStore> store_;  // open: the reader reads beside the writer
};

TEST_F(UsageReaderTest, GroupsByDayWithinTheRange) {
  auto rows = Read("day");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].dims, std::vector<std::string>{"2026-12-01"});
  EXPECT_EQ(rows[0].metrics[0], 7);   // requests
  EXPECT_EQ(rows[0].metrics[1], 2);   // rate_limited
  EXPECT_EQ(rows[0].metrics[3], 70);  // prompt_tokens
  EXPECT_EQ(rows[1].dims[0], "2026-12-02");
  EXPECT_EQ(rows[2].metrics[0], 6);
}

TEST_F(UsageReaderTest, GroupsByDimensionsInTheOrderAsked) {
  auto rows = Read("model,key");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].dims, (std::vector<std::string>{"flash", "k1"}));
  EXPECT_EQ(rows[0].metrics[0], 3);
  EXPECT_EQ(rows[1].dims, (std::vector<std::string>{"flash", "k2"}));
  EXPECT_EQ(rows[1].metrics[0], 10);
  EXPECT_EQ(rows[2].dims, (std::vector<std::string>{"pro", "k1"}));
}

TEST_F(UsageReaderTest, ClientsComeFromTheClientTable) {
  auto rows = Read("client,day");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].dims, (std::vector<std::string>{"bot", "2026-12-01"}));
  EXPECT_EQ(rows[1].dims, (std::vector<std::string>{"ci", "2026-12-01"}));
  EXPECT_EQ(rows[2].dims, (std::vector<std::string>{"ci", "2026-12-02"}));
  EXPECT_EQ(rows[2].metrics[0], 8);
}

TEST_F(UsageReaderTest, TooManyRowsIsAnError) {
  auto q = std::get<UsageQuery>(ParseUsageQuery("2026-11-01", "2026-12-03", "key,model,day", "x"));
  std::string error;
  auto reader = UsageReader::Open(dir_.string(), &error);
  ASSERT_NE(reader, nullptr) << error;
  std::vector<UsageRow> rows;
  bool too_many = false;
  EXPECT_FALSE(reader->Read(q, 4, &rows, &error, &too_many));
  EXPECT_TRUE(too_many);
  EXPECT_TRUE(rows.empty());
  EXPECT_TRUE(reader->Read(q, 5, &rows, &error, &too_many)) << error;
  EXPECT_EQ(rows.size(), 5u);
}

TEST_F(UsageReaderTest, AMissingDatabaseIsAClearError) {
  std::string error;
  EXPECT_EQ(UsageReader::Open((dir_ / "nowhere").string(), &error), nullptr);
  EXPECT_NE(error.find("no state database"), std::string::npos) << error;
}

}  // namespace
}  // namespace gkm
