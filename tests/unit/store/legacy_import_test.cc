#include "store/legacy_import.h"

#include <gtest/gtest.h>

#include <map>

#include "common/api_key.h"

namespace gkm {
namespace {

TEST(LegacyImport, CountsAndExhaustedKeysBecomeRowsByKeyId) {
  std::string text = R"({
    "date": "2026-11-27",
    "counts": {"test-key-a": 5, "test-key-b": 2},
    "model_counts": {"test-key-a": {"gemini-2.5-flash": 3, "gemini-2.5-pro": 1}},
    "exhausted_keys": ["test-key-b"]
  })";
  LegacyUsage u;
  std::string error;
  ASSERT_TRUE(ParseLegacyUsage(text, "2026-11-27", 1795852800000, &u, &error)) << error;
  EXPECT_EQ(u.date, "2026-11-27");
  EXPECT_EQ(u.keys, 2u);
  std::map<std::pair<std::string, std::string>, int64_t> got;
  for (const auto& d : u.batch.usage) {
    EXPECT_EQ(d.day, "2026-11-27");
    got[{d.key_id, d.model}] = d.requests;
  }
  std::string a = KeyIdOf("test-key-a"), b = KeyIdOf("test-key-b");
  EXPECT_EQ(got, (std::map<std::pair<std::string, std::string>, int64_t>{
                     {{a, "gemini-2.5-flash"}, 3},
                     {{a, "gemini-2.5-pro"}, 1},
                     {{a, "-"}, 1},
                     {{b, "-"}, 2}}));
  // b is exhausted for every model the file names and for model-less requests.
  ASSERT_EQ(u.batch.states.size(), 3u);
  for (const auto& s : u.batch.states) {
    EXPECT_EQ(s.key_id, b);
    EXPECT_EQ(s.state, "exhausted");
    EXPECT_EQ(s.until_ms, 1795852800000);
  }
  for (const auto& d : u.batch.usage) EXPECT_EQ(d.key_id.find("test-key"), std::string::npos);
}

TEST(LegacyImport, MalformedFilesAreRefusedWithAReason) {
  LegacyUsage u;
  std::string error;
  EXPECT_FALSE(ParseLegacyUsage("{not json", "d", 0, &u, &error));
  EXPECT_FALSE(error.empty());
  EXPECT_FALSE(ParseLegacyUsage(R"({"counts":{}})", "d", 0, &u, &error));
  EXPECT_NE(error.find("date"), std::string::npos);
  EXPECT_FALSE(ParseLegacyUsage("[1,2]", "d", 0, &u, &error));
}

TEST(LegacyImport, WrongTypesInsideAreSkippedNotFatal) {
  LegacyUsage u;
  std::string error;
  ASSERT_TRUE(ParseLegacyUsage(
      R"({"date":"2026-11-27","counts":{"k":"x"},"exhausted_keys":[1,"test-key-c"]})", "d", 0,
      &u, &error));
  EXPECT_TRUE(u.batch.usage.empty());
  EXPECT_EQ(u.batch.states.size(), 1u);
}

}  // namespace
}  // namespace gkm
