// The pure parts of the Redis backend: the URL and the batch as the apply script reads it.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include <openssl/x509_vfy.h>

#include "store/redis_sync.h"
#include "store/redis_tls.h"

namespace gkm {
namespace {

TEST(RedisUrl, Forms) {
  std::string e;
  auto u = ParseRedisUrl("redis://:pw@127.0.0.1:6380/3", &e);
  ASSERT_TRUE(u) << e;
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 6380);
  EXPECT_EQ(u->password, "pw");
  EXPECT_EQ(u->user, "");
  EXPECT_EQ(u->db, 3);
  EXPECT_FALSE(u->tls);
  EXPECT_EQ(u->Where(), "127.0.0.1:6380");

  u = ParseRedisUrl("redis://redis", &e);
  ASSERT_TRUE(u) << e;
  EXPECT_EQ(u->port, 6379);
  EXPECT_EQ(u->db, 0);
  EXPECT_EQ(u->password, "");

  u = ParseRedisUrl("rediss://alice:p%40ss%3Aw@[::1]:7000/0", &e);
  ASSERT_TRUE(u) << e;
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->user, "alice");
  EXPECT_EQ(u->password, "p@ss:w");
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->Where(), "[::1]:7000");
}

TEST(RedisUrl, RefusedWithoutEchoingThePassword) {
  for (const char* bad : {"http://h:1", "redis://", "redis://:secret@h:0", "redis://:secret@h:x",
                          "redis://:secret@h:1/db", "redis://:secret%zz@h:1", "redis://[::1:1"}) {
    std::string e;
    EXPECT_FALSE(ParseRedisUrl(bad, &e)) << bad;
    EXPECT_FALSE(e.empty()) << bad;
    EXPECT_EQ(e.find("secret"), std::string::npos) << e;
  }
}

TEST(RedisUrl, TlsForms) {
  std::string e;
  auto u = ParseRedisUrl("rediss://:pw@redis.internal/2", &e);
  ASSERT_TRUE(u) << e;
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "redis.internal");
  EXPECT_EQ(u->port, 6379);  // the same default port: Redis's TLS port is a setting
  EXPECT_EQ(u->db, 2);
  EXPECT_EQ(u->Where(), "redis.internal:6379");
  u = ParseRedisUrl("rediss://default:pw@localhost:6380", &e);
  ASSERT_TRUE(u) << e;
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->user, "default");
  EXPECT_EQ(u->port, 6380);
  EXPECT_EQ(u->db, 0);
  for (const char* bad : {"rediss://", "rediss://:secret@", "redis+tls://:secret@h:1",
                          "rediss://:secret@h:65536", "REDISS://:secret@h:1"}) {
    EXPECT_FALSE(ParseRedisUrl(bad, &e)) << bad;
    EXPECT_EQ(e.find("secret"), std::string::npos) << e;
  }
}

TEST(RedisTls, PeerNamesAnIpWithoutSniAndANameWithIt) {
  EXPECT_TRUE(TlsPeerOf("127.0.0.1").ip);
  EXPECT_TRUE(TlsPeerOf("::1").ip);  // ParseRedisUrl drops the brackets
  EXPECT_TRUE(TlsPeerOf("2001:db8::5").ip);
  EXPECT_FALSE(TlsPeerOf("localhost").ip);
  EXPECT_FALSE(TlsPeerOf("redis.internal").ip);
  EXPECT_FALSE(TlsPeerOf("10.0.0.5.nip.io").ip);
  EXPECT_FALSE(TlsPeerOf("[::1]").ip);
  EXPECT_EQ(TlsPeerOf("redis.internal").name, "redis.internal");
}

TEST(RedisTls, HandshakeErrorSaysWhyAndWhere) {
  std::string e = HandshakeError("localhost:6380", X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN,
                                 "certificate verify failed");
  EXPECT_EQ(e,
            "TLS handshake with localhost:6380 failed: the server's certificate was refused: "
            "self-signed certificate in certificate chain (give its CA with --redis-ca)");
  e = HandshakeError("localhost:6380", X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, "x");
  EXPECT_NE(e.find("--redis-ca"), std::string::npos) << e;
  // A certificate for another name: the CA is fine, no hint at it.
  e = HandshakeError("10.0.0.5:6380", X509_V_ERR_IP_ADDRESS_MISMATCH, "certificate verify failed");
  EXPECT_EQ(e,
            "TLS handshake with 10.0.0.5:6380 failed: the server's certificate was refused: "
            "IP address mismatch");
  e = HandshakeError("r:6380", X509_V_ERR_HOSTNAME_MISMATCH, "certificate verify failed");
  EXPECT_NE(e.find("hostname mismatch"), std::string::npos) << e;
  // No certificate verdict: the TLS error as it is (a plain-text port, an old protocol).
  e = HandshakeError("r:6379", X509_V_OK, "wrong version number (SSL routines)");
  EXPECT_EQ(e, "TLS handshake with r:6379 failed: wrong version number (SSL routines)");
}

TEST(EncodeBatch, OkClearsElsewhereOnlyWithAResetOfTheKey) {
  Batch b;
  b.states.push_back({"k1", "m", "ok", 0, ""});  // a deadline that passed
  b.states.push_back({"k2", "m", "ok", 0, ""});  // an admin reset: its status row comes along
  b.statuses.push_back({"k2", "active", ""});
  b.project_states.push_back({"p", "m", "ok", 0, ""});
  b.usage.push_back({"k1", "m", "2026-11-27", 3, 1, 1, 10, 20, 0});
  boost::json::value v = boost::json::parse(EncodeBatch(b));
  const auto& s = v.at("s").as_array();
  EXPECT_EQ(s[0].as_array()[5].as_int64(), 0);
  EXPECT_EQ(s[1].as_array()[5].as_int64(), 1);
  EXPECT_EQ(v.at("ps").as_array()[0].as_array()[5].as_int64(), 1);  // a revival in the batch
  const auto& u = v.at("u").as_array()[0].as_array();
  EXPECT_EQ(u[0].as_string(), "k1");
  EXPECT_EQ(u[3].as_int64(), 3);
  EXPECT_EQ(u[6].as_int64(), 10);
  EXPECT_FALSE(v.as_object().contains("b"));
}

}  // namespace
}  // namespace gkm
