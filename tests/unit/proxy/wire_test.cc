#include "proxy/wire.h"

#include <gtest/gtest.h>

namespace gkm {
namespace {

TEST(Wire, ModelOfPath) {
  EXPECT_EQ(ModelOfPath("/v1beta/models/gemini-2.5-flash:generateContent").name,
            "gemini-2.5-flash");
  EXPECT_EQ(ModelOfPath("/v1/models/gemini-2.5-pro:streamGenerateContent").name, "gemini-2.5-pro");
  EXPECT_EQ(ModelOfPath("/v1beta/tunedModels/my-model:generateContent").name,
            "tunedModels/my-model");
  EXPECT_EQ(ModelOfPath("/v1beta/models").name, "-");
  EXPECT_EQ(ModelOfPath("/v1beta/models/gemini-2.5-flash").name, "-");
  EXPECT_EQ(ModelOfPath("/v1beta/files/abc").name, "-");
  EXPECT_EQ(ModelOfPath("/v1beta/cachedContents").name, "-");
  EXPECT_TRUE(ModelOfPath("/v1beta/cachedContents").ok());
}

// SPEC 8: the pool sees the model Google will see, after percent-decoding.
TEST(Wire, ModelOfPathDecodesAsGoogleDoes) {
  EXPECT_EQ(ModelOfPath("/v1beta/models/gemini%2D2.5-flash:generateContent").name,
            "gemini-2.5-flash");
  EXPECT_EQ(ModelOfPath("/v1beta/models/%67emini-2.5-flash:generateContent").name,
            "gemini-2.5-flash");
  // An escaped colon or marker still names the model.
  EXPECT_EQ(ModelOfPath("/v1beta/models/gemini-2.5-flash%3AgenerateContent").name,
            "gemini-2.5-flash");
  EXPECT_EQ(ModelOfPath("/v1beta/m%6Fdels/gemini-2.5-flash:generateContent").name,
            "gemini-2.5-flash");
  EXPECT_EQ(ModelOfPath("/v1beta/tunedModels/my%2Dmodel:generateContent").name,
            "tunedModels/my-model");
}

TEST(Wire, ModelOfPathRefusesWhatIsNotAModelName) {
  for (std::string path : {
           std::string("/v1beta/models/gemini%FF:generateContent"),    // not UTF-8
           std::string("/v1beta/models/gemini\xFF:generateContent"),   // raw, not UTF-8
           std::string("/v1beta/models/gemini%00x:generateContent"),   // control byte
           std::string("/v1beta/models/gemini%0A:generateContent"),    // newline
           std::string("/v1beta/models/g%C3%A9mini:generateContent"),  // UTF-8, not allowed
           std::string("/v1beta/models/a%20b:generateContent"),        // space
           std::string("/v1beta/models/a%22b:generateContent"),        // quote
           std::string("/v1beta/models/") + std::string(129, 'a') + ":generateContent",
           std::string("/v1beta/models/gemini%2:generateContent"),  // broken escape
           std::string("/v1beta/models/gemini%zz:generateContent"),
       }) {
    PathModel m = ModelOfPath(path);
    EXPECT_FALSE(m.ok()) << path;
    EXPECT_EQ(m.name, "-") << path;
    // The message is safe to put in JSON: printable ASCII only.
    for (char c : m.problem) {
      EXPECT_TRUE(c >= 0x20 && c < 0x7f) << path << ": " << m.problem;
    }
  }
  EXPECT_TRUE(ModelOfPath("/v1beta/models/" + std::string(128, 'a') + ":generateContent").ok());
  EXPECT_NE(ModelOfPath("/v1beta/models/gemini%FF:generateContent").problem.find("gemini\\xFF"),
            std::string::npos);
}

TEST(Wire, WithPathModelReplacesOnlyTheModel) {
  EXPECT_EQ(WithPathModel("/v1beta/models/claude-sonnet-4-5:generateContent", "gemini-2.5-flash"),
            "/v1beta/models/gemini-2.5-flash:generateContent");
  EXPECT_EQ(WithPathModel("/v1/models/gpt-4o:streamGenerateContent", "gemini-2.5-pro"),
            "/v1/models/gemini-2.5-pro:streamGenerateContent");
  // Decoded as Google reads it; what is not path-safe is escaped again.
  EXPECT_EQ(WithPathModel("/v1beta/models/claude%2Dx:countTokens", "gemini-2.5-flash"),
            "/v1beta/models/gemini-2.5-flash:countTokens");
  EXPECT_EQ(WithPathModel("/v1beta/models/x:a%20b", "g"), "/v1beta/models/g:a%20b");
  // No model to replace: the path as it was.
  EXPECT_EQ(WithPathModel("/v1beta/models", "g"), "/v1beta/models");
  EXPECT_EQ(WithPathModel("/v1beta/models/x", "g"), "/v1beta/models/x");
  EXPECT_EQ(WithPathModel("/v1beta/tunedModels/t:generateContent", "g"),
            "/v1beta/tunedModels/t:generateContent");
  EXPECT_EQ(WithPathModel("/v1beta/models/x%zz:generateContent", "g"),
            "/v1beta/models/x%zz:generateContent");
}

TEST(Wire, ModelOfBodyChecksLikeThePath) {
  EXPECT_EQ(ModelOfBody("models/gemini-2.5-flash").name, "gemini-2.5-flash");
  EXPECT_EQ(ModelOfBody("gemini-2.5-flash").name, "gemini-2.5-flash");
  EXPECT_FALSE(ModelOfBody("gemini%2D2.5").ok());  // a body is not URL-encoded
  EXPECT_FALSE(ModelOfBody("").ok());
  EXPECT_FALSE(ModelOfBody("a b").ok());
  EXPECT_FALSE(ModelOfBody(std::string(129, 'x')).ok());
}

TEST(Wire, RouteOfPath) {
  EXPECT_EQ(RouteOfPath("/v1beta/models/m:countTokens"), "countTokens");
  EXPECT_EQ(RouteOfPath("/v1beta/models"), "models");
  EXPECT_EQ(RouteOfPath("/upload/v1beta/files"), "upload");
  EXPECT_EQ(RouteOfPath("/v1beta/files/abc"), "files");
  EXPECT_EQ(RouteOfPath("/v1beta/cachedContents/x"), "cachedContents");
  EXPECT_EQ(RouteOfPath("/v1beta/openai/chat/completions"), "openai");
}

// Route labels come from a fixed set: invented methods and raw bytes never become labels.
TEST(Wire, RouteOfPathIsAlwaysAKnownLabel) {
  EXPECT_EQ(RouteOfPath("/v1beta/models/m%3AgenerateContent"), "generateContent");
  EXPECT_EQ(RouteOfPath("/v1beta/models/m:inventedMethod123"), "models");
  EXPECT_EQ(RouteOfPath("/v1beta/models/m:\xFF\xFE"), "models");
  EXPECT_EQ(RouteOfPath("/v1beta/x:\xFF"), "other");
  EXPECT_EQ(RouteOfPath("/v1beta/files/abc:download"), "download");
}

TEST(Wire, StripKeyParamRemovesOnlyTheKey) {
  EXPECT_EQ(StripKeyParam("key=tok&alt=sse"), "alt=sse");
  EXPECT_EQ(StripKeyParam("alt=sse&key=tok"), "alt=sse");
  EXPECT_EQ(StripKeyParam("key=tok"), "");
  EXPECT_EQ(StripKeyParam("pageSize=2&keyword=x&key=a&key=b"), "pageSize=2&keyword=x");
  EXPECT_EQ(StripKeyParam(""), "");
}

// SPEC 8: no parameter that decodes to a credential goes upstream.
TEST(Wire, StripKeyParamDropsEveryCredentialAfterDecoding) {
  EXPECT_EQ(StripKeyParam("k%65y=junk&alt=sse"), "alt=sse");
  EXPECT_EQ(StripKeyParam("%6B%65%79=junk"), "");
  EXPECT_EQ(StripKeyParam("%6b%65%79=junk&pageSize=3"), "pageSize=3");
  EXPECT_EQ(StripKeyParam("access_token=x&alt=sse"), "alt=sse");
  EXPECT_EQ(StripKeyParam("access%5Ftoken=x"), "");
  EXPECT_EQ(StripKeyParam("oauth_token=x&a=1"), "a=1");
  EXPECT_EQ(StripKeyParam("KEY=x&Key=y&a=1"), "a=1");
  EXPECT_EQ(StripKeyParam("key"), "");
  EXPECT_EQ(StripKeyParam("k%65y"), "");
  // A name whose escape is broken is not forwarded either (Google would not read it as we do).
  EXPECT_EQ(StripKeyParam("k%6=x&a=1"), "a=1");
  // Others pass as they came, escapes and all.
  EXPECT_EQ(StripKeyParam("upload_id=a%2Fb&alt=sse&keys=1&monkey=2"),
            "upload_id=a%2Fb&alt=sse&keys=1&monkey=2");
}

TEST(Wire, QueryParam) {
  EXPECT_EQ(QueryParam("a=1&upload_id=xyz&b=2", "upload_id"), "xyz");
  EXPECT_EQ(QueryParam("a=1", "upload_id"), std::nullopt);
  EXPECT_EQ(QueryParam("upload_idx=1", "upload_id"), std::nullopt);
}

TEST(Wire, QueryParamMatchesDecodedNamesAndDecodesValues) {
  EXPECT_EQ(QueryParam("k%65y=tok", "key"), "tok");
  EXPECT_EQ(QueryParam("%6B%65%79=t%6Fk", "key"), "tok");
  EXPECT_EQ(QueryParam("key=a%2Bb", "key"), "a+b");
  EXPECT_EQ(QueryParam("key=a+b", "key"), "a+b");  // '+' is not a space here
  EXPECT_EQ(QueryParam("key=50%", "key"), "50%");  // a broken escape is kept as it came
  EXPECT_EQ(QueryParam("k%65yx=tok", "key"), std::nullopt);
  EXPECT_EQ(QueryParam("alt=sse&k%65y=first&key=second", "key"), "first");
}

TEST(Wire, ReferencedResourcesFromPathQueryAndBody) {
  auto refs = ReferencedResources("/v1beta/files/abc-123", "", "");
  ASSERT_EQ(refs.size(), 1u);
  EXPECT_EQ(refs[0], (ResourceRef{"file", "files/abc-123"}));

  refs = ReferencedResources("/upload/v1beta/files", "upload_id=UP1&upload_protocol=resumable", "");
  ASSERT_EQ(refs.size(), 1u);
  EXPECT_EQ(refs[0], (ResourceRef{"upload", "UP1"}));

  std::string body = R"({"cachedContent":"cachedContents/c9","contents":[{"parts":[
    {"fileData":{"mimeType":"image/png","fileUri":"https://host/v1beta/files/f1"}}]}]})";
  refs = ReferencedResources("/v1beta/models/m:generateContent", "", body);
  ASSERT_EQ(refs.size(), 2u);
  EXPECT_EQ(refs[0], (ResourceRef{"file", "files/f1"}));
  EXPECT_EQ(refs[1], (ResourceRef{"cache", "cachedContents/c9"}));

  EXPECT_TRUE(ReferencedResources("/v1beta/models/m:generateContent", "",
                                  R"({"contents":[{"parts":[{"text":"profiles/x"}]}]})")
                  .empty());
}

TEST(Wire, CreatedResources) {
  auto refs =
      CreatedResources(R"({"file": {"name": "files/new1", "uri": "https://h/v1beta/files/new1"}})");
  ASSERT_EQ(refs.size(), 1u);
  EXPECT_EQ(refs[0], (ResourceRef{"file", "files/new1"}));
  refs = CreatedResources(R"({"name":"cachedContents/cc1","model":"models/m"})");
  ASSERT_EQ(refs.size(), 1u);
  EXPECT_EQ(refs[0], (ResourceRef{"cache", "cachedContents/cc1"}));
  EXPECT_TRUE(CreatedResources(R"({"name":"models/x"})").empty());
}

TEST(Wire, UploadUrlIsRewrittenToTheProxyWithoutTheKey) {
  std::string id;
  auto url = RewriteUploadUrl(
      "https://generativelanguage.googleapis.com/upload/v1beta/"
      "files?key=secret-key-1&upload_id=AB-c_9&upload_protocol=resumable",
      "http://127.0.0.1:5000", &id);
  ASSERT_TRUE(url);
  EXPECT_EQ(*url,
            "http://127.0.0.1:5000/upload/v1beta/files?upload_id=AB-c_9&upload_protocol=resumable");
  EXPECT_EQ(id, "AB-c_9");
  EXPECT_EQ(url->find("secret"), std::string::npos);
  EXPECT_FALSE(RewriteUploadUrl("not a url", "http://x", &id));
  EXPECT_FALSE(RewriteUploadUrl("https://h/upload/v1beta/files?key=k", "http://x", &id));
}

TEST(Wire, ScanUsageReadsTheLastUsageMetadata) {
  std::string sse =
      "data: {\"usageMetadata\":{\"promptTokenCount\":3,\"candidatesTokenCount\":1}}\r\n\r\n"
      "data: {\"usageMetadata\":{\"promptTokenCount\":3,\"candidatesTokenCount\":7,"
      "\"thoughtsTokenCount\":11,\"totalTokenCount\":21}}\r\n\r\n";
  TokenUsage u = ScanUsage(sse);
  EXPECT_EQ(u.prompt, 3);
  EXPECT_EQ(u.candidates, 7);
  EXPECT_EQ(u.thoughts, 11);
  TokenUsage pretty = ScanUsage(
      "{\n  \"usageMetadata\": {\n    \"promptTokenCount\": 12,\n"
      "    \"candidatesTokenCount\": 4\n  }\n}");
  EXPECT_EQ(pretty.prompt, 12);
  EXPECT_EQ(pretty.candidates, 4);
  EXPECT_EQ(pretty.thoughts, 0);
  EXPECT_EQ(ScanUsage("no usage here").prompt, 0);
}

// Google's usageMetadata nests arrays of objects among the counts: the thoughts come after
// promptTokensDetails, whose '}' is not the end of usageMetadata.
TEST(Wire, ScanUsageReadsCountsAfterNestedDetails) {
  TokenUsage u = ScanUsage(
      R"({"candidates":[{"content":{"parts":[{"text":"ok"}],"role":"model"}}],)"
      R"("usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":10,"totalTokenCount":563,)"
      R"("promptTokensDetails":[{"modality":"TEXT","tokenCount":8}],)"
      R"("candidatesTokensDetails":[{"modality":"TEXT","tokenCount":10}],)"
      R"("thoughtsTokenCount":545,"toolUsePromptTokenCount":4},"modelVersion":"gemini-2.5-flash"})");
  EXPECT_EQ(u.prompt, 8);
  EXPECT_EQ(u.candidates, 10);
  EXPECT_EQ(u.thoughts, 545);
  // The last event of a stream decides; an earlier event's thoughts do not leak into it.
  TokenUsage last = ScanUsage(
      "data: {\"usageMetadata\":{\"promptTokenCount\":1,\"thoughtsTokenCount\":9}}\r\n\r\n"
      "data: {\"usageMetadata\":{\"promptTokenCount\":2,\"candidatesTokenCount\":3}}\r\n\r\n");
  EXPECT_EQ(last.prompt, 2);
  EXPECT_EQ(last.candidates, 3);
  EXPECT_EQ(last.thoughts, 0);
  // Strings with escaped quotes do not throw the scan off; a name as a value is no count.
  TokenUsage escaped = ScanUsage(
      R"({"usageMetadata":{"note":"a \"quoted\" \\","x":"promptTokenCount","promptTokenCount":)"
      R"(4,"candidatesTokenCount" : 6}})");
  EXPECT_EQ(escaped.prompt, 4);
  EXPECT_EQ(escaped.candidates, 6);
}

TEST(Wire, RedactSecret) {
  std::string s = "a secret-1 b secret-1";
  EXPECT_EQ(RedactSecret(s, "secret-1", "sec…t-1"), 2u);
  EXPECT_EQ(s, "a sec…t-1 b sec…t-1");
}

}  // namespace
}  // namespace gkm
