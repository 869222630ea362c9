#include "translate/models.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <variant>

#include "fixture_util.h"

namespace gkm {
namespace {

namespace json = boost::json;
using testing_util::JsonTextEq;

TEST(Models, ListAcrossPagesWithoutThePrefix) {
  const auto r = TranslateModelsList({
      R"({"models":[{"name":"models/gemini-2.5-flash","displayName":"Gemini 2.5 Flash",
          "inputTokenLimit":1048576,"supportedGenerationMethods":["generateContent"]},
          {"name":"models/gemini-embedding-001"}],"nextPageToken":"p2"})",
      R"({"models":[{"name":"models/gemini-2.5-pro"},{"displayName":"nameless"},7]})", R"({})"});
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_TRUE(JsonTextEq(std::get<std::string>(r), json::parse(R"({"object":"list","data":[
      {"id":"gemini-2.5-flash","object":"model","created":0,"owned_by":"google"},
      {"id":"gemini-embedding-001","object":"model","created":0,"owned_by":"google"},
      {"id":"gemini-2.5-pro","object":"model","created":0,"owned_by":"google"}]})")));
}

TEST(Models, OneModel) {
  const auto r = TranslateModel(R"({"name":"models/gemini-2.5-flash","version":"001"})");
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_TRUE(JsonTextEq(
      std::get<std::string>(r),
      json::parse(
          R"({"id":"gemini-2.5-flash","object":"model","created":0,"owned_by":"google"})")));
}

TEST(Models, UnreadableIs502) {
  for (const char* body : {"", "[]", R"({"models":5})"}) {
    const auto r = TranslateModelsList({body});
    ASSERT_TRUE(std::holds_alternative<TranslateError>(r)) << body;
    EXPECT_EQ(std::get<TranslateError>(r).status, 502);
  }
  EXPECT_TRUE(std::holds_alternative<TranslateError>(TranslateModel(R"({"name":5})")));
  EXPECT_TRUE(std::holds_alternative<TranslateError>(TranslateModel("<html>")));
}

TEST(Models, NextPageToken) {
  EXPECT_EQ(NextPageToken(R"({"models":[],"nextPageToken":"abc"})"), "abc");
  EXPECT_EQ(NextPageToken(R"({"models":[]})"), "");
  EXPECT_EQ(NextPageToken(R"({"nextPageToken":5})"), "");
  EXPECT_EQ(NextPageToken("garbage"), "");
}

}  // namespace
}  // namespace gkm
