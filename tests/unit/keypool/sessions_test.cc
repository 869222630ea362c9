// The session table of soft session affinity: a session finds the key that served it last,
// forgets it after an hour idle, and holds at most its capacity, the least recently served
// session leaving first. Time is passed in.
#include "keypool/sessions.h"

#include <gtest/gtest.h>

#include <string>

namespace gkm {
namespace {

const TimePoint kT0 = FromUnixMs(1'700'000'000'000);

SessionId Id(std::string_view session) { return SessionIdOf("token", session, "gemini-2.5-pro"); }

TEST(SessionIdOf, DiffersByClientSessionAndModel) {
  SessionId base = SessionIdOf("t", "s", "m");
  EXPECT_EQ(base, SessionIdOf("t", "s", "m"));
  EXPECT_NE(base, SessionIdOf("u", "s", "m"));
  EXPECT_NE(base, SessionIdOf("t", "x", "m"));
  EXPECT_NE(base, SessionIdOf("t", "s", "n"));
  EXPECT_NE(base, SessionIdOf("", "s", "m"));
  // Length prefixes: moving a boundary changes the id.
  EXPECT_NE(SessionIdOf("ab", "c", "m"), SessionIdOf("a", "bc", "m"));
  EXPECT_NE(SessionIdOf("", "", "m"), SessionIdOf("", "m", ""));
  EXPECT_NE(base, SessionId{}) << "a working libcrypto hashes";
}

TEST(MemorySessions, FindsTheKeyThatServedLast) {
  MemorySessions s;
  EXPECT_EQ(s.Find(Id("a"), kT0), std::nullopt);
  s.Bind(Id("a"), "k1", kT0);
  EXPECT_EQ(s.Find(Id("a"), kT0), "k1");
  EXPECT_EQ(s.Find(Id("b"), kT0), std::nullopt);
  s.Bind(Id("a"), "k2", kT0 + Millis(5));  // the session moved
  EXPECT_EQ(s.Find(Id("a"), kT0 + Millis(6)), "k2");
  EXPECT_EQ(s.size(), 1u);
}

TEST(MemorySessions, ForgetsASessionIdleForAnHour) {
  MemorySessions s;
  s.Bind(Id("a"), "k1", kT0);
  s.Bind(Id("b"), "k2", kT0);
  EXPECT_EQ(s.Find(Id("a"), kT0 + MemorySessions::kIdle - Millis(1)), "k1");
  // Finding does not renew; serving does.
  s.Bind(Id("b"), "k2", kT0 + Millis(30 * 60 * 1000));
  EXPECT_EQ(s.Find(Id("a"), kT0 + MemorySessions::kIdle), std::nullopt);
  EXPECT_EQ(s.Find(Id("b"), kT0 + MemorySessions::kIdle), "k2");
  EXPECT_EQ(s.size(), 1u) << "the expired session left memory when found";
}

TEST(MemorySessions, ExpiredSessionsLeaveMemoryAsNewOnesArrive) {
  MemorySessions s(100, Millis(1000));
  for (int i = 0; i < 50; ++i) s.Bind(Id("old" + std::to_string(i)), "k1", kT0);
  EXPECT_EQ(s.size(), 50u);
  s.Bind(Id("new"), "k2", kT0 + Millis(1000));
  EXPECT_EQ(s.size(), 1u);
  EXPECT_EQ(s.Find(Id("new"), kT0 + Millis(1000)), "k2");
}

TEST(MemorySessions, CapacityEvictsTheLeastRecentlyServed) {
  MemorySessions s(3, MemorySessions::kIdle);
  s.Bind(Id("a"), "k1", kT0);
  s.Bind(Id("b"), "k2", kT0 + Millis(1));
  s.Bind(Id("c"), "k3", kT0 + Millis(2));
  s.Bind(Id("a"), "k1", kT0 + Millis(3));  // a served again: b is now the oldest
  s.Bind(Id("d"), "k4", kT0 + Millis(4));
  EXPECT_EQ(s.size(), 3u);
  EXPECT_EQ(s.Find(Id("b"), kT0 + Millis(5)), std::nullopt);
  EXPECT_EQ(s.Find(Id("a"), kT0 + Millis(5)), "k1");
  EXPECT_EQ(s.Find(Id("c"), kT0 + Millis(5)), "k3");
  EXPECT_EQ(s.Find(Id("d"), kT0 + Millis(5)), "k4");
}

TEST(MemorySessions, StaysBoundedUnderManySessions) {
  MemorySessions s(1000, MemorySessions::kIdle);
  for (int i = 0; i < 10'000; ++i) s.Bind(Id(std::to_string(i)), "k", kT0 + Millis(i));
  EXPECT_EQ(s.size(), 1000u);
  EXPECT_EQ(s.Find(Id("8999"), kT0 + Millis(10'000)), std::nullopt);
  EXPECT_EQ(s.Find(Id("9000"), kT0 + Millis(10'000)), "k");
}

}  // namespace
}  // namespace gkm
