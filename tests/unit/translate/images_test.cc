#include "translate/images.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <variant>

#include "fixture_util.h"

namespace gkm {
namespace {

namespace json = boost::json;
using testing_util::JsonTextEq;

ImagesRequest Ok(const std::string& body) {
  auto r = TranslateImagesRequest(body);
  if (const auto* e = std::get_if<TranslateError>(&r)) ADD_FAILURE() << e->message;
  return std::holds_alternative<ImagesRequest>(r) ? std::get<ImagesRequest>(r) : ImagesRequest{};
}

TEST(ImagesRequest, ImagenGoesToPredictWithSampleCountAndRatio) {
  const ImagesRequest r = Ok(
      R"({"model":"models/imagen-4.0-generate-001","prompt":"a cat","n":2,"size":"1792x1024",
          "quality":"hd","style":"vivid","user":"u","background":"auto","moderation":"low"})");
  EXPECT_EQ(r.model, "imagen-4.0-generate-001");
  EXPECT_EQ(r.kind, ImageModelKind::kImagen);
  EXPECT_EQ(r.method, ":predict");
  EXPECT_EQ(r.calls, 1);
  EXPECT_EQ(r.n, 2);
  EXPECT_FALSE(r.data_url);
  EXPECT_TRUE(JsonTextEq(r.body, json::parse(R"({"instances":[{"prompt":"a cat"}],
      "parameters":{"sampleCount":2,"aspectRatio":"16:9","includeRaiReason":true}})")));
}

TEST(ImagesRequest, ImagenDefaultsOmitTheRatio) {
  for (const char* body : {R"({"model":"imagen-3.0-generate-002","prompt":"x"})",
                           R"({"model":"imagen-3.0-generate-002","prompt":"x","size":"auto"})",
                           R"({"model":"imagen-3.0-generate-002","prompt":"x","size":null})"}) {
    const ImagesRequest r = Ok(body);
    EXPECT_TRUE(JsonTextEq(r.body, json::parse(R"({"instances":[{"prompt":"x"}],
        "parameters":{"sampleCount":1,"includeRaiReason":true}})")))
        << body;
  }
}

TEST(ImagesRequest, GeminiImageModelMakesOneCallPerImage) {
  const ImagesRequest r = Ok(
      R"({"model":"gemini-2.5-flash-image","prompt":"a dog","n":3,"size":"1024x1536",
          "response_format":"url"})");
  EXPECT_EQ(r.kind, ImageModelKind::kGemini);
  EXPECT_EQ(r.method, ":generateContent");
  EXPECT_EQ(r.calls, 3);
  EXPECT_TRUE(r.data_url);
  EXPECT_TRUE(JsonTextEq(r.body, json::parse(R"({"contents":[{"role":"user","parts":[
      {"text":"a dog"}]}],"generationConfig":{"responseModalities":["IMAGE"],
      "imageConfig":{"aspectRatio":"2:3"}}})")));
}

// One row per size: what each model kind gets as its aspect ratio.
struct SizeRow {
  const char* size;
  const char* imagen;
  const char* gemini;
};

class ImagesSize : public testing::TestWithParam<SizeRow> {};

TEST_P(ImagesSize, MapsToTheNearestRatioOfTheKind) {
  const SizeRow& row = GetParam();
  for (const char* model : {"imagen-4.0-generate-001", "gemini-3-pro-image-preview"}) {
    const bool imagen = std::string_view(model).starts_with("imagen");
    const ImagesRequest r =
        Ok(std::string(R"({"prompt":"p","model":")") + model + R"(","size":")" + row.size + "\"}");
    const json::value body = json::parse(r.body);
    boost::system::error_code ec;
    const json::value* got = body.find_pointer(
        imagen ? "/parameters/aspectRatio" : "/generationConfig/imageConfig/aspectRatio", ec);
    ASSERT_NE(got, nullptr) << model << " " << row.size;
    EXPECT_EQ(got->as_string(), imagen ? row.imagen : row.gemini) << model << " " << row.size;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Sizes, ImagesSize,
    testing::Values(SizeRow{"1024x1024", "1:1", "1:1"}, SizeRow{"512x512", "1:1", "1:1"},
                    SizeRow{"256x256", "1:1", "1:1"}, SizeRow{"1792x1024", "16:9", "16:9"},
                    SizeRow{"1024x1792", "9:16", "9:16"}, SizeRow{"1536x1024", "4:3", "3:2"},
                    SizeRow{"1024x1536", "3:4", "2:3"}, SizeRow{"16:9", "16:9", "16:9"},
                    SizeRow{"3:4", "3:4", "3:4"}));

TEST(ImagesRequest, GeminiOnlyRatiosAreGeminiOnly) {
  const ImagesRequest r = Ok(R"({"model":"gemini-2.5-flash-image","prompt":"p","size":"21:9"})");
  EXPECT_EQ(json::parse(r.body).at_pointer("/generationConfig/imageConfig/aspectRatio"), "21:9");
  const auto bad = TranslateImagesRequest(R"({"model":"imagen-4.0-generate-001","prompt":"p",
      "size":"21:9"})");
  ASSERT_TRUE(std::holds_alternative<TranslateError>(bad));
  EXPECT_EQ(std::get<TranslateError>(bad).param, "size");
}

TEST(ImagesRequest, ImagenOutputFormatAndCompression) {
  const ImagesRequest r = Ok(R"({"model":"imagen-4.0-generate-001","prompt":"p",
      "output_format":"jpeg","output_compression":70})");
  EXPECT_TRUE(JsonTextEq(json::serialize(json::parse(r.body).at("parameters")),
                         json::parse(R"({"sampleCount":1,"includeRaiReason":true,
      "outputOptions":{"mimeType":"image/jpeg","compressionQuality":70}})")));
  const ImagesRequest png =
      Ok(R"({"model":"imagen-4.0-generate-001","prompt":"p","output_format":"png"})");
  EXPECT_EQ(json::parse(png.body).at_pointer("/parameters/outputOptions/mimeType"), "image/png");
  // Gemini cannot choose: nothing is sent.
  const ImagesRequest g =
      Ok(R"({"model":"gemini-2.5-flash-image","prompt":"p","output_format":"jpeg"})");
  EXPECT_EQ(json::parse(g.body).at("generationConfig").as_object().size(), 1u);
}

struct Bad {
  const char* body;
  const char* param;
  const char* words;
};

class ImagesBad : public testing::TestWithParam<Bad> {};

TEST_P(ImagesBad, Is400NamingTheField) {
  const auto r = TranslateImagesRequest(GetParam().body);
  const auto* e = std::get_if<TranslateError>(&r);
  ASSERT_NE(e, nullptr) << GetParam().body;
  EXPECT_EQ(e->status, 400);
  EXPECT_EQ(e->param, GetParam().param);
  EXPECT_NE(e->message.find(GetParam().words), std::string::npos) << e->message;
}

INSTANTIATE_TEST_SUITE_P(
    Bodies, ImagesBad,
    testing::Values(
        Bad{R"({"prompt":"p"})", "model", "required"},
        Bad{R"({"model":7,"prompt":"p"})", "model", "expected a string"},
        Bad{R"({"model":"gemini-2.5-flash","prompt":"p"})", "model", "does not make images"},
        Bad{R"({"model":"dall-e-3","prompt":"p"})", "model", "does not make images"},
        Bad{R"({"model":"a/b","prompt":"p"})", "model", "invalid model"},
        Bad{R"({"model":"imagen-4.0-generate-001"})", "prompt", "required"},
        Bad{R"({"model":"imagen-4.0-generate-001","prompt":""})", "prompt", "empty"},
        Bad{R"({"model":"imagen-4.0-generate-001","prompt":["p"]})", "prompt", "expected a string"},
        Bad{R"({"model":"imagen-4.0-generate-001","prompt":"p","n":0})", "n", "between 1 and 4"},
        Bad{R"({"model":"imagen-4.0-generate-001","prompt":"p","n":5})", "n", "between 1 and 4"},
        Bad{R"({"model":"gemini-2.5-flash-image","prompt":"p","n":9})", "n", "between 1 and 4"},
        Bad{R"({"model":"imagen-4.0-generate-001","prompt":"p","n":"2"})", "n", "integer"},
        Bad{R"({"model":"imagen-4.0-generate-001","prompt":"p","size":"999x999"})", "size",
            "1792x1024"},
        Bad{R"({"model":"imagen-4.0-generate-001","prompt":"p","size":""})", "size", "got ''"},
        Bad{R"({"model":"imagen-4.0-generate-001","prompt":"p","size":1024})", "size",
            "expected a string"},
        Bad{R"({"model":"imagen-4.0-generate-001","prompt":"p","response_format":"png"})",
            "response_format", "b64_json, url"},
        Bad{R"({"model":"imagen-4.0-generate-001","prompt":"p","output_format":"gif"})",
            "output_format", "png, jpeg, webp"},
        Bad{R"({"model":"imagen-4.0-generate-001","prompt":"p","output_format":"webp"})",
            "output_format", "not webp"},
        Bad{R"({"model":"imagen-4.0-generate-001","prompt":"p","output_compression":101})",
            "output_compression", "between 0 and 100"},
        Bad{R"({"model":"imagen-4.0-generate-001","prompt":"p","quality":1})", "quality",
            "expected a string"},
        Bad{R"({"model":"imagen-4.0-generate-001","prompt":"p","stream":true})", "stream",
            "not supported"},
        Bad{R"([1])", "", "JSON object"}, Bad{R"({"model":)", "", "not valid JSON"}));

TEST(ImagesRequest, AliasesMapFirstAndAnotherVendorsNameIsA404) {
  ModelAliases aliases;
  ASSERT_EQ(aliases.Add("dall-e-*=imagen-4.0-generate-001"), "");
  const auto mapped = TranslateImagesRequest(R"({"model":"dall-e-3","prompt":"p"})", &aliases);
  const auto* ok = std::get_if<ImagesRequest>(&mapped);
  ASSERT_NE(ok, nullptr);
  EXPECT_EQ(ok->model, "imagen-4.0-generate-001");
  EXPECT_EQ(ok->kind, ImageModelKind::kImagen);
  const auto refused = TranslateImagesRequest(R"({"model":"gpt-image-1","prompt":"p"})", &aliases);
  const auto* e = std::get_if<TranslateError>(&refused);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->status, 404);
  EXPECT_EQ(e->param, "model");
  EXPECT_NE(e->message.find("--model-alias"), std::string::npos) << e->message;
}

// A 1x1 PNG, base64.
constexpr const char* kPng =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+"
    "M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

TEST(ImagesAnswer, ImagenPredictionsInOrderFilteredLeftOut) {
  ImagesAnswer got;
  const std::string body = std::string(R"({"predictions":[{"bytesBase64Encoded":")") + kPng +
                           R"(","mimeType":"image/png","prompt":"a fluffy cat"},
      {"raiFilteredReason":"Unable to show generated images."},
      {"bytesBase64Encoded":"AAAA","mimeType":"image/jpeg"}]})";
  EXPECT_FALSE(ReadImagesAnswer(body, ImageModelKind::kImagen, got).has_value());
  ASSERT_EQ(got.images.size(), 2u);
  EXPECT_EQ(got.images[0].base64, kPng);
  EXPECT_EQ(got.images[0].revised_prompt, "a fluffy cat");
  EXPECT_EQ(got.images[1].mime_type, "image/jpeg");
  ASSERT_EQ(got.filtered.size(), 1u);
  ImagesRequest req;
  req.n = 3;
  const ImagesReply reply = BuildImagesReply(got, req, 1700000000);
  EXPECT_EQ(reply.status, 200);
  EXPECT_TRUE(JsonTextEq(reply.body, json::parse(std::string(R"({"created":1700000000,"data":[
      {"b64_json":")") + kPng + R"(","revised_prompt":"a fluffy cat"},{"b64_json":"AAAA"}],
      "output_format":"png"})")));
}

TEST(ImagesAnswer, DataUrlsCarryTheMimeType) {
  ImagesAnswer got;
  EXPECT_FALSE(ReadImagesAnswer(R"({"predictions":[{"bytesBase64Encoded":"AA-_","mimeType":
      "image/jpeg"}]})",
                                ImageModelKind::kImagen, got));
  ImagesRequest req;
  req.data_url = true;
  const ImagesReply reply = BuildImagesReply(got, req, 1);
  // URL-safe base64 from upstream becomes the standard alphabet.
  EXPECT_EQ(json::parse(reply.body).at_pointer("/data/0/url"), "data:image/jpeg;base64,AA+/");
  EXPECT_EQ(json::parse(reply.body).at("output_format"), "jpeg");
}

TEST(ImagesAnswer, AllFilteredIsContentPolicyViolationWithGooglesReason) {
  ImagesAnswer got;
  EXPECT_FALSE(ReadImagesAnswer(
      R"({"predictions":[{"raiFilteredReason":"Your current safety filter threshold prohibits it."}]})",
      ImageModelKind::kImagen, got));
  const ImagesReply reply = BuildImagesReply(got, ImagesRequest{}, 1);
  EXPECT_EQ(reply.status, 400);
  const json::value e = json::parse(reply.body).at("error");
  EXPECT_EQ(e.at("code"), "content_policy_violation");
  EXPECT_NE(std::string(e.at("message").as_string()).find("safety filter threshold"),
            std::string::npos);
}

TEST(ImagesAnswer, ImagenEmptyAnswerCountsAsFiltered) {
  ImagesAnswer got;
  EXPECT_FALSE(ReadImagesAnswer("{}", ImageModelKind::kImagen, got));
  EXPECT_EQ(BuildImagesReply(got, ImagesRequest{}, 1).status, 400);
}

TEST(ImagesAnswer, GeminiInlineDataSkipsThoughtsAndSumsUsage) {
  ImagesAnswer got;
  const std::string one = std::string(R"({"candidates":[{"content":{"role":"model","parts":[
      {"inlineData":{"mimeType":"image/png","data":"AAAA"},"thought":true},
      {"text":"Here you go"},
      {"inlineData":{"mimeType":"image/png","data":")") +
                          kPng + R"("}}]},"finishReason":"STOP"}],
      "usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":1290,"totalTokenCount":1295}})";
  EXPECT_FALSE(ReadImagesAnswer(one, ImageModelKind::kGemini, got));
  EXPECT_FALSE(ReadImagesAnswer(one, ImageModelKind::kGemini, got));
  ASSERT_EQ(got.images.size(), 2u);
  EXPECT_EQ(got.images[0].base64, kPng);
  ImagesRequest req;
  req.n = 2;
  const json::value reply = json::parse(BuildImagesReply(got, req, 5).body);
  EXPECT_TRUE(JsonTextEq(json::serialize(reply.at("usage")), json::parse(R"({"input_tokens":10,
      "output_tokens":2580,"total_tokens":2590,"input_tokens_details":{"text_tokens":10,
      "image_tokens":0}})")));
}

TEST(ImagesAnswer, GeminiSafetyFinishIsFilteredOtherwiseMissing) {
  ImagesAnswer got;
  EXPECT_FALSE(ReadImagesAnswer(R"({"candidates":[{"finishReason":"IMAGE_SAFETY",
      "finishMessage":"Unable to show the generated image."}]})",
                                ImageModelKind::kGemini, got));
  EXPECT_FALSE(ReadImagesAnswer(R"({"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"}})",
                                ImageModelKind::kGemini, got));
  ASSERT_EQ(got.filtered.size(), 2u);
  EXPECT_NE(got.filtered[0].find("IMAGE_SAFETY"), std::string::npos);
  EXPECT_NE(got.filtered[1].find("PROHIBITED_CONTENT"), std::string::npos);
  const ImagesReply reply = BuildImagesReply(got, ImagesRequest{}, 1);
  EXPECT_EQ(reply.status, 400);
  EXPECT_EQ(json::parse(reply.body).at_pointer("/error/code"), "content_policy_violation");

  ImagesAnswer none;
  EXPECT_FALSE(ReadImagesAnswer(R"({"candidates":[{"content":{"parts":[{"text":"No."}]},
      "finishReason":"NO_IMAGE"}]})",
                                ImageModelKind::kGemini, none));
  const ImagesReply r2 = BuildImagesReply(none, ImagesRequest{}, 1);
  EXPECT_EQ(r2.status, 502);
  EXPECT_NE(r2.body.find("NO_IMAGE"), std::string::npos);
}

TEST(ImagesAnswer, PartialFilterKeepsTheImagesThatCame) {
  ImagesAnswer got;
  EXPECT_FALSE(ReadImagesAnswer(R"({"candidates":[{"finishReason":"IMAGE_SAFETY"}]})",
                                ImageModelKind::kGemini, got));
  EXPECT_FALSE(ReadImagesAnswer(R"({"candidates":[{"content":{"parts":[{"inlineData":
      {"mimeType":"image/png","data":"AAAA"}}]}}]})",
                                ImageModelKind::kGemini, got));
  ImagesRequest req;
  req.n = 2;
  const ImagesReply reply = BuildImagesReply(got, req, 1);
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(json::parse(reply.body).at("data").as_array().size(), 1u);
}

TEST(ImagesAnswer, MoreImagesThanAskedAreCut) {
  ImagesAnswer got;
  EXPECT_FALSE(ReadImagesAnswer(R"({"candidates":[{"content":{"parts":[
      {"inlineData":{"mimeType":"image/png","data":"AAAA"}},
      {"inlineData":{"mimeType":"image/png","data":"BBBB"}}]}}]})",
                                ImageModelKind::kGemini, got));
  const ImagesReply reply = BuildImagesReply(got, ImagesRequest{}, 1);
  EXPECT_EQ(json::parse(reply.body).at("data").as_array().size(), 1u);
}

TEST(ImagesAnswer, UnreadableAnswersAre502) {
  for (const char* body : {"nope", "[]", R"({"predictions":{}})",
                           R"({"predictions":[{"bytesBase64Encoded":"not base64!"}]})"}) {
    ImagesAnswer got;
    auto e = ReadImagesAnswer(body, ImageModelKind::kImagen, got);
    ASSERT_TRUE(e.has_value()) << body;
    EXPECT_EQ(e->status, 502);
  }
  ImagesAnswer got;
  auto e = ReadImagesAnswer(R"({"candidates":[{"content":{"parts":[{"inlineData":
      {"mimeType":"image/png","data":"%%%"}}]}}]})",
                            ImageModelKind::kGemini, got);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->status, 502);
}

TEST(ImagesAnswer, AStrangeMimeTypeBecomesPng) {
  ImagesAnswer got;
  EXPECT_FALSE(ReadImagesAnswer(R"({"predictions":[{"bytesBase64Encoded":"AAAA","mimeType":
      "image/png\";x"}]})",
                                ImageModelKind::kImagen, got));
  ASSERT_EQ(got.images.size(), 1u);
  EXPECT_EQ(got.images[0].mime_type, "image/png");
}

}  // namespace
}  // namespace gkm
