#include "translate/responses_stream.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fixture_util.h"

namespace gkm {
namespace {

namespace json = boost::json;
using testing_util::FixtureDir;
using testing_util::FixtureNames;
using testing_util::JsonEq;
using testing_util::LoadFixture;

PrefixedIdGenerator Counter() {
  auto n = std::make_shared<int>(0);
  return [n](std::string_view prefix) { return std::string(prefix) + std::to_string((*n)++); };
}

ResponsesContext ContextFrom(const json::object& fx) {
  ResponsesContext ctx;
  ctx.id = "resp_test";
  ctx.created_at = 1767000000;
  ctx.model = "gemini-2.5-flash";
  ctx.new_id = Counter();
  if (const json::value* cv = fx.if_contains("context")) {
    const json::object& c = cv->as_object();
    if (const json::value* v = c.if_contains("include_encrypted"))
      ctx.include_encrypted = v->as_bool();
    if (const json::value* v = c.if_contains("custom_tools")) {
      for (const json::value& n : v->as_array())
        ctx.custom_tools.insert(std::string(n.as_string()));
    }
  }
  return ctx;
}

std::string Translate(const json::object& fx, const std::string& bytes,
                      const std::vector<size_t>& cuts) {
  ResponsesStreamTranslator t(ContextFrom(fx));
  return testing_util::FeedCut(t, bytes, cuts);
}

json::array Frames(const std::string& out) { return testing_util::NamedFrames(out); }

// The rules of E4 every stream obeys, whatever it carries.
void CheckSequence(const json::array& frames) {
  ASSERT_GE(frames.size(), 3u);
  EXPECT_EQ(frames[0].at("event"), "response.created");
  EXPECT_EQ(frames[1].at("event"), "response.in_progress");
  const std::string last(frames.back().at("event").as_string());
  EXPECT_TRUE(last == "response.completed" || last == "response.incomplete" ||
              last == "response.failed")
      << last;
  std::map<int64_t, std::string> open;  // output_index → item id, added and not yet done
  std::map<int64_t, bool> closed;
  json::array done_items;
  for (size_t i = 0; i < frames.size(); ++i) {
    const json::object& d = frames[i].at("data").as_object();
    EXPECT_EQ(d.at("sequence_number").as_int64(), static_cast<int64_t>(i));
    const std::string type(frames[i].at("event").as_string());
    if (!d.contains("output_index")) continue;
    const int64_t index = d.at("output_index").as_int64();
    if (type == "response.output_item.added") {
      EXPECT_FALSE(open.contains(index) || closed.contains(index)) << "added twice: " << index;
      EXPECT_TRUE(open.empty()) << "an item added before the previous one is done";
      EXPECT_EQ(index, static_cast<int64_t>(done_items.size()));
      open[index] = std::string(d.at("item").at("id").as_string());
      continue;
    }
    ASSERT_TRUE(open.contains(index)) << type << " before its item was added (" << index << ")";
    if (d.contains("item_id")) {
      EXPECT_EQ(d.at("item_id"), open[index].c_str()) << type;
    }
    if (type == "response.output_item.done") {
      EXPECT_EQ(d.at("item").at("id"), open[index].c_str());
      done_items.push_back(d.at("item"));
      open.erase(index);
      closed[index] = true;
    }
  }
  const json::object& fin = frames.back().at("data").as_object();
  if (last != "response.failed") {
    EXPECT_TRUE(open.empty()) << "items never done";  // a failed stream may leave one open
    EXPECT_TRUE(JsonEq(fin.at("response").at("output"), done_items));
  } else {
    ASSERT_GE(frames.size(), 4u);
    EXPECT_EQ(frames[frames.size() - 2].at("event"), "error");
    EXPECT_EQ(fin.at("response").at("status"), "failed");
  }
}

class ResponsesStreamFixture : public testing::TestWithParam<std::string> {};

// Each fixture: {"events": [Gemini event objects, or raw strings], "separator"?,
// "context"?, "expected": the frames}. The stream is checked against the rules of E4, then
// fed whole, byte by byte and cut in two at every offset: the output never changes.
// GKM_UPDATE_GOLDEN=1 writes the frames produced into "expected" (review them!).
TEST_P(ResponsesStreamFixture, TranslatesWhateverTheSplits) {
  json::value fxv = LoadFixture("responses_stream", GetParam());
  json::object& fx = fxv.as_object();
  const std::string bytes = testing_util::StreamBytes(fx);
  const std::string whole = Translate(fx, bytes, {});
  const json::array frames = Frames(whole);
  CheckSequence(frames);
  if (std::getenv("GKM_UPDATE_GOLDEN") != nullptr) {
    fx["expected"] = frames;
    std::ofstream(FixtureDir("responses_stream") + "/" + GetParam() + ".json")
        << json::serialize(fx);
  } else {
    EXPECT_TRUE(JsonEq(frames, fx.at("expected")));
  }
  std::vector<size_t> every;
  for (size_t i = 1; i < bytes.size(); ++i) every.push_back(i);
  EXPECT_EQ(Translate(fx, bytes, every), whole) << "byte by byte";
  for (size_t i = 1; i < bytes.size(); ++i) {
    ASSERT_EQ(Translate(fx, bytes, {i}), whole) << "cut at " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ResponsesStreamFixture,
                         testing::ValuesIn(FixtureNames("responses_stream")),
                         [](const auto& info) { return testing_util::TestName(info.param); });

TEST(ResponsesStream, ErrorMethodSendsErrorThenResponseFailed) {
  ResponsesContext ctx;
  ctx.id = "resp_1";
  ctx.new_id = Counter();
  ResponsesStreamTranslator t(ctx);
  std::string out =
      t.Feed("data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hi\"}]}}]}\n\n");
  out += t.Error("the upstream stream broke off", 502);
  EXPECT_TRUE(t.done());
  EXPECT_TRUE(t.failed());
  EXPECT_EQ(t.Finish(), "");
  const json::array frames = Frames(out);
  ASSERT_GE(frames.size(), 4u);
  const json::object& err = frames[frames.size() - 2].at("data").as_object();
  EXPECT_EQ(err.at("type"), "error");
  EXPECT_EQ(err.at("code"), "server_error");
  EXPECT_EQ(err.at("message"), "the upstream stream broke off");
  const json::object& failed = frames.back().at("data").as_object();
  EXPECT_EQ(failed.at("type"), "response.failed");
  EXPECT_EQ(failed.at("response").at("id"), "resp_1");
  EXPECT_EQ(failed.at("response").at("error").at("code"), "server_error");
}

TEST(ResponsesStream, RateLimitMidStreamIsTheCodeCodexWaitsOn) {
  ResponsesContext ctx;
  ctx.new_id = Counter();
  ResponsesStreamTranslator t(ctx);
  const json::array frames = Frames(t.Error("try again in 12s.", 429));
  EXPECT_EQ(frames.back().at("data").at("response").at("error").at("code"), "rate_limit_exceeded");
}

TEST(ResponsesStream, OversizedEventIsAnErrorNotUnboundedMemory) {
  ResponsesContext ctx;
  ctx.new_id = Counter();
  ResponsesStreamTranslator t(ctx);
  std::string out;
  const std::string big(1 << 20, 'x');
  for (int i = 0; i < 80 && !t.done(); ++i) out += t.Feed("data: " + big);
  EXPECT_TRUE(t.failed());
  EXPECT_NE(out.find("upstream event too large"), std::string::npos);
}

// The response object's plan is kept per thread and reused for the same echo and model: each
// stream still carries its own id and created_at, and a different echo or model its own
// members.
TEST(ResponsesStream, ResponseObjectsOfConsecutiveStreamsAreTheirOwn) {
  struct Case {
    std::string id;
    int64_t created_at;
    std::string model;
    std::string echo;
  };
  const std::vector<Case> cases = {
      {"resp_a", 1767000001, "gemini-2.5-flash", R"({"instructions":"one","store":false})"},
      {"resp_b", 1767000002, "gemini-2.5-flash", R"({"instructions":"one","store":false})"},
      {"resp_c", 1767000003, "gemini-2.5-pro", R"({"instructions":"one","store":false})"},
      {"resp_d", 1767000004, "gemini-2.5-pro", R"({"instructions":"two","id":"resp_x"})"},
      {"resp_e", 1767000005, "gemini-2.5-pro", ""},
  };
  for (const Case& c : cases) {
    ResponsesContext ctx;
    ctx.id = c.id;
    ctx.created_at = c.created_at;
    ctx.model = c.model;
    ctx.echo = c.echo;
    ctx.new_id = Counter();
    ResponsesStreamTranslator t(ctx);
    std::string out =
        t.Feed("data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hi\"}]}}]}\n\n");
    out += t.Finish();
    const json::array frames = Frames(out);
    const json::object echo = c.echo.empty() ? json::object() : json::parse(c.echo).as_object();
    for (size_t i : {size_t{0}, size_t{1}, frames.size() - 1}) {
      const json::object& r = frames[i].at("data").at("response").as_object();
      const json::value* echoed_id = echo.if_contains("id");
      EXPECT_EQ(r.at("id"), echoed_id != nullptr ? *echoed_id : json::value(c.id)) << c.id;
      EXPECT_EQ(r.at("created_at"), c.created_at) << c.id;
      EXPECT_EQ(r.at("model"), json::value(c.model)) << c.id;
      const json::value* ins = echo.if_contains("instructions");
      EXPECT_EQ(r.at("instructions"), ins != nullptr ? *ins : json::value(nullptr)) << c.id;
      EXPECT_EQ(r.at("store"), echo.contains("store") ? echo.at("store") : json::value(true))
          << c.id;
    }
    EXPECT_EQ(json::parse(t.FinalResponse()).at("id"),
              frames.back().at("data").at("response").at("id"));
  }
}

TEST(ResponsesStream, HostileEventsNeverCrash) {
  for (const char* ev :
       {"data: {\"candidates\":5}\n\n", "data: {\"candidates\":[5]}\n\n",
        "data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":7}]}}]}\n\n",
        "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":1,\"thought\":\"x\"}]}}]}\n\n",
        "data: {\"error\":5}\n\n", "data: [1,2]\n\n", "data: {\"usageMetadata\":[]}\n\n"}) {
    ResponsesContext ctx;
    ctx.new_id = Counter();
    ResponsesStreamTranslator t(ctx);
    std::string out = t.Feed(ev);
    out += t.Finish();
    EXPECT_TRUE(t.done()) << ev;
    CheckSequence(Frames(out));
  }
}

}  // namespace
}  // namespace gkm
