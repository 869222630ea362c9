#include "common/usage_query.h"

#include <gtest/gtest.h>

namespace gkm {
namespace {

UsageQuery Parsed(std::optional<std::string> from, std::optional<std::string> to,
                  std::optional<std::string> group_by, std::string today = "2026-12-07") {
  auto r = ParseUsageQuery(from, to, group_by, today);
  if (auto* e = std::get_if<UsageQueryError>(&r)) {
    ADD_FAILURE() << e->param << ": " << e->message;
    return {};
  }
  return std::get<UsageQuery>(r);
}

UsageQueryError Refused(std::optional<std::string> from, std::optional<std::string> to,
                        std::optional<std::string> group_by) {
  auto r = ParseUsageQuery(from, to, group_by, "2026-12-07");
  if (auto* e = std::get_if<UsageQueryError>(&r)) return *e;
  ADD_FAILURE() << "accepted";
  return {};
}

TEST(UsageQueryTest, DefaultsAreTheLastSevenQuotaDaysByDay) {
  UsageQuery q = Parsed(std::nullopt, std::nullopt, std::nullopt);
  EXPECT_EQ(q.from, "2026-12-01");
  EXPECT_EQ(q.to, "2026-12-07");
  ASSERT_EQ(q.group_by.size(), 1u);
  EXPECT_EQ(q.group_by[0], UsageDim::kDay);
  EXPECT_FALSE(q.clients());
  EXPECT_EQ(q.metric_count(), 6u);
}

TEST(UsageQueryTest, FromDefaultsToSixDaysBeforeToAcrossMonthsAndYears) {
  EXPECT_EQ(Parsed(std::nullopt, "2026-03-02", std::nullopt).from, "2026-02-24");
  EXPECT_EQ(Parsed(std::nullopt, "2024-03-02", std::nullopt).from, "2024-02-25");  // leap year
  EXPECT_EQ(Parsed(std::nullopt, "2027-01-03", std::nullopt).from, "2026-12-28");
}

TEST(UsageQueryTest, GroupByKeepsTheOrderGiven) {
  UsageQuery q = Parsed("2026-12-01", "2026-12-01", "model,key,day");
  ASSERT_EQ(q.group_by.size(), 3u);
  EXPECT_EQ(q.group_by[0], UsageDim::kModel);
  EXPECT_EQ(q.group_by[1], UsageDim::kKey);
  EXPECT_EQ(q.group_by[2], UsageDim::kDay);
  UsageQuery c = Parsed(std::nullopt, std::nullopt, "client,model");
  EXPECT_TRUE(c.clients());
  EXPECT_EQ(c.metric_count(), 1u);
}

TEST(UsageQueryTest, BadDatesNameTheirParameter) {
  for (const char* bad : {"2026-13-01", "2026-02-30", "2026-1-01", "20261201", "2026-12-01x", "",
                          "abcd-ef-gh", "2025-02-29"}) {
    EXPECT_EQ(Refused(bad, std::nullopt, std::nullopt).param, "from") << bad;
    EXPECT_EQ(Refused(std::nullopt, bad, std::nullopt).param, "to") << bad;
  }
  EXPECT_TRUE(IsQuotaDay("2024-02-29"));
  EXPECT_FALSE(IsQuotaDay("2025-02-29"));
}

TEST(UsageQueryTest, FromAfterToAndLongRangesAreRefused) {
  UsageQueryError e = Refused("2026-12-08", "2026-12-07", std::nullopt);
  EXPECT_EQ(e.param, "from");
  EXPECT_NE(e.message.find("after"), std::string::npos) << e.message;
  // 366 days is the most: 2025-12-07..2026-12-07 is 366 days, one more is refused.
  EXPECT_EQ(Parsed("2025-12-07", "2026-12-07", std::nullopt).from, "2025-12-07");
  e = Refused("2025-12-06", "2026-12-07", std::nullopt);
  EXPECT_EQ(e.param, "from");
  EXPECT_NE(e.message.find("367"), std::string::npos) << e.message;
}

TEST(UsageQueryTest, BadGroupByIsRefused) {
  for (const char* bad : {"", "keys", "day,", ",day", "day,,model", "Day", "day,day"}) {
    EXPECT_EQ(Refused(std::nullopt, std::nullopt, bad).param, "group_by") << bad;
  }
  UsageQueryError e = Refused(std::nullopt, std::nullopt, "client,key");
  EXPECT_EQ(e.param, "group_by");
  EXPECT_NE(e.message.find("client cannot be combined with key"), std::string::npos);
}

TEST(UsageQueryTest, JsonHasOnlyTheGroupedDimensions) {
  UsageQuery q = Parsed("2026-12-01", "2026-12-02", "key,day");
  std::vector<UsageRow> rows = {{{"k1", "2026-12-01"}, {3, 1, 0, 10, 20, 5}}};
  EXPECT_EQ(UsageJson(q, rows),
            R"({"from":"2026-12-01","to":"2026-12-02","group_by":["key","day"],"rows":[)"
            R"({"key_id":"k1","day":"2026-12-01","requests":3,"rate_limited":1,"errors":0,)"
            R"("prompt_tokens":10,"candidate_tokens":20,"thought_tokens":5}]})");
  UsageQuery c = Parsed("2026-12-01", "2026-12-02", "client");
  EXPECT_EQ(UsageJson(c, {{{"ci"}, {7}}}),
            R"({"from":"2026-12-01","to":"2026-12-02","group_by":["client"],"rows":[)"
            R"({"client":"ci","requests":7}]})");
}

TEST(UsageQueryTest, CsvQuotesAsRfc4180) {
  UsageQuery c = Parsed("2026-12-01", "2026-12-02", "client,model");
  std::string csv = UsageCsv(c, {{{"a,b", "m\"x"}, {2}}, {{"plain", "m"}, {1}}});
  EXPECT_EQ(csv, "client,model,requests\r\n\"a,b\",\"m\"\"x\",2\r\nplain,m,1\r\n");
  UsageQuery q = Parsed("2026-12-01", "2026-12-02", "day");
  EXPECT_EQ(UsageCsv(q, {}),
            "day,requests,rate_limited,errors,prompt_tokens,candidate_tokens,thought_tokens\r\n");
}

TEST(UsageQueryTest, TableAlignsColumns) {
  std::string t = UsageTable(Parsed("2026-12-01", "2026-12-02", "client"),
                             {{{"a"}, {5}}, {{"longer-name"}, {12345}}});
  EXPECT_EQ(t,
            "client       requests\n"
            "a                   5\n"
            "longer-name     12345\n");
  EXPECT_EQ(UsageTable(Parsed("2026-12-01", "2026-12-02", "client"), {}),
            "client  requests\n(no usage between 2026-12-01 and 2026-12-02)\n");
}

// Today's rows from another source (SPEC 6: Redis) merged with the store's other days.
UsageQuery Query(std::vector<UsageDim> dims) {
  UsageQuery q;
  q.from = "2026-03-04";
  q.to = "2026-03-10";
  q.group_by = std::move(dims);
  return q;
}

TEST(UsageMerge, GroupUsageSumsFactsOfTheQuerysKindBySortedDimensions) {
  std::vector<UsageFact> facts = {
      {"k2", "", "flash", "2026-03-10", {3, 1, 0, 10, 20, 0}},
      {"k1", "", "pro", "2026-03-10", {1, 0, 0, 5, 5, 5}},
      {"k1", "", "flash", "2026-03-10", {2, 0, 1, 1, 1, 1}},
      {"", "ci", "flash", "2026-03-10", {7}},
  };
  std::vector<UsageRow> rows = GroupUsage(Query({UsageDim::kModel}), facts);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].dims, std::vector<std::string>{"flash"});
  EXPECT_EQ(rows[0].metrics, (std::array<int64_t, 6>{5, 1, 1, 11, 21, 1}));
  EXPECT_EQ(rows[1].dims, std::vector<std::string>{"pro"});
  rows = GroupUsage(Query({UsageDim::kClient, UsageDim::kModel}), facts);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].dims, (std::vector<std::string>{"ci", "flash"}));
  EXPECT_EQ(rows[0].metrics[0], 7);
  rows = GroupUsage(Query({UsageDim::kKey, UsageDim::kModel}), facts);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].dims, (std::vector<std::string>{"k1", "flash"}));
  EXPECT_EQ(rows[2].dims, (std::vector<std::string>{"k2", "flash"}));
}

TEST(UsageMerge, TodayIsSplitOutOfTheStoresRowsAndMergedBack) {
  const UsageQuery q = Query({UsageDim::kKey});
  const UsageQuery w = WithDay(q);
  EXPECT_EQ(w.group_by, (std::vector<UsageDim>{UsageDim::kKey, UsageDim::kDay}));
  EXPECT_EQ(WithDay(w).group_by, w.group_by) << "day is added once";
  std::vector<UsageRow> stored = {
      {{"k1", "2026-03-09"}, {2, 0, 0, 0, 0, 0}},
      {{"k1", "2026-03-10"}, {5, 0, 0, 0, 0, 0}},  // today: this instance's only
      {{"k2", "2026-03-08"}, {1, 0, 0, 0, 0, 0}},
      {{"k2", "2026-03-09"}, {1, 0, 0, 0, 0, 0}},
  };
  std::vector<UsageRow> past = SplitOutDay(q, stored, "2026-03-10");
  ASSERT_EQ(past.size(), 2u);
  EXPECT_EQ(past[0].dims, std::vector<std::string>{"k1"});
  EXPECT_EQ(past[0].metrics[0], 2);
  EXPECT_EQ(past[1].metrics[0], 2);
  std::vector<UsageRow> merged = MergeUsageRows(
      past,
      GroupUsage(q, {{"k1", "", "m", "2026-03-10", {9}}, {"k3", "", "m", "2026-03-10", {4}}}));
  ASSERT_EQ(merged.size(), 3u);
  EXPECT_EQ(merged[0].metrics[0], 11);
  EXPECT_EQ(merged[2].dims, std::vector<std::string>{"k3"});
  // Grouped by day, the day stays.
  const UsageQuery by_day = Query({UsageDim::kDay});
  std::vector<UsageRow> days =
      SplitOutDay(by_day, {{{"2026-03-09"}, {3}}, {{"2026-03-10"}, {8}}}, "2026-03-10");
  ASSERT_EQ(days.size(), 1u);
  EXPECT_EQ(days[0].dims, std::vector<std::string>{"2026-03-09"});
}

}  // namespace
}  // namespace gkm
