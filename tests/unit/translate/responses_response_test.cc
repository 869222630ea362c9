#include "translate/responses_response.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <memory>
#include <string>
#include <variant>

#include "fixture_util.h"

namespace gkm {
namespace {

namespace json = boost::json;
using testing_util::FixtureNames;
using testing_util::JsonEq;
using testing_util::LoadFixture;

// Ids "<prefix><n>", n counting every id the translator asked for.
PrefixedIdGenerator Counter() {
  auto n = std::make_shared<int>(0);
  return [n](std::string_view prefix) { return std::string(prefix) + std::to_string((*n)++); };
}

ResponsesContext ContextFrom(const json::object& fx) {
  ResponsesContext ctx;
  ctx.id = "resp_test";
  ctx.created_at = 1767000000;
  ctx.model = "gemini-2.5-flash";
  ctx.new_id = Counter();
  if (const json::value* cv = fx.if_contains("context")) {
    const json::object& c = cv->as_object();
    if (const json::value* v = c.if_contains("include_encrypted"))
      ctx.include_encrypted = v->as_bool();
    if (const json::value* v = c.if_contains("custom_tools")) {
      for (const json::value& n : v->as_array())
        ctx.custom_tools.insert(std::string(n.as_string()));
    }
    if (const json::value* v = c.if_contains("echo")) ctx.echo = json::serialize(*v);
  }
  return ctx;
}

class ResponsesResponseFixture : public testing::TestWithParam<std::string> {};

// Each fixture: {"gemini": <answer>} (or "gemini_text"), "context"?, and "expected" (the
// response object's fields to compare) or "error" (a substring of the 502's message).
TEST_P(ResponsesResponseFixture, TranslatesAsWireAgentsE3Says) {
  const json::value fxv = LoadFixture("responses_response", GetParam());
  const json::object& fx = fxv.as_object();
  const std::string in = fx.contains("gemini_text") ? std::string(fx.at("gemini_text").as_string())
                                                    : json::serialize(fx.at("gemini"));
  const auto r = TranslateResponsesResponse(in, ContextFrom(fx));
  if (const json::value* err = fx.if_contains("error")) {
    const auto* e = std::get_if<TranslateError>(&r);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->status, 502);
    EXPECT_NE(e->message.find(err->as_string().c_str()), std::string::npos) << e->message;
    return;
  }
  const auto* a = std::get_if<ResponsesAnswer>(&r);
  ASSERT_NE(a, nullptr) << std::get<TranslateError>(r).message;
  const json::value body = json::parse(a->body);
  const json::object& o = body.as_object();
  EXPECT_EQ(o.at("id"), "resp_test");
  EXPECT_EQ(o.at("object"), "response");
  EXPECT_EQ(o.at("created_at").as_int64(), 1767000000);
  EXPECT_TRUE(o.at("error").is_null());
  for (const auto& kv : fx.at("expected").as_object()) {
    const json::value* got = o.if_contains(kv.key());
    ASSERT_NE(got, nullptr) << "no field " << kv.key();
    EXPECT_TRUE(JsonEq(*got, kv.value())) << kv.key();
  }
  EXPECT_TRUE(JsonEq(json::parse(a->output_items), o.at("output")));
  EXPECT_EQ(a->status, o.at("status").as_string().c_str());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ResponsesResponseFixture,
                         testing::ValuesIn(FixtureNames("responses_response")),
                         [](const auto& info) { return testing_util::TestName(info.param); });

TEST(ResponsesResponse, EnvelopeHasTheFieldsTheSdksReadAndRepeatsTheRequest) {
  ResponsesContext ctx;
  ctx.id = "resp_1";
  ctx.model = "gemini-2.5-pro";
  ctx.new_id = Counter();
  ctx.echo = R"({"instructions":"be brief","store":false,"tool_choice":"required"})";
  const auto r = TranslateResponsesResponse(
      R"({"candidates":[{"content":{"parts":[{"text":"ok"}]},"finishReason":"STOP"}]})", ctx);
  const auto& a = std::get<ResponsesAnswer>(r);
  const json::object o = json::parse(a.body).as_object();
  EXPECT_EQ(o.at("model"), "gemini-2.5-pro");
  EXPECT_EQ(o.at("instructions"), "be brief");
  EXPECT_EQ(o.at("store"), false);
  EXPECT_EQ(o.at("tool_choice"), "required");
  EXPECT_TRUE(o.at("incomplete_details").is_null());
  EXPECT_TRUE(o.at("tools").is_array());
  EXPECT_TRUE(o.at("metadata").is_object());
  EXPECT_EQ(o.at("parallel_tool_calls"), true);
}

TEST(ResponsesResponse, KeepsUsageForAccounting) {
  ResponsesContext ctx;
  ctx.new_id = Counter();
  const auto r = TranslateResponsesResponse(
      R"({"candidates":[{"content":{"parts":[{"text":"ok"}]}}],
          "usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":2,"thoughtsTokenCount":3,
          "totalTokenCount":10}})",
      ctx);
  const auto& a = std::get<ResponsesAnswer>(r);
  EXPECT_EQ(a.usage.prompt_tokens, 5);
  EXPECT_EQ(a.usage.candidates_tokens, 2);
  EXPECT_EQ(a.usage.thoughts_tokens, 3);
}

TEST(ResponsesError, ReplacesTheCodeKeepingOpenAisShape) {
  const json::value v =
      json::parse(ResponsesErrorBody(404, "no model x", "model", "model_not_found"));
  EXPECT_TRUE(JsonEq(v, json::parse(R"({"error":{"message":"no model x","type":"not_found_error",
      "param":"model","code":"model_not_found"}})")));
}

}  // namespace
}  // namespace gkm
