#include "translate/anthropic_stream.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <memory>
#include <string>
#include <vector>

#include "fixture_util.h"

namespace gkm {
namespace {

namespace json = boost::json;
using testing_util::FeedCut;
using testing_util::FixtureNames;
using testing_util::JsonEq;
using testing_util::LoadFixture;
using testing_util::NamedFrames;
using testing_util::StreamBytes;

AnthropicContext Ctx() {
  AnthropicContext ctx;
  ctx.id = "msg_test";
  ctx.model = "gemini-2.5-flash";
  auto n = std::make_shared<int>(0);
  ctx.new_tool_use_id = [n] { return "toolu_" + std::to_string(++*n); };
  return ctx;
}

std::string Translate(const std::string& bytes, const std::vector<size_t>& cuts) {
  AnthropicStreamTranslator t(Ctx());
  return FeedCut(t, bytes, cuts);
}

json::array Events(const std::string& out) { return NamedFrames(out); }

class AnthropicStreamFixture : public testing::TestWithParam<std::string> {};

// Each fixture: {"events": [Gemini event objects, or raw data strings] | "raw": "<SSE
// text>", "separator"?: "\r\n\r\n", "expected": [{"event", "data"}]}. The stream is fed
// whole, one byte at a time, and cut in two at every offset: all must give the expected
// events, byte for byte the same.
TEST_P(AnthropicStreamFixture, TranslatesWhateverTheSplits) {
  const json::value fxv = LoadFixture("anthropic_stream", GetParam());
  const json::object& fx = fxv.as_object();
  const std::string bytes = StreamBytes(fx);
  const std::string whole = Translate(bytes, {});
  EXPECT_TRUE(JsonEq(Events(whole), fx.at("expected"))) << "fed whole";

  std::vector<size_t> every;
  for (size_t i = 1; i < bytes.size(); ++i) every.push_back(i);
  EXPECT_EQ(Translate(bytes, every), whole) << "byte by byte";
  for (size_t i = 1; i < bytes.size(); ++i) {
    ASSERT_EQ(Translate(bytes, {i}), whole) << "cut at " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, AnthropicStreamFixture,
                         testing::ValuesIn(FixtureNames("anthropic_stream")),
                         [](const testing::TestParamInfo<std::string>& info) {
                           return testing_util::TestName(info.param);
                         });

TEST(AnthropicStream, NothingBeforeTheFirstUpstreamEvent) {
  AnthropicStreamTranslator t(Ctx());
  EXPECT_EQ(t.Feed("data: {\"candidates\":[{\"content\":{\"parts\":[{\"te"), "");
  const json::array first = Events(t.Feed("xt\":\"a\"}]}}]}\n\n"));
  ASSERT_EQ(first.size(), 4u);  // message_start, ping, the block's start and delta
  EXPECT_EQ(first[0].at("event").as_string(), "message_start");
  EXPECT_EQ(first[1].at("event").as_string(), "ping");
}

TEST(AnthropicStream, ErrorMethodEndsTheStreamWithAnErrorEvent) {
  AnthropicStreamTranslator t(Ctx());
  t.Feed("data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]}}]}\n\n");
  const json::array err = Events(t.Error("the upstream stream broke off"));
  ASSERT_EQ(err.size(), 1u);
  EXPECT_TRUE(JsonEq(err[0], json::parse(R"({"event":"error","data":{"type":"error",
      "error":{"type":"api_error","message":"the upstream stream broke off"}}})")));
  EXPECT_TRUE(t.done());
  EXPECT_TRUE(t.failed());
  EXPECT_EQ(t.Finish(), "");
  EXPECT_EQ(t.Error("again"), "");
}

TEST(AnthropicStream, KeepsTheLastUsageForAccounting) {
  AnthropicStreamTranslator t(Ctx());
  t.Feed("data: {\"usageMetadata\":{\"promptTokenCount\":3,\"candidatesTokenCount\":1}}\n\n");
  t.Feed(
      "data: {\"usageMetadata\":{\"promptTokenCount\":3,\"candidatesTokenCount\":9,"
      "\"thoughtsTokenCount\":4}}\n\n");
  EXPECT_EQ(t.usage().candidates_tokens, 9);
  EXPECT_EQ(t.usage().thoughts_tokens, 4);
}

TEST(AnthropicStream, OversizedEventIsAnErrorNotUnboundedMemory) {
  AnthropicStreamTranslator t(Ctx());
  std::string out = t.Feed("data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"");
  const std::string mib(1 << 20, 'x');
  for (int i = 0; i < 70 && !t.done(); ++i) out += t.Feed(mib);
  EXPECT_TRUE(t.failed());
  EXPECT_NE(out.find("upstream event too large"), std::string::npos);
}

TEST(AnthropicStream, HostileEventsNeverCrash) {
  for (const char* data :
       {"5", "[]", "null", "{\"candidates\":5}", "{\"candidates\":[{\"index\":-1}]}",
        "{\"candidates\":[{\"index\":1e300}]}", "{\"candidates\":[{\"content\":{\"parts\":{}}}]}",
        "{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":[]}]}}]}",
        "{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"args\":5}}]}}]}",
        "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":5,\"thoughtSignature\":7}]}}]}",
        "{\"usageMetadata\":{\"promptTokenCount\":\"-5\"}}", "{\"error\":5}",
        "{\"promptFeedback\":[]}"}) {
    AnthropicStreamTranslator t(Ctx());
    std::string out = t.Feed(std::string("data: ") + data + "\n\n");
    out += t.Finish();
    EXPECT_TRUE(t.done()) << data;
    EXPECT_FALSE(out.empty()) << data;
    Events(out);  // well framed
  }
}

}  // namespace
}  // namespace gkm
