#include "translate/json_util.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdint>
#include <string>

namespace gkm {
namespace {

namespace json = boost::json;
using translate_internal::AppendJsonString;

TEST(AppendJsonString, WritesWhatTheSerializerWrites) {
  const std::string cases[] = {
      "",
      "plain text",
      "quote \" and backslash \\",
      "newline\nand tab\t and CR\r",
      std::string("nul \0 byte", 10),
      "\x01\x1f controls",
      "unicode \xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80 and / slash and \x7f",
  };
  for (const std::string& s : cases) {
    std::string out = "prefix:";
    AppendJsonString(out, s);
    EXPECT_EQ(out, "prefix:" + json::serialize(json::string_view(s))) << s;
    EXPECT_EQ(json::parse(out.substr(7)).as_string(), s) << "round trip of " << s;
  }
}

// The escape check runs eight bytes at a time: a character to escape at every position of
// a word, and in the tail after the last whole word, must still be found.
TEST(AppendJsonString, FindsEscapesAtEveryOffset) {
  for (const char special : {'"', '\\', '\n', '\x01', '\x1f', '\0'}) {
    for (size_t len = 1; len <= 24; ++len) {
      for (size_t at = 0; at < len; ++at) {
        std::string s(len, 'a');
        s[at] = special;
        std::string out;
        AppendJsonString(out, s);
        EXPECT_EQ(out, json::serialize(json::string_view(s))) << len << " " << at;
      }
    }
  }
  // Bytes just above the escaped ranges are written as they are.
  const std::string plain = "\x20!#[]^\x7f\x80\xff 0123456789";
  std::string out;
  AppendJsonString(out, plain);
  EXPECT_EQ(out, "\"" + plain + "\"");
}

TEST(AppendInt, WritesWhatToStringWrites) {
  for (const int64_t i : {int64_t{0}, int64_t{7}, int64_t{-42}, INT64_MAX, INT64_MIN}) {
    std::string out = "n=";
    translate_internal::AppendInt(out, i);
    EXPECT_EQ(out, "n=" + std::to_string(i));
  }
}

TEST(ParseJson, ReadsEventsAndRefusesJunkAfterTheValue) {
  std::string err;
  translate_internal::ScratchJson scratch;
  auto v = translate_internal::ParseJson(R"({"a":[1,2,{"b":"c"}]} )", &err, scratch.storage());
  ASSERT_TRUE(v.has_value()) << err;
  EXPECT_EQ(v->at("a").at(2).at("b").as_string(), "c");
  EXPECT_FALSE(translate_internal::ParseJson(R"({"a":1} x)", &err).has_value());
  // Deeper than the parser's stack buffer in the frame: it grows, the parse still succeeds.
  std::string deep;
  for (int i = 0; i < 60; ++i) deep += "{\"k\":";
  deep += "1";
  for (int i = 0; i < 60; ++i) deep += "}";
  std::string wide = "[";
  for (int i = 0; i < 5000; ++i) wide += (i ? ",\"" : "\"") + std::to_string(i) + "\"";
  wide += "]";
  EXPECT_TRUE(translate_internal::ParseJson(deep, &err).has_value()) << err;
  auto w = translate_internal::ParseJson(wide, &err);
  ASSERT_TRUE(w.has_value()) << err;
  EXPECT_EQ(w->as_array().size(), 5000u);
}

}  // namespace
}  // namespace gkm
