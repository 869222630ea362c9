#include "translate/anthropic_request.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <variant>

#include "fixture_util.h"
#include "translate/thought_signature.h"

namespace gkm {
namespace {

namespace json = boost::json;
using testing_util::FixtureNames;
using testing_util::JsonTextEq;
using testing_util::LoadFixture;

class AnthropicRequestFixture : public testing::TestWithParam<std::string> {};

// Each fixture: {"input": <Anthropic request>, "count_tokens"?: true} and one of
// "expected" (the Gemini body, plus optional model and stream) or "error" (a substring of
// the message, plus optional param and status, 400 by default).
TEST_P(AnthropicRequestFixture, TranslatesAsWireAgentsD2Says) {
  const json::value fxv = LoadFixture("anthropic_request", GetParam());
  const json::object& fx = fxv.as_object();
  const std::string input = json::serialize(fx.at("input"));
  const bool count = fx.contains("count_tokens") && fx.at("count_tokens").as_bool();
  const AnthropicRequestResult r =
      count ? TranslateAnthropicCountTokens(input) : TranslateAnthropicRequest(input);

  if (const json::value* err = fx.if_contains("error")) {
    const auto* e = std::get_if<TranslateError>(&r);
    ASSERT_NE(e, nullptr) << "expected an error";
    const json::value* status = fx.if_contains("status");
    EXPECT_EQ(e->status, status ? status->as_int64() : 400);
    EXPECT_NE(e->message.find(err->as_string().c_str()), std::string::npos) << e->message;
    if (const json::value* p = fx.if_contains("param")) {
      EXPECT_EQ(e->param, p->as_string().c_str());
      EXPECT_TRUE(e->message.starts_with(e->param + ": ")) << e->message;
    }
    return;
  }
  if (const auto* e = std::get_if<TranslateError>(&r)) FAIL() << e->message;
  const auto& req = std::get<AnthropicRequest>(r);
  EXPECT_TRUE(JsonTextEq(req.body, fx.at("expected")));
  const json::value* model = fx.if_contains("model");
  EXPECT_EQ(req.model, model ? std::string(model->as_string()) : std::string("gemini-2.5-flash"));
  const json::value* stream = fx.if_contains("stream");
  EXPECT_EQ(req.stream, stream != nullptr && stream->as_bool());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, AnthropicRequestFixture,
                         testing::ValuesIn(FixtureNames("anthropic_request")),
                         [](const testing::TestParamInfo<std::string>& info) {
                           return testing_util::TestName(info.param);
                         });

TEST(AnthropicRequest, EveryMappingRowHasAFixture) {
  EXPECT_GE(FixtureNames("anthropic_request").size(), 60u);
}

TEST(AnthropicRequest, NotJsonOrNotAnObjectIs400) {
  for (const char* body : {"", "{", "[]", "5", "\"x\"", "{\"model\":\"m\"} junk", "\xff"}) {
    const AnthropicRequestResult r = TranslateAnthropicRequest(body);
    const auto* e = std::get_if<TranslateError>(&r);
    ASSERT_NE(e, nullptr) << body;
    EXPECT_EQ(e->status, 400) << body;
  }
}

TEST(AnthropicRequest, WrongTypesAre400NamingTheField) {
  const struct {
    const char* body;
    const char* param;
  } cases[] = {
      {R"({"model":5,"messages":[]})", "model"},
      {R"({"model":"m","messages":{}})", "messages"},
      {R"({"model":"m","messages":[5]})", "messages[0]"},
      {R"({"model":"m","messages":[{"role":"user"}]})", "messages[0].content"},
      {R"({"model":"m","messages":[{"role":"user","content":5}]})", "messages[0].content"},
      {R"({"model":"m","messages":[{"role":"user","content":[{"text":"x"}]}]})",
       "messages[0].content[0].type"},
      {R"({"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]})",
       "messages[0].content[0].text"},
      {R"({"model":"m","system":5,"messages":[{"role":"user","content":"x"}]})", "system"},
      {R"({"model":"m","tools":[{"input_schema":{}}],"messages":[{"role":"user","content":"x"}]})",
       "tools[0].name"},
      {R"({"model":"m","tools":[{"name":"a","input_schema":[]}],"messages":[{"role":"user","content":"x"}]})",
       "tools[0].input_schema"},
      {R"({"model":"m","tool_choice":"auto","messages":[{"role":"user","content":"x"}]})",
       "tool_choice"},
      {R"({"model":"m","stream":"yes","messages":[{"role":"user","content":"x"}]})", "stream"},
      {R"({"model":"m","metadata":"s","messages":[{"role":"user","content":"x"}]})", "metadata"},
      {R"({"model":"m","metadata":{"user_id":5},"messages":[{"role":"user","content":"x"}]})",
       "metadata.user_id"},
      {R"({"model":"m","stop_sequences":[1],"messages":[{"role":"user","content":"x"}]})",
       "stop_sequences[0]"},
      {R"({"model":"m","thinking":{"type":"enabled","budget_tokens":"many"},"messages":[{"role":"user","content":"x"}]})",
       "thinking.budget_tokens"},
      {R"({"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"a","is_error":"no"}]},{"role":"assistant","content":"x"}]})",
       "messages[0].content[0].tool_use_id"},
  };
  for (const auto& c : cases) {
    const AnthropicRequestResult r = TranslateAnthropicRequest(c.body);
    const auto* e = std::get_if<TranslateError>(&r);
    ASSERT_NE(e, nullptr) << c.body;
    EXPECT_EQ(e->status, 400) << c.body;
    EXPECT_EQ(e->param, c.param) << c.body << " → " << e->message;
  }
}

TEST(AnthropicRequest, MetadataUserIdIsTheSessionAndNotSentToGoogle) {
  const AnthropicRequestResult r = TranslateAnthropicRequest(
      R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],
          "metadata":{"user_id":"user_ab12_account__session_5f0c"}})");
  const auto* out = std::get_if<AnthropicRequest>(&r);
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->session, "user_ab12_account__session_5f0c");
  EXPECT_EQ(out->body.find("session_5f0c"), std::string::npos) << out->body;
  for (
      const char* body :
      {R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}]})",
       R"({"model":"m","max_tokens":5,"metadata":{},"messages":[{"role":"user","content":"x"}]})",
       R"({"model":"m","max_tokens":5,"metadata":{"user_id":null},"messages":[{"role":"user","content":"x"}]})"}) {
    const AnthropicRequestResult none = TranslateAnthropicRequest(body);
    ASSERT_TRUE(std::holds_alternative<AnthropicRequest>(none)) << body;
    EXPECT_EQ(std::get<AnthropicRequest>(none).session, "") << body;
  }
}

TEST(AnthropicRequest, ManyItemsAreRefusedByCount) {
  std::string body = R"({"model":"m","messages":[)";
  for (int i = 0; i < 10001; ++i)
    body += std::string(i ? "," : "") + R"({"role":"user","content":"x"})";
  body += "]}";
  const AnthropicRequestResult r = TranslateAnthropicRequest(body);
  const auto* e = std::get_if<TranslateError>(&r);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->param, "messages");
}

TEST(AnthropicRequest, DeepNestingIsRefused) {
  std::string deep(200, '[');
  std::string body = R"({"model":"m","messages":[{"role":"user","content":"x"}],"metadata":)" +
                     deep + std::string(200, ']') + "}";
  const AnthropicRequestResult r = TranslateAnthropicRequest(body);
  const auto* e = std::get_if<TranslateError>(&r);
  ASSERT_NE(e, nullptr);
  EXPECT_NE(e->message.find("nested deeper"), std::string::npos) << e->message;
}

// A long, binary signature survives the whole way through an id.
TEST(AnthropicRequest, RealisticSignatureRoundTripsThroughTheId) {
  std::string sig;
  for (int i = 0; i < 3000; ++i) sig += static_cast<char>("AZaz09+/="[i % 9]);
  const std::string id = IdWithSignature("toolu_01A9", sig);
  const std::string body =
      R"({"model":"gemini-3-pro-preview","messages":[{"role":"user","content":"q"},)"
      R"({"role":"assistant","content":[{"type":"tool_use","id":")" +
      id + R"(","name":"Read","input":{}}]}]})";
  const AnthropicRequestResult r = TranslateAnthropicRequest(body);
  ASSERT_TRUE(std::holds_alternative<AnthropicRequest>(r));
  const json::value v = json::parse(std::get<AnthropicRequest>(r).body);
  EXPECT_EQ(v.at("contents").at(1).at("parts").at(0).at("thoughtSignature").as_string(), sig);
}

}  // namespace
}  // namespace gkm
