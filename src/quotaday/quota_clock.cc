#include "quotaday/quota_clock.h"

#include <date/tz.h>

#include <cstdio>
#include <exception>

namespace gkm {

std::optional<QuotaClock> QuotaClock::Make(std::string_view tz_name,
                                           std::chrono::seconds reset_time, std::string* error) {
  if (reset_time < std::chrono::seconds(0) || reset_time >= std::chrono::hours(24)) {
    if (error != nullptr) *error = "reset time must be within [00:00, 24:00)";
    return std::nullopt;
  }
  try {
    // The zone objects live in the process-wide tzdb for the rest of the program.
    return QuotaClock(date::locate_zone(std::string(tz_name)), reset_time);
  } catch (const std::exception&) {
    if (error != nullptr) *error = "unknown time zone '" + std::string(tz_name) + "'";
    return std::nullopt;
  }
}

TimePoint QuotaClock::StartOfDayNumber(int32_t day_number) const {
  const date::local_seconds local{date::days(day_number) + reset_time_};
  const date::local_info info = zone_->get_info(local);
  date::sys_seconds start;
  switch (info.result) {
    case date::local_info::nonexistent:
      // The reset time falls in a spring-forward gap: the day starts when the gap ends.
      start = info.second.begin;
      break;
    case date::local_info::unique:
    case date::local_info::ambiguous:
      // For an ambiguous time `first` is the offset before the transition: the earlier instant.
      start = date::sys_seconds{local.time_since_epoch() - info.first.offset};
      break;
  }
  return std::chrono::time_point_cast<Millis>(start);
}

int32_t QuotaClock::DayNumberOf(TimePoint t) const {
  // The local calendar gives the answer except around a DST change, where a day's start can
  // be an hour off the naive local arithmetic; the reset instants themselves settle it. The
  // day is the latest one whose reset instant is at or before t.
  const auto local = zone_->to_local(t);
  auto day = static_cast<int32_t>(
      std::chrono::floor<date::days>(local - reset_time_).time_since_epoch().count());
  while (StartOfDayNumber(day + 1) <= t) ++day;
  while (StartOfDayNumber(day) > t) --day;
  return day;
}

std::string QuotaClock::DayName(int32_t day_number) {
  const date::year_month_day ymd{date::sys_days{date::days{day_number}}};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

std::string QuotaClock::DayOf(TimePoint t) const { return DayName(DayNumberOf(t)); }

TimePoint QuotaClock::DayStart(TimePoint t) const { return StartOfDayNumber(DayNumberOf(t)); }

TimePoint QuotaClock::NextReset(TimePoint t) const {
  // DayNumberOf picks the latest day starting at or before t, so the next one starts after t.
  return StartOfDayNumber(DayNumberOf(t) + 1);
}

}  // namespace gkm
