// The pure parts of the Redis backend: the URL and the batch as the apply script reads it.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "store/redis_sync.h"

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
