#include "translate/anthropic_response.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <memory>
#include <regex>
#include <string>
#include <variant>

#include "fixture_util.h"
#include "translate/anthropic_request.h"
#include "translate/thought_signature.h"

namespace gkm {
namespace {

namespace json = boost::json;
using testing_util::FixtureNames;
using testing_util::JsonTextEq;
using testing_util::LoadFixture;

AnthropicContext Ctx() {
  AnthropicContext ctx;
  ctx.id = "msg_test";
  ctx.model = "gemini-2.5-flash";
  auto n = std::make_shared<int>(0);
  ctx.new_tool_use_id = [n] { return "toolu_" + std::to_string(++*n); };
  return ctx;
}

class AnthropicResponseFixture : public testing::TestWithParam<std::string> {};

// Each fixture: {"input": <Gemini answer, or raw text as a string>} and "expected" (the
// message) or "error" (a substring of the 502's message).
TEST_P(AnthropicResponseFixture, TranslatesAsWireAgentsD3Says) {
  const json::value fxv = LoadFixture("anthropic_response", GetParam());
  const json::object& fx = fxv.as_object();
  const json::value& in = fx.at("input");
  const std::string input = in.is_string() ? std::string(in.as_string()) : json::serialize(in);
  const auto r = TranslateAnthropicResponse(input, Ctx());
  if (const json::value* err = fx.if_contains("error")) {
    const auto* e = std::get_if<TranslateError>(&r);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->status, 502);
    EXPECT_NE(e->message.find(err->as_string().c_str()), std::string::npos) << e->message;
    return;
  }
  if (const auto* e = std::get_if<TranslateError>(&r)) FAIL() << e->message;
  EXPECT_TRUE(JsonTextEq(std::get<AnthropicResponse>(r).body, fx.at("expected")));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, AnthropicResponseFixture,
                         testing::ValuesIn(FixtureNames("anthropic_response")),
                         [](const testing::TestParamInfo<std::string>& info) {
                           return testing_util::TestName(info.param);
                         });

TEST(AnthropicResponse, ToolUseIdsMatchWhatClientsAccept) {
  const std::string sig(2000, '/');  // base64's own alphabet has '+' and '/'
  const std::string gemini = R"({"candidates":[{"content":{"parts":[{"functionCall":)"
                             R"({"name":"Read","args":{}},"thoughtSignature":")" +
                             sig + R"("}]},"finishReason":"STOP"}]})";
  const auto r = TranslateAnthropicResponse(gemini, Ctx());
  ASSERT_TRUE(std::holds_alternative<AnthropicResponse>(r));
  const json::value v = json::parse(std::get<AnthropicResponse>(r).body);
  const std::string id(v.at("content").at(0).at("id").as_string());
  EXPECT_TRUE(std::regex_match(id, std::regex("^[a-zA-Z0-9_-]+$"))) << id;
  EXPECT_EQ(SplitSignatureId(id).signature.value_or(""), sig);
}

TEST(AnthropicResponse, UsageIsKeptForAccounting) {
  const auto r = TranslateAnthropicResponse(
      R"({"candidates":[],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":6,)"
      R"("thoughtsTokenCount":9}})",
      Ctx());
  ASSERT_TRUE(std::holds_alternative<AnthropicResponse>(r));
  const GeminiUsage& u = std::get<AnthropicResponse>(r).usage;
  EXPECT_EQ(u.prompt_tokens, 4);
  EXPECT_EQ(u.candidates_tokens, 6);
  EXPECT_EQ(u.thoughts_tokens, 9);
}

// What the response gives, the next request gives back on the same parts.
TEST(AnthropicResponse, SignaturesComeBackOnTheirPartsNextTurn) {
  const std::string gemini = R"({"candidates":[{"content":{"role":"model","parts":[
      {"text":"think","thought":true,"thoughtSignature":"T1=="},
      {"text":"say","thoughtSignature":"S1=="},
      {"functionCall":{"name":"a","args":{"x":1}},"thoughtSignature":"C1=="},
      {"functionCall":{"name":"b","args":{}}}]},"finishReason":"STOP"}]})";
  const auto r = TranslateAnthropicResponse(gemini, Ctx());
  ASSERT_TRUE(std::holds_alternative<AnthropicResponse>(r));
  const json::value msg = json::parse(std::get<AnthropicResponse>(r).body);
  json::object assistant;
  assistant["role"] = "assistant";
  assistant["content"] = msg.at("content");
  json::object user;
  user["role"] = "user";
  user["content"] = "go";
  json::object req;
  req["model"] = "gemini-3-pro-preview";
  req["messages"] = json::array{user, assistant};
  const auto back = TranslateAnthropicRequest(json::serialize(req));
  ASSERT_TRUE(std::holds_alternative<AnthropicRequest>(back));
  EXPECT_TRUE(JsonTextEq(std::get<AnthropicRequest>(back).body, json::parse(R"({"contents":[
      {"role":"user","parts":[{"text":"go"}]},
      {"role":"model","parts":[
        {"text":"think","thought":true,"thoughtSignature":"T1=="},
        {"text":"say","thoughtSignature":"S1=="},
        {"functionCall":{"name":"a","args":{"x":1}},"thoughtSignature":"C1=="},
        {"functionCall":{"name":"b","args":{}}}]}]})")));
}

TEST(AnthropicCountTokens, TotalTokensBecomeInputTokens) {
  const auto r = TranslateAnthropicCountTokensResponse(
      R"({"totalTokens":31,"promptTokensDetails":[{"modality":"TEXT","tokenCount":31}]})");
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_TRUE(JsonTextEq(std::get<std::string>(r), json::parse(R"({"input_tokens":31})")));
  EXPECT_TRUE(std::holds_alternative<TranslateError>(TranslateAnthropicCountTokensResponse("[")));
}

}  // namespace
}  // namespace gkm
