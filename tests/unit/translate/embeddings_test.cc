#include "translate/embeddings.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <variant>

#include "fixture_util.h"

namespace gkm {
namespace {

namespace json = boost::json;
using testing_util::JsonTextEq;

EmbeddingsRequest Ok(const std::string& body) {
  auto r = TranslateEmbeddingsRequest(body);
  if (const auto* e = std::get_if<TranslateError>(&r)) ADD_FAILURE() << e->message;
  return std::holds_alternative<EmbeddingsRequest>(r) ? std::get<EmbeddingsRequest>(r)
                                                      : EmbeddingsRequest{};
}

TEST(EmbeddingsRequest, StringInputWithDimensions) {
  const EmbeddingsRequest r = Ok(
      R"({"model":"models/gemini-embedding-001","input":"hello world","dimensions":768,"user":"u"})");
  EXPECT_EQ(r.model, "gemini-embedding-001");
  EXPECT_EQ(r.count, 1u);
  EXPECT_EQ(r.encoding_format, EncodingFormat::kFloat);
  EXPECT_EQ(r.prompt_tokens_estimate, 3);  // 11 bytes / 4, rounded up
  ASSERT_EQ(r.bodies.size(), 1u);
  EXPECT_TRUE(
      JsonTextEq(r.bodies[0], json::parse(R"({"requests":[{"model":"models/gemini-embedding-001",
      "content":{"parts":[{"text":"hello world"}]},"outputDimensionality":768}]})")));
}

TEST(EmbeddingsRequest, ArrayInputBase64) {
  const EmbeddingsRequest r =
      Ok(R"({"model":"gemini-embedding-001","input":["a","bb"],"encoding_format":"base64"})");
  EXPECT_EQ(r.encoding_format, EncodingFormat::kBase64);
  EXPECT_EQ(r.count, 2u);
  ASSERT_EQ(r.bodies.size(), 1u);
  EXPECT_TRUE(JsonTextEq(r.bodies[0], json::parse(R"({"requests":[
      {"model":"models/gemini-embedding-001","content":{"parts":[{"text":"a"}]}},
      {"model":"models/gemini-embedding-001","content":{"parts":[{"text":"bb"}]}}]})")));
}

TEST(EmbeddingsRequest, SplitsIntoBatchesOfAHundred) {
  std::string body = R"({"model":"e","input":[)";
  for (int i = 0; i < 250; ++i) body += (i ? ",\"" : "\"") + std::to_string(i) + "\"";
  body += "]}";
  const EmbeddingsRequest r = Ok(body);
  EXPECT_EQ(r.count, 250u);
  ASSERT_EQ(r.bodies.size(), 3u);
  EXPECT_EQ(json::parse(r.bodies[0]).at("requests").as_array().size(), 100u);
  EXPECT_EQ(json::parse(r.bodies[2]).at("requests").as_array().size(), 50u);
  EXPECT_EQ(json::parse(r.bodies[1]).at_pointer("/requests/0/content/parts/0/text"), "100");
}

struct Bad {
  const char* body;
  const char* param;
  const char* words;
};

class EmbeddingsBad : public testing::TestWithParam<Bad> {};

TEST_P(EmbeddingsBad, Is400NamingTheField) {
  const auto r = TranslateEmbeddingsRequest(GetParam().body);
  const auto* e = std::get_if<TranslateError>(&r);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->status, 400);
  EXPECT_EQ(e->param, GetParam().param);
  EXPECT_NE(e->message.find(GetParam().words), std::string::npos) << e->message;
}

INSTANTIATE_TEST_SUITE_P(
    Bodies, EmbeddingsBad,
    testing::Values(Bad{R"({"model":"e"})", "input", "required"},
                    Bad{R"({"model":"e","input":""})", "input", "empty"},
                    Bad{R"({"model":"e","input":[]})", "input", "empty"},
                    Bad{R"({"model":"e","input":["a",""]})", "input[1]", "empty"},
                    Bad{R"({"model":"e","input":[1,2,3]})", "input[0]", "token input"},
                    Bad{R"({"model":"e","input":[[1,2],[3]]})", "input[0]", "token input"},
                    Bad{R"({"model":"e","input":["a",{}]})", "input[1]", "expected a string"},
                    Bad{R"({"model":"e","input":5})", "input", "expected a string"},
                    Bad{R"({"input":"a"})", "model", "required"},
                    Bad{R"({"model":"a/b","input":"a"})", "model", "invalid model"},
                    Bad{R"({"model":"e","input":"a","encoding_format":"int8"})", "encoding_format",
                        "float or base64"},
                    Bad{R"({"model":"e","input":"a","dimensions":0})", "dimensions", "at least"},
                    Bad{R"({"model":"e","input":"a","dimensions":"8"})", "dimensions", "integer"}));

TEST(EmbeddingsResponse, FloatsAcrossBatches) {
  const auto r = TranslateEmbeddingsResponse(
      {R"({"embeddings":[{"values":[0.5,-1]}]})", R"({"embeddings":[{"values":[0.25,2]}]})"},
      "gemini-embedding-001", EncodingFormat::kFloat, 5, 2);
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_TRUE(JsonTextEq(std::get<std::string>(r), json::parse(R"({"object":"list","data":[
      {"object":"embedding","index":0,"embedding":[0.5,-1.0]},
      {"object":"embedding","index":1,"embedding":[0.25,2.0]}],
      "model":"gemini-embedding-001","usage":{"prompt_tokens":5,"total_tokens":5}})")));
}

TEST(EmbeddingsResponse, Base64IsLittleEndianFloat32) {
  // 1.0f = 00 00 80 3F, -2.0f = 00 00 00 C0 → AACAPwAAAMA=
  const auto r = TranslateEmbeddingsResponse({R"({"embeddings":[{"values":[1.0,-2]}]})"}, "e",
                                             EncodingFormat::kBase64, 1, 1);
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_EQ(json::parse(std::get<std::string>(r)).at_pointer("/data/0/embedding"), "AACAPwAAAMA=");
}

TEST(EmbeddingsResponse, CountMismatchOrGarbageIs502) {
  for (const auto& bodies :
       std::vector<std::vector<std::string>>{{R"({"embeddings":[{"values":[1]}]})"},
                                             {"nope"},
                                             {R"({"embeddings":{}})"},
                                             {R"({"embeddings":[{"values":5},{"values":[1]}]})"}}) {
    const auto r = TranslateEmbeddingsResponse(bodies, "e", EncodingFormat::kFloat, 1, 2);
    const auto* e = std::get_if<TranslateError>(&r);
    ASSERT_NE(e, nullptr) << bodies[0];
    EXPECT_EQ(e->status, 502);
  }
}

}  // namespace
}  // namespace gkm
