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

namespace gkm {
namespace {

TEST(Headers, OneTableDecidesBothDirections) {
  // Client fields the proxy replaces or answers itself never go upstream.
  for (std::string_view name : {"Host", "authorization", "X-Goog-Api-Key", "Cookie", "Expect",
                                "Accept-Encoding", "Connection", "Content-Length", "TE"}) {
    EXPECT_FALSE(Crosses(name, Direction::kToUpstream)) << name;
  }
  for (std::string_view name : {"Content-Type", "User-Agent", "x-goog-api-client",
                                "X-Goog-Upload-Protocol", "Accept", "x-server-timeout"}) {
    EXPECT_TRUE(Crosses(name, Direction::kToUpstream)) << name;
  }
  // Answers keep their end-to-end fields; the hop's own never reach the client.
  for (std::string_view name : {"Transfer-Encoding", "Keep-Alive", "Content-Length", "Upgrade"}) {
    EXPECT_FALSE(Crosses(name, Direction::kToClient)) << name;
  }
  for (std::string_view name :
       {"Content-Type", "Content-Encoding", "Date", "Vary", "Server-Timing", "x-goog-upload-url"}) {
    EXPECT_TRUE(Crosses(name, Direction::kToClient)) << name;
  }
}

}  // namespace
}  // namespace gkm
