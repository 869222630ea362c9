#include "translate/chat_response.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "fixture_util.h"

namespace gkm {
namespace {

namespace json = boost::json;
using testing_util::FixtureNames;
using testing_util::JsonEq;
using testing_util::JsonTextEq;
using testing_util::LoadFixture;

// The context every response fixture assumes: fixed id and time, call_1, call_2, ... ids,
// and a signature store that records what it is given.
ResponseContext TestContext(std::map<std::string, std::string>& remembered) {
  ResponseContext ctx;
  ctx.id = "chatcmpl-test";
  ctx.created = 1700000000;
  ctx.model = "gemini-2.5-flash";
  auto n = std::make_shared<int>(0);
  ctx.new_tool_call_id = [n] { return "call_" + std::to_string(++*n); };
  ctx.remember_signature = [&remembered](std::string_view id, std::string_view sig) {
    remembered[std::string(id)] = std::string(sig);
  };
  return ctx;
}

json::object ToObject(const std::map<std::string, std::string>& m) {
  json::object o;
  for (const auto& [k, v] : m) o[k] = v;
  return o;
}

class ResponseFixture : public testing::TestWithParam<std::string> {};

// Each fixture: {"input": <Gemini answer> | "raw_input": "<text>", "expected": <OpenAI
// chat.completion>, "remembered"?: {id: signature}} or {"error": substring, "status"}.
TEST_P(ResponseFixture, TranslatesAsWireMdPartCSays) {
  const json::value fxv = LoadFixture("response", GetParam());
  const json::object& fx = fxv.as_object();
  std::map<std::string, std::string> remembered;
  const ResponseContext ctx = TestContext(remembered);
  const std::string input = fx.contains("raw_input") ? std::string(fx.at("raw_input").as_string())
                                                     : json::serialize(fx.at("input"));
  const auto r = TranslateChatResponse(input, ctx);
  if (const json::value* err = fx.if_contains("error")) {
    const auto* e = std::get_if<TranslateError>(&r);
    ASSERT_NE(e, nullptr);
    EXPECT_NE(e->message.find(err->as_string().c_str()), std::string::npos) << e->message;
    EXPECT_EQ(e->status, fx.at("status").as_int64());
    return;
  }
  if (const auto* e = std::get_if<TranslateError>(&r)) FAIL() << e->message;
  const ChatResponse& resp = std::get<ChatResponse>(r);
  EXPECT_TRUE(JsonTextEq(resp.body, fx.at("expected")));
  const json::value* want = fx.if_contains("remembered");
  EXPECT_TRUE(JsonEq(ToObject(remembered), want ? *want : json::object()));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ResponseFixture, testing::ValuesIn(FixtureNames("response")),
                         [](const testing::TestParamInfo<std::string>& info) {
                           return testing_util::TestName(info.param);
                         });

TEST(ChatResponse, ReportsGeminiUsageForAccounting) {
  std::map<std::string, std::string> remembered;
  const auto r = TranslateChatResponse(
      R"({"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"STOP"}],
          "usageMetadata":{"promptTokenCount":11,"candidatesTokenCount":3,
          "thoughtsTokenCount":5,"totalTokenCount":19}})",
      TestContext(remembered));
  const ChatResponse& resp = std::get<ChatResponse>(r);
  EXPECT_TRUE(resp.usage.present);
  EXPECT_EQ(resp.usage.prompt_tokens, 11);
  EXPECT_EQ(resp.usage.candidates_tokens, 3);
  EXPECT_EQ(resp.usage.thoughts_tokens, 5);
  EXPECT_EQ(resp.usage.total_tokens, 19);
}

TEST(ChatResponse, WrongTypesInsideTheAnswerAreSkippedNotFatal) {
  std::map<std::string, std::string> remembered;
  const auto r = TranslateChatResponse(
      R"({"candidates":[5,{"content":{"parts":[7,{"text":3},{"text":"ok"},
          {"functionCall":"nope"}]},"finishReason":9,"index":"x"}],"usageMetadata":[]})",
      TestContext(remembered));
  ASSERT_TRUE(std::holds_alternative<ChatResponse>(r));
  EXPECT_NE(std::get<ChatResponse>(r).body.find(R"("content":"ok")"), std::string::npos);
}

TEST(ChatResponse, ErrorObjectIsAnError) {
  std::map<std::string, std::string> remembered;
  const auto r =
      TranslateChatResponse(R"({"error":{"code":500,"message":"boom"}})", TestContext(remembered));
  const auto* e = std::get_if<TranslateError>(&r);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->message, "boom");
}

TEST(ChatResponse, HostileGroundingSegmentsStayInsideTheText) {
  // Negative, reversed, huge and mid-character offsets, odd part indices, wrong types: the
  // annotations stay within [0, length in code points] and nothing breaks.
  std::map<std::string, std::string> remembered;
  const auto r = TranslateChatResponse(
      R"({"candidates":[{"content":{"parts":[{"text":"aé"}]},"groundingMetadata":{
          "groundingChunks":[{"web":{"uri":"u","title":"t"}},{"web":{"uri":5}},{"web":"x"}],
          "groundingSupports":[
            {"segment":{"startIndex":-5,"endIndex":9223372036854775807},"groundingChunkIndices":[0]},
            {"segment":{"startIndex":3,"endIndex":1},"groundingChunkIndices":[0,1,2]},
            {"segment":{"startIndex":2,"endIndex":2},"groundingChunkIndices":[0]},
            {"segment":{"partIndex":-1},"groundingChunkIndices":[0]},
            {"segment":{"partIndex":99},"groundingChunkIndices":[0]},
            {"segment":7,"groundingChunkIndices":[0]},
            {"segment":{},"groundingChunkIndices":"0"},
            {"segment":{"startIndex":"1"},"groundingChunkIndices":[-1,1e300]}]}}]})",
      TestContext(remembered));
  ASSERT_TRUE(std::holds_alternative<ChatResponse>(r));
  const json::value body = json::parse(std::get<ChatResponse>(r).body);
  const json::array& anns = body.at("choices").at(0).at("message").at("annotations").as_array();
  std::vector<std::pair<int64_t, int64_t>> spans;
  for (const json::value& a : anns) {
    const json::object& c = a.at("url_citation").as_object();
    EXPECT_EQ(c.at("url").as_string(), "u");
    spans.emplace_back(c.at("start_index").as_int64(), c.at("end_index").as_int64());
  }
  // "aé" is 3 bytes, 2 code points; an offset inside "é" counts as just after it.
  // Chunk 0 is cited, so it gets no whole-text annotation; chunks 1 and 2 have no URL.
  const std::vector<std::pair<int64_t, int64_t>> want = {{0, 2}, {2, 2}, {2, 2}};
  EXPECT_EQ(spans, want);
}

}  // namespace
}  // namespace gkm
