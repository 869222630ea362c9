// The pure parts of proxy/probe.h: what a probe's answer proves, and what it sends.
#include "proxy/probe.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

namespace gkm {
namespace {

ProbeResult Answer(int status, std::string_view body = "") {
  ProbeResult r;
  r.status = status;
  r.verdict = status == 0    ? TransportFailure("connection refused")
              : status < 400 ? Verdict{}
                             : Classify(status, body, Bare429::kDay);
  return r;
}

constexpr std::string_view kInvalidBody = R"({"error":{"code":400,"message":"API key not valid.",
  "status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo",
  "reason":"API_KEY_INVALID","domain":"googleapis.com"}]}})";
constexpr std::string_view kSuspendedBody = R"({"error":{"code":403,
  "message":"Permission denied: Consumer 'api_key:x' has been suspended.",
  "status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo",
  "reason":"CONSUMER_SUSPENDED","domain":"googleapis.com"}]}})";

TEST(ProbeEffect, SuccessAndAny429MakeTheKeyActive) {
  EXPECT_EQ(EffectOf(Answer(200)), ProbeEffect::kActive);
  EXPECT_EQ(EffectOf(Answer(429)), ProbeEffect::kActive);  // bare: day-exhausted by default
  EXPECT_EQ(EffectOf(Answer(429, R"({"error":{"code":429,"status":"RESOURCE_EXHAUSTED"}})")),
            ProbeEffect::kActive);
}

TEST(ProbeEffect, InvalidAndSuspendedMakeItInvalid) {
  EXPECT_EQ(EffectOf(Answer(400, kInvalidBody)), ProbeEffect::kInvalid);
  EXPECT_EQ(EffectOf(Answer(403, kSuspendedBody)), ProbeEffect::kInvalid);
}

TEST(ProbeEffect, FailuresAndOtherErrorsProveNothing) {
  EXPECT_EQ(EffectOf(Answer(0)), ProbeEffect::kUnknown);
  EXPECT_EQ(EffectOf(Answer(500)), ProbeEffect::kUnknown);
  EXPECT_EQ(EffectOf(Answer(503)), ProbeEffect::kUnknown);
  EXPECT_EQ(EffectOf(Answer(400, R"({"error":{"code":400,"status":"INVALID_ARGUMENT"}})")),
            ProbeEffect::kUnknown);
  EXPECT_EQ(EffectOf(Answer(404)), ProbeEffect::kUnknown);
}

TEST(ProbeHead, ModelsListWithTheKeyInItsHeader) {
  boost::asio::io_context io;
  UpstreamPool up(io.get_executor(), UpstreamUrl{false, "mock.test", 8080, "/base"}, nullptr,
                  std::chrono::seconds(1));
  ApiKey key("probe-key-0001");
  ProbeOptions o;
  std::string body = ProbeBody(o);
  EXPECT_EQ(body, "");
  std::string h = ProbeHead(up, key, o, body);
  EXPECT_TRUE(h.starts_with("GET /base/v1beta/models?pageSize=1 HTTP/1.1\r\n")) << h;
  EXPECT_NE(h.find("\r\nx-goog-api-key: probe-key-0001\r\n"), std::string::npos);
  EXPECT_NE(h.find("\r\nAccept-Encoding: identity\r\n"), std::string::npos);
  EXPECT_EQ(h.find("Content-Length"), std::string::npos);
  EXPECT_TRUE(h.ends_with("\r\n\r\n"));
}

TEST(ProbeHead, WithAModelAOneTokenGenerate) {
  boost::asio::io_context io;
  UpstreamPool up(io.get_executor(), UpstreamUrl{false, "mock.test", 8080, ""}, nullptr,
                  std::chrono::seconds(1));
  ApiKey key("probe-key-0001");
  ProbeOptions o;
  o.model = "gemini-2.5-flash";
  std::string body = ProbeBody(o);
  EXPECT_NE(body.find(R"("maxOutputTokens":1)"), std::string::npos);
  std::string h = ProbeHead(up, key, o, body);
  EXPECT_TRUE(h.starts_with("POST /v1beta/models/gemini-2.5-flash:generateContent HTTP/1.1\r\n"));
  EXPECT_NE(h.find("Content-Length: " + std::to_string(body.size()) + "\r\n"), std::string::npos);
  EXPECT_NE(h.find("Content-Type: application/json\r\n"), std::string::npos);
}

}  // namespace
}  // namespace gkm
