#include "translate/chat_stream.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fixture_util.h"

namespace gkm {
namespace {

namespace json = boost::json;
using testing_util::FixtureNames;
using testing_util::JsonEq;
using testing_util::LoadFixture;

struct StreamRun {
  std::string output;
  std::map<std::string, std::string> remembered;
};

// Feeds `bytes` cut at `cuts` (ascending offsets) to a fresh translator, then finishes it.
StreamRun Translate(const std::string& bytes, const std::vector<size_t>& cuts, bool include_usage) {
  StreamRun run;
  ResponseContext ctx;
  ctx.id = "chatcmpl-test";
  ctx.created = 1700000000;
  ctx.model = "gemini-2.5-flash";
  auto n = std::make_shared<int>(0);
  ctx.new_tool_call_id = [n] { return "call_" + std::to_string(++*n); };
  ctx.remember_signature = [&run](std::string_view id, std::string_view sig) {
    run.remembered[std::string(id)] = std::string(sig);
  };
  ChatStreamTranslator t(std::move(ctx), include_usage);
  run.output = testing_util::FeedCut(t, bytes, cuts);
  return run;
}

// The OpenAI events of an output: JSON values, or the string "[DONE]".
json::array Events(const std::string& out) {
  json::array events;
  size_t pos = 0;
  while (pos < out.size()) {
    const size_t end = out.find("\n\n", pos);
    EXPECT_NE(end, std::string::npos) << "unterminated event in " << out;
    if (end == std::string::npos) break;
    const std::string_view ev = std::string_view(out).substr(pos, end - pos);
    EXPECT_TRUE(ev.starts_with("data: ")) << ev;
    const std::string_view data = ev.substr(6);
    EXPECT_EQ(data.find('\n'), std::string_view::npos) << "one line per event";
    if (data == "[DONE]") {
      events.push_back("[DONE]");
    } else {
      events.push_back(json::parse(data));
    }
    pos = end + 2;
  }
  return events;
}

class StreamFixture : public testing::TestWithParam<std::string> {};

// Each fixture: {"events": [Gemini event objects, or raw data strings] | "raw": "<SSE
// text>", "separator"?: "\r\n\r\n", "include_usage"?: bool, "splits"?: [offsets],
// "expected": [OpenAI chunks and "[DONE]"], "remembered"?: {id: signature}}. The stream is
// fed whole, one byte at a time, cut at the fixture's offsets, and cut in two at every
// offset: all must give the expected events.
TEST_P(StreamFixture, TranslatesWhateverTheSplits) {
  const json::value fxv = LoadFixture("stream", GetParam());
  const json::object& fx = fxv.as_object();
  const std::string bytes = testing_util::StreamBytes(fx);
  const bool include_usage = fx.contains("include_usage") && fx.at("include_usage").as_bool();
  const json::value& expected = fx.at("expected");

  const StreamRun whole = Translate(bytes, {}, include_usage);
  EXPECT_TRUE(JsonEq(Events(whole.output), expected)) << "fed whole";
  const json::value* want_sigs = fx.if_contains("remembered");
  json::object sigs;
  for (const auto& [k, v] : whole.remembered) sigs[k] = v;
  EXPECT_TRUE(JsonEq(sigs, want_sigs ? *want_sigs : json::object()));

  std::vector<size_t> every;
  for (size_t i = 1; i < bytes.size(); ++i) every.push_back(i);
  EXPECT_EQ(Translate(bytes, every, include_usage).output, whole.output) << "byte by byte";

  if (const json::value* s = fx.if_contains("splits")) {
    std::vector<size_t> cuts;
    for (const json::value& c : s->as_array()) cuts.push_back(static_cast<size_t>(c.as_int64()));
    EXPECT_EQ(Translate(bytes, cuts, include_usage).output, whole.output) << "fixture splits";
  }
  for (size_t i = 1; i < bytes.size(); ++i) {
    ASSERT_EQ(Translate(bytes, {i}, include_usage).output, whole.output) << "cut at " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, StreamFixture, testing::ValuesIn(FixtureNames("stream")),
                         [](const testing::TestParamInfo<std::string>& info) {
                           return testing_util::TestName(info.param);
                         });

ResponseContext Ctx() {
  ResponseContext ctx;
  ctx.id = "chatcmpl-x";
  ctx.created = 1;
  ctx.model = "m";
  ctx.new_tool_call_id = [] { return std::string("call_z"); };
  return ctx;
}

TEST(ChatStream, ErrorMethodEndsTheStreamWithAnErrorEvent) {
  ChatStreamTranslator t(Ctx(), true);
  const std::string first =
      t.Feed("data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]}}]}\n\n");
  EXPECT_EQ(Events(first).size(), 2u);
  const json::array err = Events(t.Error("upstream connection lost"));
  ASSERT_EQ(err.size(), 1u);
  EXPECT_TRUE(JsonEq(err[0], json::parse(R"({"error":{"message":"upstream connection lost",
      "type":"api_error","param":null,"code":"bad_gateway"}})")));
  EXPECT_TRUE(t.done());
  EXPECT_TRUE(t.failed());
  EXPECT_EQ(t.Finish(), "");
  EXPECT_EQ(t.Error("again"), "");
}

TEST(ChatStream, KeepsTheLastUsageForAccounting) {
  ChatStreamTranslator t(Ctx(), false);
  t.Feed("data: {\"usageMetadata\":{\"promptTokenCount\":3,\"candidatesTokenCount\":1}}\n\n");
  t.Feed(
      "data: {\"usageMetadata\":{\"promptTokenCount\":3,\"candidatesTokenCount\":9,"
      "\"thoughtsTokenCount\":4,\"totalTokenCount\":16}}\n\n");
  EXPECT_EQ(t.usage().candidates_tokens, 9);
  EXPECT_EQ(t.usage().thoughts_tokens, 4);
  EXPECT_EQ(t.usage().total_tokens, 16);
}

TEST(ChatStream, OversizedEventIsAnErrorNotUnboundedMemory) {
  ChatStreamTranslator t(Ctx(), false);
  std::string out = t.Feed("data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"");
  const std::string mib(1 << 20, 'x');
  for (int i = 0; i < 70 && !t.done(); ++i) out += t.Feed(mib);
  EXPECT_TRUE(t.failed());
  EXPECT_NE(out.find("upstream event too large"), std::string::npos);
}

TEST(ChatStream, HostileEventsNeverCrash) {
  for (const char* data :
       {"5", "[]", "null", "{\"candidates\":5}", "{\"candidates\":[{\"index\":-1}]}",
        "{\"candidates\":[{\"index\":1e300}]}", "{\"candidates\":[{\"index\":100000}]}",
        "{\"candidates\":[{\"content\":{\"parts\":{}}}]}",
        "{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":[]}]}}]}",
        "{\"usageMetadata\":{\"promptTokenCount\":\"-5\"}}", "{\"error\":5}",
        "{\"promptFeedback\":[]}"}) {
    ChatStreamTranslator t(Ctx(), true);
    std::string out = t.Feed(std::string("data: ") + data + "\n\n");
    out += t.Finish();
    EXPECT_TRUE(t.done()) << data;
    EXPECT_FALSE(out.empty()) << data;
  }
}

}  // namespace
}  // namespace gkm
