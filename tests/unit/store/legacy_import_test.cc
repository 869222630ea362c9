#include "store/legacy_import.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

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
// The old proxy's last version: exhausted_keys is {key: [models]}, exhausted only for those.
TEST(LegacyImport, ExhaustedKeysObjectFormExhaustsOnlyTheListedModels) {
  std::string text = R"({
    "date": "2026-11-27",
    "counts": {"test-key-a": 4},
    "model_counts": {"test-key-a": {"gemini-2.5-flash": 3, "gemini-2.5-pro": 1}},
    "exhausted_keys": {"test-key-a": ["gemini-2.5-pro"],
                       "test-key-b": ["models/gemini-2.5-flash", "gemini-2.0-flash",
                                      "gemini-2.0-flash"],
                       "test-key-c": []}
  })";
  LegacyUsage u;
  std::string error;
  ASSERT_TRUE(ParseLegacyUsage(text, "2026-11-27", 1795852800000, &u, &error)) << error;
  std::set<std::pair<std::string, std::string>> got;
  for (const auto& s : u.batch.states) {
    EXPECT_EQ(s.state, "exhausted");
    EXPECT_EQ(s.until_ms, 1795852800000);
    got.insert({s.key_id, s.model});
  }
  std::string a = KeyIdOf("test-key-a"), b = KeyIdOf("test-key-b");
  EXPECT_EQ(got, (std::set<std::pair<std::string, std::string>>{
                     {a, "gemini-2.5-pro"}, {b, "gemini-2.5-flash"}, {b, "gemini-2.0-flash"}}));
  EXPECT_EQ(u.batch.states.size(), 3u) << "a model listed twice is one state";
  EXPECT_EQ(u.keys, 3u);
  EXPECT_TRUE(u.warnings.empty());
}

// Odd shapes are reported and skipped; what can be read is imported.
TEST(LegacyImport, BadExhaustedShapesWarnAndKeepTheRest) {
  LegacyUsage u;
  std::string error;
  ASSERT_TRUE(ParseLegacyUsage(
      R"({"date":"2026-11-27","counts":{"test-key-a":2},"exhausted_keys":"test-key-a"})", "d", 0,
      &u, &error));
  EXPECT_TRUE(u.batch.states.empty());
  ASSERT_EQ(u.warnings.size(), 1u);
  EXPECT_NE(u.warnings[0].find("exhausted_keys"), std::string::npos) << u.warnings[0];
  ASSERT_EQ(u.batch.usage.size(), 1u) << "the counts are still imported";
  EXPECT_EQ(u.batch.usage[0].requests, 2);

  // A key whose models cannot be read stays exhausted (for every model), not forgotten; a
  // non-string model is skipped.
  LegacyUsage v;
  ASSERT_TRUE(ParseLegacyUsage(
      R"({"date":"2026-11-27","model_counts":{"test-key-a":{"m1":1}},
          "exhausted_keys":{"test-key-a":true,"test-key-b":[7,"m2"]}})",
      "d", 0, &v, &error));
  std::set<std::pair<std::string, std::string>> got;
  for (const auto& s : v.batch.states) got.insert({s.key_id, s.model});
  std::string a = KeyIdOf("test-key-a"), b = KeyIdOf("test-key-b");
  EXPECT_EQ(got, (std::set<std::pair<std::string, std::string>>{{a, "m1"}, {a, "-"}, {b, "m2"}}));
  ASSERT_EQ(v.warnings.size(), 1u);
  EXPECT_NE(v.warnings[0].find("2 "), std::string::npos) << v.warnings[0];
  for (const auto& w : v.warnings) EXPECT_EQ(w.find("test-key"), std::string::npos) << w;

  LegacyUsage w;
  ASSERT_TRUE(ParseLegacyUsage(R"({"date":"2026-11-27","counts":[1],"model_counts":7})", "d", 0, &w,
                               &error));
  EXPECT_EQ(w.warnings.size(), 2u);
}


}  // namespace
}  // namespace gkm
