// QuotaClock: which quota day an instant belongs to, and when the next one starts.
//
// Gemini's daily quotas reset at midnight in America/Los_Angeles. The proxy lets the
// operator choose the zone (--reset-timezone) and the local time of the reset
// (--reset-time). A quota day is named by the local calendar date on which it starts.
// Pure and immutable: safe to share between threads; never reads the wall clock.
//
// DST: the reset instant of day D is the local time (D, reset_time) in the zone. When that
// local time does not exist (it falls in a spring-forward gap) the day starts at the first
// instant after the gap; when it exists twice (fall-back), the day starts at the first.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/time.h"

namespace date {
class time_zone;
}

namespace gkm {

class QuotaClock {
 public:
  // Returns nullopt and sets *error on an unknown zone or an offset outside [0, 24h).
  static std::optional<QuotaClock> Make(std::string_view tz_name, std::chrono::seconds reset_time,
                                        std::string* error);

  // "YYYY-MM-DD": the quota day that contains t.
  std::string DayOf(TimePoint t) const;
  // The same day as a day count since 1970-01-01 (cheap to compare and store).
  int32_t DayNumberOf(TimePoint t) const;
  // "YYYY-MM-DD" for a day number.
  static std::string DayName(int32_t day_number);
  // The reset instant that starts the quota day containing t.
  TimePoint DayStart(TimePoint t) const;
  // The first reset instant strictly after t.
  TimePoint NextReset(TimePoint t) const;

 private:
  QuotaClock(const date::time_zone* zone, std::chrono::seconds reset_time)
      : zone_(zone), reset_time_(reset_time) {}
  // The reset instant of the day with this number.
  TimePoint StartOfDayNumber(int32_t day_number) const;

  const date::time_zone* zone_;
  std::chrono::seconds reset_time_;
};

}  // namespace gkm
