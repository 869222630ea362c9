#include "proxy/wait_queue.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace gkm {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Kind = WaitStep::Kind;
using T = WaitQueue::SteadyClock::time_point;

const T kNow = T{} + seconds(1000);

NoKey Cooling(Millis after) { return NoKey{NoKey::Why::kCooling, after, "cooling"}; }

WaitQueue Queue(size_t max_queued = 1000, Millis max_wait = seconds(10)) {
  return WaitQueue(WaitQueue::Options{max_wait, max_queued});
}

// ---------------------------------------------------------------------------------------
// NextStep: whether a wait ends in time, and how long to sleep.

TEST(WaitQueueNextStep, OnlyWaitsThatEndByThemselvesAreWaitedFor) {
  const T deadline = kNow + seconds(10);
  struct Case {
    NoKey::Why why;
    Kind kind;
  } cases[] = {
      {NoKey::Why::kCooling, Kind::kSleep}, {NoKey::Why::kExhausted, Kind::kSleep},
      {NoKey::Why::kNoKeys, Kind::kGiveUp}, {NoKey::Why::kInvalid, Kind::kGiveUp},
      {NoKey::Why::kTried, Kind::kGiveUp},  {NoKey::Why::kAffinityUnusable, Kind::kGiveUp},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(static_cast<int>(c.why));
    NoKey nk{c.why, seconds(3), ""};
    EXPECT_EQ(WaitQueue::NextStep(nk, kNow, deadline).kind, c.kind);
  }
}

TEST(WaitQueueNextStep, AWaitWithoutAnEndIsNotWaitedFor) {
  EXPECT_EQ(WaitQueue::NextStep(Cooling(Millis(0)), kNow, kNow + seconds(10)).kind, Kind::kGiveUp);
}

TEST(WaitQueueNextStep, SleepsUntilJustAfterThePoolsDeadline) {
  WaitStep s = WaitQueue::NextStep(Cooling(milliseconds(2500)), kNow, kNow + seconds(10));
  EXPECT_EQ(s.kind, Kind::kSleep);
  EXPECT_EQ(s.sleep, milliseconds(2500) + WaitQueue::kMargin);
}

TEST(WaitQueueNextStep, AWaitLongerThanWhatIsLeftGivesUpAtOnce) {
  EXPECT_EQ(WaitQueue::NextStep(Cooling(milliseconds(2001)), kNow, kNow + seconds(2)).kind,
            Kind::kGiveUp);
  // A day-exhausted pool whose reset is hours away.
  NoKey day{NoKey::Why::kExhausted, seconds(5 * 3600), "exhausted"};
  EXPECT_EQ(WaitQueue::NextStep(day, kNow, kNow + seconds(3600)).kind, Kind::kGiveUp);
}

TEST(WaitQueueNextStep, AWaitEndingRightAtTheDeadlineSleepsToTheDeadline) {
  WaitStep s = WaitQueue::NextStep(Cooling(milliseconds(2000)), kNow, kNow + seconds(2));
  EXPECT_EQ(s.kind, Kind::kSleep);
  EXPECT_EQ(s.sleep, milliseconds(2000));  // the margin stops at the deadline
}

TEST(WaitQueueNextStep, TheSecondFloorOfThePoolIsPolled) {
  // The pool says one second for anything shorter: ask again every kPoll.
  WaitStep s = WaitQueue::NextStep(Cooling(milliseconds(1000)), kNow, kNow + seconds(1));
  EXPECT_EQ(s.kind, Kind::kSleep);
  EXPECT_EQ(s.sleep, WaitQueue::kPoll);
  // Even with less than a second left: the key may open at any moment.
  s = WaitQueue::NextStep(Cooling(milliseconds(1000)), kNow, kNow + milliseconds(40));
  EXPECT_EQ(s.kind, Kind::kSleep);
  EXPECT_EQ(s.sleep, milliseconds(40));
}

TEST(WaitQueueNextStep, NothingIsLeftAtOrAfterTheDeadline) {
  EXPECT_EQ(WaitQueue::NextStep(Cooling(milliseconds(1000)), kNow, kNow).kind, Kind::kGiveUp);
  EXPECT_EQ(WaitQueue::NextStep(Cooling(milliseconds(1000)), kNow, kNow - seconds(1)).kind,
            Kind::kGiveUp);
}

// ---------------------------------------------------------------------------------------
// Lines: first come, first served per model, bounded in all.

TEST(WaitQueueLines, DisabledWithoutAWaitOrWithoutPlaces) {
  EXPECT_FALSE(Queue(1000, Millis(0)).enabled());
  EXPECT_FALSE(Queue(0, seconds(5)).enabled());
  EXPECT_TRUE(Queue(1, seconds(1)).enabled());
}

TEST(WaitQueueLines, TheFirstToComeIsTheHeadAndTheOthersFollowInOrder) {
  WaitQueue q = Queue();
  std::vector<int> woken;
  auto a = q.Enter("m", [&] { woken.push_back(1); });
  auto b = q.Enter("m", [&] { woken.push_back(2); });
  auto c = q.Enter("m", [&] { woken.push_back(3); });
  EXPECT_TRUE(q.IsHead(a));
  EXPECT_FALSE(q.IsHead(b));
  EXPECT_FALSE(q.IsHead(c));
  q.Leave(a);
  EXPECT_TRUE(q.IsHead(b));
  EXPECT_FALSE(q.IsHead(c));
  q.Leave(b);
  EXPECT_TRUE(q.IsHead(c));
  EXPECT_EQ(woken, (std::vector<int>{2, 3}));  // each woken once, when its turn came
  q.Leave(c);
  EXPECT_EQ(q.size(), 0u);
  EXPECT_FALSE(q.HasLine("m"));
}

TEST(WaitQueueLines, LeavingFromTheMiddleWakesNobody) {
  WaitQueue q = Queue();
  int wakes = 0;
  auto a = q.Enter("m", [&] { ++wakes; });
  auto b = q.Enter("m", [&] { ++wakes; });
  auto c = q.Enter("m", [&] { ++wakes; });
  q.Leave(b);  // a client that left, or a timeout
  EXPECT_EQ(wakes, 0);
  EXPECT_TRUE(q.IsHead(a));
  q.Leave(a);
  EXPECT_EQ(wakes, 1);
  EXPECT_TRUE(q.IsHead(c));
}

TEST(WaitQueueLines, ModelsHaveLinesOfTheirOwn) {
  WaitQueue q = Queue();
  auto a = q.Enter("flash", nullptr);
  auto b = q.Enter("pro", nullptr);
  EXPECT_TRUE(q.IsHead(a));
  EXPECT_TRUE(q.IsHead(b));
  EXPECT_TRUE(q.HasLine("flash"));
  EXPECT_TRUE(q.HasLine("pro"));
  EXPECT_FALSE(q.HasLine("lite"));
  q.Leave(a);
  EXPECT_FALSE(q.HasLine("flash"));
  EXPECT_TRUE(q.HasLine("pro"));
  EXPECT_EQ(q.size(), 1u);
}

TEST(WaitQueueLines, MaxQueuedCountsEveryLineAndFreesWithLeaving) {
  WaitQueue q = Queue(2);
  auto a = q.Enter("flash", nullptr);
  auto b = q.Enter("pro", nullptr);
  EXPECT_NE(a, 0u);
  EXPECT_NE(b, 0u);
  EXPECT_EQ(q.Enter("lite", nullptr), 0u);
  EXPECT_EQ(q.Enter("flash", nullptr), 0u);
  EXPECT_EQ(q.size(), 2u);
  q.Leave(a);
  EXPECT_NE(q.Enter("flash", nullptr), 0u);
}

TEST(WaitQueueLines, UnknownAndRepeatedLeavesAreHarmless) {
  WaitQueue q = Queue();
  auto a = q.Enter("m", nullptr);
  q.Leave(a);
  q.Leave(a);
  q.Leave(0);
  q.Leave(12345);
  EXPECT_EQ(q.size(), 0u);
  EXPECT_FALSE(q.IsHead(a));
}

TEST(WaitQueueLines, WakeAllWakesEveryWaiterOnce) {
  WaitQueue q = Queue();
  int wakes = 0;
  q.Enter("a", [&] { ++wakes; });
  q.Enter("a", [&] { ++wakes; });
  q.Enter("b", [&] { ++wakes; });
  q.WakeAll();
  EXPECT_EQ(wakes, 3);
}

TEST(WaitQueueLines, AfterCloseNobodyIsWokenOrAdmitted) {
  WaitQueue q = Queue();
  int wakes = 0;
  auto a = q.Enter("m", [&] { ++wakes; });
  q.Enter("m", [&] { ++wakes; });
  q.Close();
  q.Leave(a);
  q.WakeAll();
  EXPECT_EQ(wakes, 0);
  EXPECT_EQ(q.Enter("m", nullptr), 0u);
}

TEST(WaitQueueLines, AWakeMayLeaveTheLineItself) {
  // The wake is called with no lock held: a waiter woken may leave at once (its client gone).
  WaitQueue q = Queue();
  WaitQueue::Ticket b = 0;
  auto a = q.Enter("m", nullptr);
  b = q.Enter("m", [&] { q.Leave(b); });
  auto c = q.Enter("m", nullptr);
  q.Leave(a);
  EXPECT_TRUE(q.IsHead(c));
  EXPECT_EQ(q.size(), 1u);
}

TEST(WaitQueueLines, ThreadsEnteringAndLeavingKeepTheCountRight) {
  WaitQueue q = Queue(100000);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&q, t] {
      for (int i = 0; i < 2000; ++i) {
        auto ticket = q.Enter(t % 2 ? "a" : "b", [] {});
        q.IsHead(ticket);
        q.Leave(ticket);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(q.size(), 0u);
  EXPECT_FALSE(q.HasLine("a"));
  EXPECT_FALSE(q.HasLine("b"));
}

}  // namespace
}  // namespace gkm
