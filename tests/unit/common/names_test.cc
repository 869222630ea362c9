// Percent-decoding, model-name checks and UTF-8 safety (common/names.h).
#include "common/names.h"

#include <gtest/gtest.h>

namespace gkm {
namespace {

TEST(Names, PercentDecode) {
  EXPECT_EQ(PercentDecode("k%65y"), "key");
  EXPECT_EQ(PercentDecode("%6B%65%79"), "key");
  EXPECT_EQ(PercentDecode("%6b%65%79"), "key");
  EXPECT_EQ(PercentDecode("a+b"), "a+b");
  EXPECT_EQ(PercentDecode(""), "");
  EXPECT_EQ(PercentDecode("%FF"), std::string("\xFF"));
  EXPECT_EQ(PercentDecode("%00"), std::string(1, '\0'));
  EXPECT_EQ(PercentDecode("%2525"), "%25");  // once, not twice
  EXPECT_EQ(PercentDecode("%"), std::nullopt);
  EXPECT_EQ(PercentDecode("a%"), std::nullopt);
  EXPECT_EQ(PercentDecode("a%4"), std::nullopt);
  EXPECT_EQ(PercentDecode("%4g"), std::nullopt);
  EXPECT_EQ(PercentDecode("%g4"), std::nullopt);
}

TEST(Names, ModelNameProblem) {
  EXPECT_EQ(ModelNameProblem("gemini-2.5-flash"), "");
  EXPECT_EQ(ModelNameProblem("A.b_c-9"), "");
  EXPECT_EQ(ModelNameProblem(std::string(kMaxModelName, 'a')), "");
  EXPECT_NE(ModelNameProblem(""), "");
  EXPECT_NE(ModelNameProblem(std::string(kMaxModelName + 1, 'a')), "");
  EXPECT_NE(ModelNameProblem("a/b"), "");
  EXPECT_NE(ModelNameProblem("a:b"), "");
  EXPECT_NE(ModelNameProblem("a%2Db"), "");
  EXPECT_NE(ModelNameProblem(std::string("a\0b", 3)), "");
  EXPECT_NE(ModelNameProblem("caf\xC3\xA9"), "");
  EXPECT_NE(ModelNameProblem("x\xFF").find("x\\xFF"), std::string::npos);
}

TEST(Names, IsValidUtf8) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xFF"));
  EXPECT_FALSE(IsValidUtf8("\xC3"));              // cut
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xE0\x80\xAF"));      // overlong
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // a surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\x80"));
}

TEST(Names, ValidUtf8ReplacesOnlyTheBadBytes) {
  EXPECT_EQ(ValidUtf8("ok \xC3\xA9"), "ok \xC3\xA9");
  EXPECT_EQ(ValidUtf8("a\xFF"
                      "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_TRUE(IsValidUtf8(ValidUtf8("\xC3\xC3\xA9\xF0\x9F")));
}

TEST(Names, PrintableIsAsciiAndBounded) {
  EXPECT_EQ(Printable("abc"), "abc");
  EXPECT_EQ(Printable("a\xFF\n\\"), "a\\xFF\\x0A\\x5C");
  EXPECT_EQ(Printable(std::string(100, 'z'), 10), std::string(10, 'z') + "...");
}

}  // namespace
}  // namespace gkm
