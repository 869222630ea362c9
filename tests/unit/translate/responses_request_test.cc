#include "translate/responses_request.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <variant>

#include "fixture_util.h"

namespace gkm {
namespace {

namespace json = boost::json;
using testing_util::FixtureNames;
using testing_util::JsonEq;
using testing_util::JsonTextEq;
using testing_util::LoadFixture;

ResponsesOptions OptionsFrom(const json::object& fx) {
  ResponsesOptions o;
  const json::value* ov = fx.if_contains("options");
  if (ov == nullptr) return o;
  const json::object& opts = ov->as_object();
  if (const json::value* v = opts.if_contains("fallback_thought_signature")) {
    o.fallback_thought_signature = v->as_string();
  }
  if (const json::value* v = opts.if_contains("previous_items"))
    o.previous_items = json::serialize(*v);
  return o;
}

class ResponsesRequestFixture : public testing::TestWithParam<std::string> {};

// Each fixture: {"input": <Responses request>} (or "input_text": raw bytes), "options"?,
// and one of "expected" (the Gemini body; "expect" for the other fields), "error" (a
// substring, with "param" and "status"), "need_previous" (the id).
TEST_P(ResponsesRequestFixture, TranslatesAsWireAgentsE2Says) {
  const json::value fxv = LoadFixture("responses_request", GetParam());
  const json::object& fx = fxv.as_object();
  const ResponsesOptions options = OptionsFrom(fx);
  const std::string input = fx.contains("input_text") ? std::string(fx.at("input_text").as_string())
                                                      : json::serialize(fx.at("input"));
  const ResponsesRequestResult r = TranslateResponsesRequest(input, options);

  if (const json::value* err = fx.if_contains("error")) {
    const auto* e = std::get_if<TranslateError>(&r);
    ASSERT_NE(e, nullptr) << "expected an error";
    EXPECT_EQ(e->status, fx.contains("status") ? fx.at("status").as_int64() : 400);
    EXPECT_NE(e->message.find(err->as_string().c_str()), std::string::npos) << e->message;
    if (const json::value* p = fx.if_contains("param")) {
      EXPECT_EQ(e->param, p->as_string().c_str());
      EXPECT_TRUE(e->message.starts_with(e->param + ": ")) << e->message;
    }
    return;
  }
  if (const json::value* need = fx.if_contains("need_previous")) {
    const auto* n = std::get_if<PreviousResponseNeeded>(&r);
    ASSERT_NE(n, nullptr) << "expected a look-up of the previous response";
    EXPECT_EQ(n->id, need->as_string().c_str());
    return;
  }
  const auto* out = std::get_if<ResponsesRequest>(&r);
  if (out == nullptr) {
    const auto* e = std::get_if<TranslateError>(&r);
    FAIL() << "unexpected failure: " << (e ? e->message : std::string("need previous"));
  }
  EXPECT_TRUE(JsonTextEq(out->body, fx.at("expected")));
  if (const json::value* ev = fx.if_contains("expect")) {
    const json::object& x = ev->as_object();
    if (const json::value* v = x.if_contains("model")) {
      EXPECT_EQ(out->model, v->as_string().c_str());
    }
    if (const json::value* v = x.if_contains("stream")) {
      EXPECT_EQ(out->stream, v->as_bool());
    }
    if (const json::value* v = x.if_contains("store")) {
      EXPECT_EQ(out->store, v->as_bool());
    }
    if (const json::value* v = x.if_contains("include_encrypted")) {
      EXPECT_EQ(out->include_encrypted, v->as_bool());
    }
    if (const json::value* v = x.if_contains("custom_tools")) {
      json::array names;
      for (const std::string& n : out->custom_tools) names.push_back(json::value(n));
      EXPECT_TRUE(JsonEq(names, *v));
    }
    if (const json::value* v = x.if_contains("items")) {
      EXPECT_TRUE(JsonTextEq(out->items, *v));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ResponsesRequestFixture,
                         testing::ValuesIn(FixtureNames("responses_request")),
                         [](const auto& info) { return testing_util::TestName(info.param); });

TEST(ResponsesRequest, StringInputIsStoredAsAUserMessageItem) {
  const auto r = TranslateResponsesRequest(R"({"model":"gemini-2.5-flash","input":"hi"})", {});
  const auto* out = std::get_if<ResponsesRequest>(&r);
  ASSERT_NE(out, nullptr);
  EXPECT_TRUE(JsonTextEq(out->items, json::parse(R"([{"type":"message","role":"user",
      "content":[{"type":"input_text","text":"hi"}]}])")));
}

TEST(ResponsesRequest, EchoRepeatsTheRequestFieldsForTheResponseObject) {
  const auto r = TranslateResponsesRequest(
      R"({"model":"gemini-2.5-flash","input":"hi","instructions":"x","temperature":0.2,
          "store":false,"metadata":{"a":"b"},"tools":[]})",
      {});
  const auto* out = std::get_if<ResponsesRequest>(&r);
  ASSERT_NE(out, nullptr);
  EXPECT_TRUE(JsonTextEq(out->echo, json::parse(R"({"instructions":"x","temperature":0.2,
      "store":false,"metadata":{"a":"b"},"tools":[]})")));
}

TEST(ResponsesRequest, PromptCacheKeyIsTheSessionAndNotSentToGoogle) {
  auto r = TranslateResponsesRequest(
      R"({"model":"gemini-2.5-flash","input":"hi","prompt_cache_key":"codex-7f3a"})", {});
  const auto* out = std::get_if<ResponsesRequest>(&r);
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->session, "codex-7f3a");
  EXPECT_EQ(out->body.find("codex-7f3a"), std::string::npos) << out->body;
  r = TranslateResponsesRequest(R"({"model":"gemini-2.5-flash","input":"hi"})", {});
  ASSERT_TRUE(std::holds_alternative<ResponsesRequest>(r));
  EXPECT_EQ(std::get<ResponsesRequest>(r).session, "");
  r = TranslateResponsesRequest(R"({"model":"gemini-2.5-flash","input":"hi","prompt_cache_key":7})",
                                {});
  const auto* e = std::get_if<TranslateError>(&r);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->status, 400);
  EXPECT_EQ(e->param, "prompt_cache_key");
}

TEST(ResponsesRequest, StoredItemsThatAreNotAnArrayAreA400NotACrash) {
  ResponsesOptions o;
  o.previous_items = "{}";
  const auto r = TranslateResponsesRequest(
      R"({"model":"gemini-2.5-flash","input":"hi","previous_response_id":"resp_1"})", o);
  const auto* e = std::get_if<TranslateError>(&r);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->param, "previous_response_id");
}

TEST(ResponsesRequest, HostileBodiesNeverCrash) {
  for (const char* body :
       {"", "null", "[]", "{\"model\":1}", "{\"model\":\"m\",\"input\":5}",
        "{\"model\":\"m\",\"input\":[1,[],{}]}", "{\"model\":\"m\",\"input\":[{\"type\":7}]}",
        "{\"model\":\"m\",\"input\":\"x\",\"tools\":[{\"type\":\"custom\",\"name\":\"a\","
        "\"format\":5}]}",
        "{\"model\":\"m\",\"input\":\"x\",\"reasoning\":[]}",
        "{\"model\":\"m\",\"input\":[{\"type\":\"reasoning\",\"encrypted_content\":\"gs1.!!\"}]"
        "}"}) {
    const auto r = TranslateResponsesRequest(body, {});
    EXPECT_TRUE(std::holds_alternative<TranslateError>(r)) << body;
  }
}

}  // namespace
}  // namespace gkm
