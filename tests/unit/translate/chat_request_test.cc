#include "translate/chat_request.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <string>
#include <variant>

#include "fixture_util.h"

namespace gkm {
namespace {

namespace json = boost::json;
using testing_util::FixtureNames;
using testing_util::JsonTextEq;
using testing_util::LoadFixture;

ChatOptions OptionsFrom(const json::object& fx, std::map<std::string, std::string>& signatures) {
  ChatOptions o;
  const json::value* ov = fx.if_contains("options");
  if (ov == nullptr) return o;
  const json::object& opts = ov->get_object();
  if (const json::value* v = opts.if_contains("fetch_image_urls"))
    o.fetch_image_urls = v->as_bool();
  if (const json::value* v = opts.if_contains("include_thoughts"))
    o.include_thoughts = v->as_bool();
  if (const json::value* v = opts.if_contains("fallback_thought_signature")) {
    o.fallback_thought_signature = v->as_string();
  }
  if (const json::value* v = opts.if_contains("fetched")) {
    for (const auto& kv : v->as_object()) {
      FetchedImage img;
      const json::object& f = kv.value().as_object();
      if (const json::value* m = f.if_contains("mime_type")) img.mime_type = m->as_string();
      if (const json::value* d = f.if_contains("base64_data")) img.base64_data = d->as_string();
      if (const json::value* e = f.if_contains("error")) img.error = e->as_string();
      o.fetched_images[std::string(kv.key())] = img;
    }
  }
  if (const json::value* v = opts.if_contains("signatures")) {
    for (const auto& kv : v->as_object()) {
      signatures[std::string(kv.key())] = std::string(kv.value().as_string());
    }
    o.signature_lookup = [&signatures](std::string_view id) -> std::optional<std::string> {
      auto it = signatures.find(std::string(id));
      if (it == signatures.end()) return std::nullopt;
      return it->second;
    };
  }
  return o;
}

class RequestFixture : public testing::TestWithParam<std::string> {};

// Each fixture: {"input": <OpenAI request>, "options"?: {...}} and one of
// "expected" (the Gemini body, plus optional model/stream/include_usage/candidate_count),
// "error" (a substring of the message, plus optional param), "need_fetch" (URLs).
TEST_P(RequestFixture, TranslatesAsWireMdPartCSays) {
  const json::value fxv = LoadFixture("request", GetParam());
  const json::object& fx = fxv.as_object();
  std::map<std::string, std::string> signatures;
  const ChatOptions options = OptionsFrom(fx, signatures);
  const std::string input = json::serialize(fx.at("input"));
  const ChatRequestResult r = TranslateChatRequest(input, options);

  if (const json::value* err = fx.if_contains("error")) {
    const auto* e = std::get_if<TranslateError>(&r);
    ASSERT_NE(e, nullptr) << "expected an error";
    EXPECT_EQ(e->status, 400);
    EXPECT_NE(e->message.find(err->as_string().c_str()), std::string::npos) << e->message;
    if (const json::value* p = fx.if_contains("param")) {
      EXPECT_EQ(e->param, p->as_string().c_str());
      EXPECT_TRUE(e->message.starts_with(e->param + ": ")) << e->message;
    }
    return;
  }
  if (const json::value* need = fx.if_contains("need_fetch")) {
    const auto* n = std::get_if<ImageFetchNeeded>(&r);
    ASSERT_NE(n, nullptr) << "expected ImageFetchNeeded";
    std::vector<std::string> want;
    for (const json::value& u : need->as_array()) want.emplace_back(u.as_string());
    EXPECT_EQ(n->urls, want);
    return;
  }
  if (const auto* e = std::get_if<TranslateError>(&r)) FAIL() << e->message;
  const auto* req = std::get_if<ChatRequest>(&r);
  ASSERT_NE(req, nullptr);
  EXPECT_TRUE(JsonTextEq(req->body, fx.at("expected")));
  const auto str = [&](const char* k, const char* def) {
    const json::value* v = fx.if_contains(k);
    return v ? std::string(v->as_string()) : std::string(def);
  };
  const auto flag = [&](const char* k) {
    const json::value* v = fx.if_contains(k);
    return v != nullptr && v->as_bool();
  };
  EXPECT_EQ(req->model, str("model", "gemini-2.5-flash"));
  EXPECT_EQ(req->stream, flag("stream"));
  EXPECT_EQ(req->include_usage, flag("include_usage"));
  const json::value* n = fx.if_contains("candidate_count");
  EXPECT_EQ(req->candidate_count, n ? n->as_int64() : 1);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, RequestFixture, testing::ValuesIn(FixtureNames("request")),
                         [](const testing::TestParamInfo<std::string>& info) {
                           return testing_util::TestName(info.param);
                         });

TEST(ChatRequest, EveryMappingRowHasAFixture) {
  // A guard against the fixture directory silently going missing or shrinking.
  EXPECT_GE(FixtureNames("request").size(), 50u);
}

TEST(ChatRequest, SignatureLookupSeesTheToolCallId) {
  std::vector<std::string> asked;
  ChatOptions o;
  o.signature_lookup = [&](std::string_view id) -> std::optional<std::string> {
    asked.emplace_back(id);
    return std::nullopt;
  };
  const auto r = TranslateChatRequest(
      R"({"model":"m","messages":[{"role":"user","content":"q"},{"role":"assistant",
          "tool_calls":[{"id":"call_x","type":"function","function":{"name":"f","arguments":"{}"}}]}]})",
      o);
  ASSERT_TRUE(std::holds_alternative<ChatRequest>(r));
  EXPECT_EQ(asked, std::vector<std::string>{"call_x"});
}

TEST(ChatRequest, PromptCacheKeyIsTheSessionAndNotSentToGoogle) {
  auto r = TranslateChatRequest(
      R"({"model":"m","messages":[{"role":"user","content":"q"}],"prompt_cache_key":"s-42"})", {});
  const auto* out = std::get_if<ChatRequest>(&r);
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->session, "s-42");
  EXPECT_EQ(out->body.find("s-42"), std::string::npos) << out->body;
  r = TranslateChatRequest(
      R"({"model":"m","messages":[{"role":"user","content":"q"}],"prompt_cache_key":["s"]})", {});
  const auto* e = std::get_if<TranslateError>(&r);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->status, 400);
  EXPECT_EQ(e->param, "prompt_cache_key");
}

TEST(ChatRequest, ErrorsBeforeFetchRequests) {
  ChatOptions o;
  o.fetch_image_urls = true;
  const auto r = TranslateChatRequest(
      R"({"model":"m","messages":[{"role":"user","content":[
          {"type":"image_url","image_url":{"url":"https://x/a.png"}},
          {"type":"image_url","image_url":{"url":"data:image/png;base64,@@"}}]}]})",
      o);
  const auto* e = std::get_if<TranslateError>(&r);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->param, "messages[0].content[1].image_url.url");
}

TEST(ChatRequest, TooManyRemoteImagesIsRejected) {
  ChatOptions o;
  o.fetch_image_urls = true;
  std::string parts;
  for (size_t i = 0; i <= kMaxRemoteImages; ++i) {
    if (i > 0) parts += ",";
    parts += R"({"type":"image_url","image_url":{"url":"https://x/)" + std::to_string(i) + R"("}})";
  }
  const auto r = TranslateChatRequest(
      R"({"model":"m","messages":[{"role":"user","content":[)" + parts + "]}]}", o);
  const auto* e = std::get_if<TranslateError>(&r);
  ASSERT_NE(e, nullptr);
  EXPECT_NE(e->message.find("remote image URLs"), std::string::npos) << e->message;
}

}  // namespace
}  // namespace gkm
