#include "proxy/headers.h"

#include <gtest/gtest.h>

namespace gkm {
namespace {

TEST(Headers, ConnectionLevelFieldsNeverCross) {
  for (std::string_view name :
       {"Connection", "keep-alive", "TE", "Trailer", "transfer-encoding", "Upgrade",
        "Proxy-Authorization", "proxy-authenticate", "Proxy-Connection", "Content-Length"}) {
    EXPECT_TRUE(IsConnectionLevel(name)) << name;
  }
  for (std::string_view name :
       {"Content-Type", "Date", "User-Agent", "x-goog-api-key", "Tee", "Upgrades", ""}) {
    EXPECT_FALSE(IsConnectionLevel(name)) << name;
  }
}

TEST(Headers, FieldsTheConnectionHeaderNamesAreFound) {
  std::vector<HttpField> f = {{"Content-Type", "application/json"},
                              {"Connection", "keep-alive, X-Custom-Hop"},
                              {"connection", "x-other"}};
  ConnectionNamed named(f);
  EXPECT_TRUE(named.Contains("x-custom-hop"));
  EXPECT_TRUE(named.Contains("X-CUSTOM-HOP"));
  EXPECT_TRUE(named.Contains("x-other"));
  EXPECT_FALSE(named.Contains("x-custom"));
  EXPECT_FALSE(named.Contains("content-type"));
  EXPECT_FALSE(ConnectionNamed(std::vector<HttpField>{}).Contains("x-custom-hop"));
}

TEST(Headers, ManyConnectionFieldsAreAllRead) {
  std::vector<HttpField> f;
  const char* names[] = {"a", "b", "c", "d", "e", "f"};
  for (const char* n : names) f.push_back({"Connection", n});
  ConnectionNamed named(f);
  for (const char* n : names) EXPECT_TRUE(named.Contains(n)) << n;
  EXPECT_FALSE(named.Contains("g"));
}

}  // namespace
}  // namespace gkm
