#include "translate/thought_signature.h"

#include <gtest/gtest.h>

#include <regex>

namespace gkm {
namespace {

TEST(ThoughtSignature, RidesInsideAnIdClientsAccept) {
  const std::string sig = "CiQB0e2Kb+/mock/signature==";
  std::string id = IdWithSignature("toolu_01A9", sig);
  EXPECT_TRUE(std::regex_match(id, std::regex("^[a-zA-Z0-9_-]+$"))) << id;
  IdParts parts = SplitSignatureId(id);
  EXPECT_EQ(parts.id, id);
  ASSERT_TRUE(parts.signature);
  EXPECT_EQ(*parts.signature, sig);
}

TEST(ThoughtSignature, IdsWithoutOneHaveNone) {
  EXPECT_EQ(IdWithSignature("call_x", ""), "call_x");
  EXPECT_FALSE(SplitSignatureId("call_x").signature);
  EXPECT_FALSE(SplitSignatureId("toolu_01__gs_").signature);
  EXPECT_FALSE(SplitSignatureId("toolu_01__gs_not*base64").signature);
  EXPECT_FALSE(SplitSignatureId("toolu_01__gs_A").signature);  // a lone sextet is no byte
}

TEST(ThoughtSignature, Base64UrlRoundTripsEveryLength) {
  std::string bytes;
  for (int n = 0; n < 64; ++n) {
    auto decoded = Base64UrlDecode(Base64UrlEncode(bytes));
    ASSERT_TRUE(decoded) << n;
    EXPECT_EQ(*decoded, bytes) << n;
    bytes += static_cast<char>(n * 37 + 11);
  }
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_FALSE(Base64UrlDecode("-_9"));  // non-zero padding bits
}

}  // namespace
}  // namespace gkm
