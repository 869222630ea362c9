#include "common/api_key.h"

#include <gtest/gtest.h>

namespace gkm {
namespace {

TEST(ApiKey, MaskedShowsOnlyTheEnds) {
  ApiKey k("AIzaFAKEFAKEFAKEFAKEtestkey0001x9kQ");
  EXPECT_EQ(k.masked(), "AIza…x9kQ");
  EXPECT_EQ(k.masked().find("FAKE"), std::string::npos);
}

TEST(ApiKey, IdIsStableAndDoesNotContainTheKey) {
  ApiKey a("test-key-one"), b("test-key-one"), c("test-key-two");
  EXPECT_EQ(a.id(), b.id());
  EXPECT_NE(a.id(), c.id());
  EXPECT_EQ(a.id().size(), 13u);
  EXPECT_EQ(a.id()[0], 'k');
  EXPECT_EQ(a.id(), KeyIdOf("test-key-one"));
}

TEST(ApiKey, ShortKeysAreStillMasked) {
  ApiKey k("abcdef");
  EXPECT_EQ(k.masked().find("abcdef"), std::string::npos);
}

}  // namespace
}  // namespace gkm
