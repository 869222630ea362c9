// Time types shared by every part. The pure core never reads the wall clock: callers
// pass `now` in, so that tests can set it.
#pragma once

#include <chrono>
#include <cstdint>

namespace gkm {

using Clock = std::chrono::system_clock;
using TimePoint = std::chrono::time_point<Clock, std::chrono::milliseconds>;
using Millis = std::chrono::milliseconds;

inline TimePoint NowMs() { return std::chrono::time_point_cast<Millis>(Clock::now()); }
inline int64_t ToUnixMs(TimePoint t) { return t.time_since_epoch().count(); }
inline TimePoint FromUnixMs(int64_t ms) { return TimePoint(Millis(ms)); }

}  // namespace gkm
