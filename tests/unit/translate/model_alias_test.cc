// --model-alias in every translator: the Gemini model goes upstream (and decides the
// thinking settings), the client's name is kept for the answer, another vendor's unmapped
// name is a 404 on "model"; and /v1/models lists the aliases in both shapes.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <variant>

#include "fixture_util.h"
#include "translate/anthropic_error.h"
#include "translate/anthropic_request.h"
#include "translate/chat_request.h"
#include "translate/embeddings.h"
#include "translate/error.h"
#include "translate/models.h"
#include "translate/responses_request.h"

namespace gkm {
namespace {

namespace json = boost::json;
using testing_util::JsonTextEq;

ModelAliases Aliases() {
  ModelAliases a;
  EXPECT_EQ(a.Add("claude-*=gemini-2.5-flash"), "");
  EXPECT_EQ(a.Add("claude-opus-4-1=gemini-3-pro-preview"), "");
  EXPECT_EQ(a.Add("gpt-5-codex=gemini-2.5-pro"), "");
  EXPECT_EQ(a.Add("text-embedding-3-small=gemini-embedding-001"), "");
  return a;
}

const std::string kClaude =
    R"({"model":"claude-opus-4-1","max_tokens":64,"messages":[{"role":"user","content":"hi"}],
        "thinking":{"type":"disabled"}})";

TEST(ModelAlias, AnthropicMessagesGoToTheGeminiModelAndKeepTheClientName) {
  const ModelAliases aliases = Aliases();
  auto r = TranslateAnthropicRequest(kClaude, &aliases);
  ASSERT_TRUE(std::holds_alternative<AnthropicRequest>(r));
  const AnthropicRequest& ar = std::get<AnthropicRequest>(r);
  EXPECT_EQ(ar.model, "gemini-3-pro-preview");  // the exact alias, not the glob
  EXPECT_EQ(ar.client_model, "claude-opus-4-1");
  // The thinking settings are those of the Gemini model it goes to: thinking is turned off
  // on 2.5 Flash by a zero budget, which no other model gets.
  std::string sonnet = kClaude;
  sonnet.replace(sonnet.find("claude-opus-4-1"), 15, "claude-sonnet-4-5");
  auto flash = TranslateAnthropicRequest(sonnet, &aliases);
  ASSERT_TRUE(std::holds_alternative<AnthropicRequest>(flash));
  EXPECT_EQ(std::get<AnthropicRequest>(flash).model, "gemini-2.5-flash");
  EXPECT_NE(std::get<AnthropicRequest>(flash).body.find("\"thinkingBudget\":0"), std::string::npos)
      << std::get<AnthropicRequest>(flash).body;
  EXPECT_EQ(ar.body.find("\"thinkingBudget\":0"), std::string::npos) << ar.body;

  auto count = TranslateAnthropicCountTokens(
      R"({"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]})", &aliases);
  ASSERT_TRUE(std::holds_alternative<AnthropicRequest>(count));
  EXPECT_NE(std::get<AnthropicRequest>(count).body.find("\"models/gemini-2.5-flash\""),
            std::string::npos);
}

TEST(ModelAlias, UnmappedForeignNamesAre404OnModelInEveryTranslator) {
  const ModelAliases none;
  auto expect_refusal = [](const TranslateError& e, std::string_view name) {
    EXPECT_EQ(e.status, 404);
    EXPECT_EQ(e.param, "model");
    EXPECT_EQ(e.message, "model \"" + std::string(name) +
                             "\" is not a Gemini model; map it with --model-alias " +
                             std::string(name) + "=gemini-2.5-flash");
  };
  auto an = TranslateAnthropicRequest(kClaude, &none);
  ASSERT_TRUE(std::holds_alternative<TranslateError>(an));
  expect_refusal(std::get<TranslateError>(an), "claude-opus-4-1");

  ChatOptions chat_options;
  chat_options.aliases = &none;
  auto chat = TranslateChatRequest(
      R"({"model":"models/gpt-4o","messages":[{"role":"user","content":"hi"}]})", chat_options);
  ASSERT_TRUE(std::holds_alternative<TranslateError>(chat));
  expect_refusal(std::get<TranslateError>(chat), "gpt-4o");

  ResponsesOptions responses_options;
  responses_options.aliases = &none;
  auto resp =
      TranslateResponsesRequest(R"({"model":"gpt-5-codex","input":"hi"})", responses_options);
  ASSERT_TRUE(std::holds_alternative<TranslateError>(resp));
  expect_refusal(std::get<TranslateError>(resp), "gpt-5-codex");

  auto emb = TranslateEmbeddingsRequest(R"({"model":"text-embedding-3-small","input":"x"})", &none);
  ASSERT_TRUE(std::holds_alternative<TranslateError>(emb));
  expect_refusal(std::get<TranslateError>(emb), "text-embedding-3-small");

  // Without a table (no proxy around) names pass as they are.
  auto bare = TranslateAnthropicRequest(kClaude);
  ASSERT_TRUE(std::holds_alternative<AnthropicRequest>(bare));
  EXPECT_EQ(std::get<AnthropicRequest>(bare).model, "claude-opus-4-1");
}

TEST(ModelAlias, ChatResponsesAndEmbeddingsMap) {
  const ModelAliases aliases = Aliases();
  ChatOptions chat_options;
  chat_options.aliases = &aliases;
  auto chat = TranslateChatRequest(
      R"({"model":"claude-haiku-4-5-20251001","messages":[{"role":"user","content":"hi"}]})",
      chat_options);
  ASSERT_TRUE(std::holds_alternative<ChatRequest>(chat));
  EXPECT_EQ(std::get<ChatRequest>(chat).model, "gemini-2.5-flash");
  EXPECT_EQ(std::get<ChatRequest>(chat).client_model, "claude-haiku-4-5-20251001");

  ResponsesOptions responses_options;
  responses_options.aliases = &aliases;
  auto resp =
      TranslateResponsesRequest(R"({"model":"gpt-5-codex","input":"hi"})", responses_options);
  ASSERT_TRUE(std::holds_alternative<ResponsesRequest>(resp));
  EXPECT_EQ(std::get<ResponsesRequest>(resp).model, "gemini-2.5-pro");
  EXPECT_EQ(std::get<ResponsesRequest>(resp).client_model, "gpt-5-codex");

  auto emb =
      TranslateEmbeddingsRequest(R"({"model":"text-embedding-3-small","input":"x"})", &aliases);
  ASSERT_TRUE(std::holds_alternative<EmbeddingsRequest>(emb));
  const EmbeddingsRequest& er = std::get<EmbeddingsRequest>(emb);
  EXPECT_EQ(er.model, "gemini-embedding-001");
  EXPECT_EQ(er.client_model, "text-embedding-3-small");
  ASSERT_EQ(er.bodies.size(), 1u);
  EXPECT_NE(er.bodies[0].find("\"models/gemini-embedding-001\""), std::string::npos);
}

TEST(ModelAlias, RefusalBodiesInEachShape) {
  const TranslateError e{404, "model \"gpt-4o\" is not a Gemini model", "model"};
  EXPECT_TRUE(JsonTextEq(OpenAiErrorBody(e), json::parse(R"({"error":{
      "message":"model \"gpt-4o\" is not a Gemini model","type":"invalid_request_error",
      "param":"model","code":"model_not_found"}})")));
  EXPECT_TRUE(JsonTextEq(AnthropicErrorBody(e), json::parse(R"({"type":"error","error":{
      "type":"not_found_error","message":"model \"gpt-4o\" is not a Gemini model"}})")));
}

const std::string kPage =
    R"({"models":[{"name":"models/gemini-2.5-flash","displayName":"Gemini 2.5 Flash"},
                  {"name":"models/gemini-2.5-pro"}]})";

TEST(ModelAlias, ListsLiteralAliasesFirstInOpenAiShape) {
  const auto r = TranslateModelsList({kPage}, Aliases().Literals());
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_TRUE(JsonTextEq(std::get<std::string>(r), json::parse(R"({"object":"list","data":[
      {"id":"claude-opus-4-1","object":"model","created":0,"owned_by":"gemini-key-manager"},
      {"id":"gpt-5-codex","object":"model","created":0,"owned_by":"gemini-key-manager"},
      {"id":"text-embedding-3-small","object":"model","created":0,"owned_by":"gemini-key-manager"},
      {"id":"gemini-2.5-flash","object":"model","created":0,"owned_by":"google"},
      {"id":"gemini-2.5-pro","object":"model","created":0,"owned_by":"google"}]})")));
}

TEST(ModelAlias, ListsInAnthropicShape) {
  ModelAliases aliases;
  ASSERT_EQ(aliases.Add("claude-sonnet-4-5=gemini-2.5-flash"), "");
  ASSERT_EQ(aliases.Add("gemini-2.5-pro=gemini-2.5-flash"), "");  // hides Google's entry
  const auto r = TranslateModelsList({kPage}, aliases.Literals(), ModelsShape::kAnthropic);
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_TRUE(JsonTextEq(std::get<std::string>(r), json::parse(R"js({"data":[
      {"type":"model","id":"claude-sonnet-4-5","display_name":"claude-sonnet-4-5 (gemini-2.5-flash)",
       "created_at":"1970-01-01T00:00:00Z"},
      {"type":"model","id":"gemini-2.5-pro","display_name":"gemini-2.5-pro (gemini-2.5-flash)",
       "created_at":"1970-01-01T00:00:00Z"},
      {"type":"model","id":"gemini-2.5-flash","display_name":"Gemini 2.5 Flash",
       "created_at":"1970-01-01T00:00:00Z"}],
      "has_more":false,"first_id":"claude-sonnet-4-5","last_id":"gemini-2.5-flash"})js")));
  const auto empty = TranslateModelsList({"{}"}, {}, ModelsShape::kAnthropic);
  EXPECT_TRUE(JsonTextEq(std::get<std::string>(empty),
                         json::parse(R"js({"data":[],"has_more":false,"first_id":null,
                                         "last_id":null})js")));
}

TEST(ModelAlias, OneModelInEitherShape) {
  EXPECT_TRUE(JsonTextEq(AliasModel(ModelAlias{"gpt-4o", "gemini-2.5-flash"}),
                         json::parse(R"js({"id":"gpt-4o","object":"model","created":0,
                                         "owned_by":"gemini-key-manager"})js")));
  EXPECT_TRUE(JsonTextEq(
      AliasModel(ModelAlias{"claude-x", "gemini-2.5-flash"}, ModelsShape::kAnthropic),
      json::parse(R"js({"type":"model","id":"claude-x","display_name":"claude-x (gemini-2.5-flash)",
                      "created_at":"1970-01-01T00:00:00Z"})js")));
  const auto m =
      TranslateModel(R"js({"name":"models/gemini-2.5-pro","displayName":"Gemini 2.5 Pro"})js",
                     ModelsShape::kAnthropic);
  EXPECT_TRUE(
      JsonTextEq(std::get<std::string>(m), json::parse(R"js({"type":"model","id":"gemini-2.5-pro",
                                         "display_name":"Gemini 2.5 Pro",
                                         "created_at":"1970-01-01T00:00:00Z"})js")));
}

}  // namespace
}  // namespace gkm
