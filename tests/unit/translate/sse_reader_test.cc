#include "translate/sse_reader.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace gkm {
namespace {

using Events = std::vector<std::string>;

Events ReadAll(const std::string& stream) {
  SseReader r;
  Events out = r.Feed(stream);
  for (std::string& e : r.Finish()) out.push_back(std::move(e));
  return out;
}

Events ReadByteByByte(const std::string& stream) {
  SseReader r;
  Events out;
  for (char c : stream) {
    for (std::string& e : r.Feed(std::string_view(&c, 1))) out.push_back(std::move(e));
  }
  for (std::string& e : r.Finish()) out.push_back(std::move(e));
  return out;
}

struct Case {
  const char* name;
  std::string stream;
  Events events;
};

class SseCases : public testing::TestWithParam<Case> {};

TEST_P(SseCases, GiveTheEventsWhateverTheSplits) {
  const Case& c = GetParam();
  EXPECT_EQ(ReadAll(c.stream), c.events);
  EXPECT_EQ(ReadByteByByte(c.stream), c.events);
  for (size_t cut = 1; cut < c.stream.size(); ++cut) {
    SseReader r;
    Events out = r.Feed(std::string_view(c.stream).substr(0, cut));
    for (std::string& e : r.Feed(std::string_view(c.stream).substr(cut))) out.push_back(e);
    for (std::string& e : r.Finish()) out.push_back(e);
    ASSERT_EQ(out, c.events) << "cut at " << cut;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Streams, SseCases,
    testing::Values(
        Case{"crlf", "data: {\"a\":1}\r\n\r\ndata: {\"b\":2}\r\n\r\n", {"{\"a\":1}", "{\"b\":2}"}},
        Case{"lf", "data: x\n\ndata: y\n\n", {"x", "y"}},
        Case{"cr", "data: x\r\rdata: y\r\r", {"x", "y"}},
        Case{"mixed", "data: x\r\n\ndata: y\n\r\n", {"x", "y"}},
        Case{"multiline", "data: a\ndata: b\ndata\ndata:c\n\n", {"a\nb\n\nc"}},
        Case{"one_space_dropped", "data:  two\n\n", {" two"}},
        Case{"comments_and_fields",
             ": hi\nevent: e\nid: 1\nretry: 5\nfoo\ndata: x\n\n:bye\n\n",
             {"x"}},
        Case{"no_data_no_event", "event: ping\n\n\n\n", {}},
        Case{"empty_data_is_an_event", "data\n\n", {""}},
        Case{"bom",
             "\xEF\xBB\xBF"
             "data: x\n\n",
             {"x"}},
        Case{"unterminated_last", "data: x\n\ndata: y", {"x", "y"}},
        Case{"unterminated_last_line_end", "data: x\n", {"x"}},
        Case{"field_without_space", "data:x\n\n", {"x"}},
        Case{"colon_in_value", "data: a:b\n\n", {"a:b"}}, Case{"empty", "", {}}),
    [](const testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

TEST(SseReader, OverflowStopsReadingInsteadOfGrowing) {
  SseReader r(16);
  EXPECT_EQ(r.Feed("data: 0123456789\n\n"), Events{"0123456789"});
  EXPECT_TRUE(r.Feed("data: 0123456789abcdef").empty());
  EXPECT_TRUE(r.overflowed());
  EXPECT_TRUE(r.Feed("\n\ndata: x\n\n").empty());
  EXPECT_TRUE(r.Finish().empty());
}

TEST(SseReader, ManyDataLinesCountTowardsTheBound) {
  SseReader r(32);
  std::string s;
  for (int i = 0; i < 20; ++i) s += "data: abcd\n";
  EXPECT_TRUE(r.Feed(s).empty());
  EXPECT_TRUE(r.overflowed());
}

}  // namespace
}  // namespace gkm
