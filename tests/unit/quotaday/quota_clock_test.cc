#include "quotaday/quota_clock.h"

#include <date/date.h>
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

namespace gkm {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

TimePoint Utc(int y, unsigned m, unsigned d, int h = 0, int min = 0, int s = 0) {
  const date::sys_days day{date::year{y} / date::month{m} / date::day{d}};
  return TimePoint(day.time_since_epoch() + hours(h) + minutes(min) + seconds(s));
}

QuotaClock Clock(const char* zone, seconds reset = seconds(0)) {
  std::string error;
  std::optional<QuotaClock> c = QuotaClock::Make(zone, reset, &error);
  EXPECT_TRUE(c.has_value()) << error;
  return *c;
}

QuotaClock Pacific(seconds reset = seconds(0)) { return Clock("America/Los_Angeles", reset); }

TEST(QuotaClock, WinterDayStartsAt0800Utc) {
  const QuotaClock c = Pacific();
  EXPECT_EQ(c.DayStart(Utc(2026, 1, 15, 12)), Utc(2026, 1, 15, 8));
  EXPECT_EQ(c.NextReset(Utc(2026, 1, 15, 12)), Utc(2026, 1, 16, 8));
  EXPECT_EQ(c.DayOf(Utc(2026, 1, 15, 8) - Millis(1)), "2026-01-14");
  EXPECT_EQ(c.DayOf(Utc(2026, 1, 15, 8)), "2026-01-15");
  // Still the 15th in California when it is the 16th in UTC.
  EXPECT_EQ(c.DayOf(Utc(2026, 1, 16, 7, 59, 59)), "2026-01-15");
}

TEST(QuotaClock, SummerDayStartsAt0700Utc) {
  const QuotaClock c = Pacific();
  EXPECT_EQ(c.DayStart(Utc(2026, 7, 4, 12)), Utc(2026, 7, 4, 7));
  EXPECT_EQ(c.NextReset(Utc(2026, 7, 4, 12)), Utc(2026, 7, 5, 7));
  EXPECT_EQ(c.DayOf(Utc(2026, 7, 4, 7) - Millis(1)), "2026-07-03");
  EXPECT_EQ(c.DayOf(Utc(2026, 7, 4, 7)), "2026-07-04");
}

TEST(QuotaClock, SpringForwardDayLasts23Hours) {
  const QuotaClock c = Pacific();
  const TimePoint start = c.DayStart(Utc(2026, 3, 8, 12));
  EXPECT_EQ(start, Utc(2026, 3, 8, 8));               // midnight PST
  EXPECT_EQ(c.NextReset(start), Utc(2026, 3, 9, 7));  // midnight PDT
  EXPECT_EQ(c.NextReset(start) - start, hours(23));
  EXPECT_EQ(c.DayOf(Utc(2026, 3, 9, 7) - Millis(1)), "2026-03-08");
  EXPECT_EQ(c.DayOf(Utc(2026, 3, 9, 7)), "2026-03-09");
}

TEST(QuotaClock, FallBackDayLasts25Hours) {
  const QuotaClock c = Pacific();
  const TimePoint start = c.DayStart(Utc(2026, 11, 1, 12));
  EXPECT_EQ(start, Utc(2026, 11, 1, 7));               // midnight PDT
  EXPECT_EQ(c.NextReset(start), Utc(2026, 11, 2, 8));  // midnight PST
  EXPECT_EQ(c.NextReset(start) - start, hours(25));
  EXPECT_EQ(c.DayOf(Utc(2026, 11, 2, 8) - Millis(1)), "2026-11-01");
  EXPECT_EQ(c.DayOf(Utc(2026, 11, 2, 8)), "2026-11-02");
}

TEST(QuotaClock, ResetInTheSpringGapStartsWhenTheGapEnds) {
  // 02:30 does not exist on 2026-03-08 in Los Angeles: the day starts at 03:00 PDT (10:00Z).
  const QuotaClock c = Pacific(hours(2) + minutes(30));
  EXPECT_EQ(c.DayStart(Utc(2026, 3, 8, 12)), Utc(2026, 3, 8, 10));
  EXPECT_EQ(c.DayOf(Utc(2026, 3, 8, 10) - Millis(1)), "2026-03-07");
  EXPECT_EQ(c.DayOf(Utc(2026, 3, 8, 10)), "2026-03-08");
  // The day before started at 02:30 PST, the day after at 02:30 PDT.
  EXPECT_EQ(c.DayStart(Utc(2026, 3, 8, 9)), Utc(2026, 3, 7, 10, 30));
  EXPECT_EQ(c.NextReset(Utc(2026, 3, 8, 10)), Utc(2026, 3, 9, 9, 30));
}

TEST(QuotaClock, ResetInTheFallOverlapStartsAtTheFirstOccurrence) {
  // 01:30 happens twice on 2026-11-01: at 08:30Z (PDT) and again at 09:30Z (PST).
  const QuotaClock c = Pacific(hours(1) + minutes(30));
  EXPECT_EQ(c.DayStart(Utc(2026, 11, 1, 12)), Utc(2026, 11, 1, 8, 30));
  EXPECT_EQ(c.DayOf(Utc(2026, 11, 1, 8, 30) - Millis(1)), "2026-10-31");
  EXPECT_EQ(c.DayOf(Utc(2026, 11, 1, 8, 30)), "2026-11-01");
  // 01:10 PST, after the clocks went back: local time is before 01:30 but the day has begun.
  EXPECT_EQ(c.DayOf(Utc(2026, 11, 1, 9, 10)), "2026-11-01");
  // The second 01:30 is not a reset.
  EXPECT_EQ(c.NextReset(Utc(2026, 11, 1, 9, 30)), Utc(2026, 11, 2, 9, 30));
  EXPECT_EQ(c.NextReset(Utc(2026, 11, 1, 8, 30)) - Utc(2026, 11, 1, 8, 30), hours(25));
}

TEST(QuotaClock, UtcZone) {
  const QuotaClock c = Clock("UTC");
  EXPECT_EQ(c.DayStart(Utc(2026, 3, 8, 12)), Utc(2026, 3, 8));
  EXPECT_EQ(c.NextReset(Utc(2026, 3, 8, 12)), Utc(2026, 3, 9));
  EXPECT_EQ(c.DayOf(Utc(2026, 12, 31, 23, 59, 59)), "2026-12-31");
  const QuotaClock shifted = Clock("Etc/UTC", hours(6));
  EXPECT_EQ(shifted.DayOf(Utc(2026, 1, 1, 5, 59, 59)), "2025-12-31");
  EXPECT_EQ(shifted.DayOf(Utc(2026, 1, 1, 6)), "2026-01-01");
}

TEST(QuotaClock, UnknownZoneIsAnError) {
  std::string error;
  EXPECT_FALSE(QuotaClock::Make("Mars/Olympus_Mons", seconds(0), &error).has_value());
  EXPECT_EQ(error, "unknown time zone 'Mars/Olympus_Mons'");
  EXPECT_FALSE(QuotaClock::Make("", seconds(0), &error).has_value());
}

TEST(QuotaClock, ResetTimeOutsideTheDayIsAnError) {
  std::string error;
  EXPECT_FALSE(QuotaClock::Make("UTC", seconds(-1), &error).has_value());
  EXPECT_FALSE(error.empty());
  EXPECT_FALSE(QuotaClock::Make("UTC", hours(24), &error).has_value());
  EXPECT_TRUE(QuotaClock::Make("UTC", hours(24) - seconds(1), &error).has_value());
}

TEST(QuotaClock, NextResetIsStrictlyAfterT) {
  const QuotaClock c = Pacific();
  const TimePoint reset = Utc(2026, 7, 4, 7);
  EXPECT_EQ(c.NextReset(reset - Millis(1)), reset);
  EXPECT_EQ(c.NextReset(reset), Utc(2026, 7, 5, 7));
  EXPECT_EQ(c.DayStart(reset), reset);
}

TEST(QuotaClock, DayNamesAndNumbersAgree) {
  EXPECT_EQ(QuotaClock::DayName(0), "1970-01-01");
  EXPECT_EQ(QuotaClock::DayName(-1), "1969-12-31");
  EXPECT_EQ(QuotaClock::DayName(20468), "2026-01-15");
  const QuotaClock c = Pacific();
  EXPECT_EQ(c.DayNumberOf(Utc(2026, 1, 15, 8)), 20468);
  EXPECT_EQ(c.DayNumberOf(Utc(2026, 1, 15, 8) - Millis(1)), 20467);
}

// Every hour of 2026, for reset times on and off the DST changes: the day containing t starts
// at or before t, the next one after it, and both name the same day.
TEST(QuotaClock, InvariantsHoldAllYear) {
  for (seconds reset : std::initializer_list<seconds>{seconds(0), hours(1) + minutes(30),
                                                      hours(2) + minutes(30), hours(23)}) {
    const QuotaClock c = Pacific(reset);
    for (TimePoint t = Utc(2026, 1, 1); t < Utc(2027, 1, 1); t += minutes(37)) {
      const TimePoint start = c.DayStart(t);
      const TimePoint next = c.NextReset(t);
      ASSERT_LE(start, t);
      ASSERT_GT(next, t);
      ASSERT_GE(next - start, hours(23));
      ASSERT_LE(next - start, hours(25));
      ASSERT_EQ(c.DayOf(start), c.DayOf(t));
      ASSERT_EQ(c.DayNumberOf(next), c.DayNumberOf(t) + 1);
      ASSERT_EQ(QuotaClock::DayName(c.DayNumberOf(t)), c.DayOf(t));
    }
  }
}

}  // namespace
}  // namespace gkm
