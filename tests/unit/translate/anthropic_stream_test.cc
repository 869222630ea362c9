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
using testing_util::FixtureNames;
using testing_util::JsonEq;
using testing_util::LoadFixture;

AnthropicContext Ctx() {
  AnthropicContext ctx;
  ctx.id = "msg_test";
  ctx.model = "gemini-2.5-flash";
  auto n = std::make_shared<int>(0);
  ctx.new_tool_use_id = [n] { return "toolu_" + std::to_string(++*n); };
  return ctx;
}

// Feeds `bytes` cut at `cuts` (ascending offsets) to a fresh translator, then finishes it.
std::string Translate(const std::string& bytes, const std::vector<size_t>& cuts) {
  AnthropicStreamTranslator t(Ctx());
  std::string out;
  size_t pos = 0;
  for (size_t cut : cuts) {
    if (cut <= pos || cut >= bytes.size()) continue;
    out += t.Feed(std::string_view(bytes).substr(pos, cut - pos));
    pos = cut;
  }
  out += t.Feed(std::string_view(bytes).substr(pos));
  out += t.Finish();
  EXPECT_TRUE(t.done());
  EXPECT_EQ(t.Feed("data: {}\n\n"), "");  // nothing after the end
  EXPECT_EQ(t.Finish(), "");
  return out;
}

// The events of an output as [{"event": name, "data": JSON}], checking the framing: each
// event is "event: <name>\ndata: <one line of JSON>\n\n" and its data's type is its name.
json::array Events(const std::string& out) {
  json::array events;
  size_t pos = 0;
  while (pos < out.size()) {
    const size_t end = out.find("\n\n", pos);
    EXPECT_NE(end, std::string::npos) << "unterminated event in " << out;
    if (end == std::string::npos) break;
    const std::string_view ev = std::string_view(out).substr(pos, end - pos);
    EXPECT_TRUE(ev.starts_with("event: ")) << ev;
    const size_t nl = ev.find('\n');
    EXPECT_NE(nl, std::string_view::npos) << ev;
    if (nl == std::string_view::npos) break;
    const std::string_view name = ev.substr(7, nl - 7);
    const std::string_view data_line = ev.substr(nl + 1);
    EXPECT_TRUE(data_line.starts_with("data: ")) << ev;
    const std::string_view data = data_line.substr(6);
    EXPECT_EQ(data.find('\n'), std::string_view::npos) << "one line per event";
    json::value v = json::parse(data);
    EXPECT_EQ(v.at("type").as_string(), name);
    json::object e;
    e["event"] = name;
    e["data"] = std::move(v);
    events.push_back(std::move(e));
    pos = end + 2;
  }
  return events;
}

class AnthropicStreamFixture : public testing::TestWithParam<std::string> {};

// Each fixture: {"events": [Gemini event objects, or raw data strings] | "raw": "<SSE
// text>", "separator"?: "\r\n\r\n", "expected": [{"event", "data"}]}. The stream is fed
// whole, one byte at a time, and cut in two at every offset: all must give the expected
// events, byte for byte the same.
TEST_P(AnthropicStreamFixture, TranslatesWhateverTheSplits) {
  const json::value fxv = LoadFixture("anthropic_stream", GetParam());
  const json::object& fx = fxv.as_object();
  std::string bytes;
  if (const json::value* raw = fx.if_contains("raw")) {
    bytes = raw->as_string();
  } else {
    const std::string sep =
        fx.contains("separator") ? std::string(fx.at("separator").as_string()) : "\r\n\r\n";
    for (const json::value& e : fx.at("events").as_array()) {
      bytes += "data: " + (e.is_string() ? std::string(e.as_string()) : json::serialize(e)) + sep;
    }
  }
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
