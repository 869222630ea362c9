// Time types shared by every part. The pure core never reads the wall clock: callers
// pass `now` in, so that tests can set it.
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>

namespace gkm {

using Clock = std::chrono::system_clock;
using TimePoint = std::chrono::time_point<Clock, std::chrono::milliseconds>;
using Millis = std::chrono::milliseconds;

// The wall clock to the millisecond, read from the kernel's coarse clock (a few ms of
// resolution, a fraction of the cost): key states need no finer time.
inline TimePoint NowMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return TimePoint(Millis(int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000));
}
inline int64_t ToUnixMs(TimePoint t) { return t.time_since_epoch().count(); }
inline TimePoint FromUnixMs(int64_t ms) { return TimePoint(Millis(ms)); }

}  // namespace gkm
