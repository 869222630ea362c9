#include "proxy/headers.h"

#include <gtest/gtest.h>

namespace gkm {
namespace {

namespace http = boost::beast::http;

TEST(Headers, ConnectionLevelFieldsNeverCross) {
  for (auto f : {http::field::connection, http::field::keep_alive, http::field::te,
                 http::field::trailer, http::field::transfer_encoding, http::field::upgrade,
                 http::field::proxy_authorization, http::field::proxy_authenticate,
                 http::field::proxy_connection, http::field::content_length}) {
    EXPECT_TRUE(IsConnectionLevel(f)) << http::to_string(f);
  }
  for (auto f : {http::field::content_type, http::field::date, http::field::user_agent,
                 http::field::unknown}) {
    EXPECT_FALSE(IsConnectionLevel(f)) << http::to_string(f);
  }
}

TEST(Headers, FieldsTheConnectionHeaderNamesAreFound) {
  http::fields f;
  f.insert(http::field::connection, "keep-alive, X-Custom-Hop");
  f.insert(http::field::connection, "x-other");
  ConnectionNamed named(f);
  EXPECT_TRUE(named.Contains("x-custom-hop"));
  EXPECT_TRUE(named.Contains("X-CUSTOM-HOP"));
  EXPECT_TRUE(named.Contains("x-other"));
  EXPECT_FALSE(named.Contains("x-custom"));
  EXPECT_FALSE(named.Contains("content-type"));
  EXPECT_FALSE(ConnectionNamed(http::fields{}).Contains("x-custom-hop"));
}

}  // namespace
}  // namespace gkm
