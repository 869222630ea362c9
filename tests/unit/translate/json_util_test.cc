#include "translate/json_util.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
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
