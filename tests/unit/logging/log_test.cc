#include "logging/log.h"

#include <gtest/gtest.h>
#include <spdlog/pattern_formatter.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <string>

namespace gkm {
namespace {

std::string Format(spdlog::formatter& f, const spdlog::details::log_msg& msg) {
  spdlog::memory_buf_t out;
  f.format(msg, out);
  return std::string(out.data(), out.size());
}

// The line formatter writes what spdlog's pattern formatter writes for the pattern it
// replaces: every level, times across second, day and year boundaries, in time zones east
// and west of UTC and with half-hour offsets.
TEST(LineFormatter, WritesWhatThePatternWrites) {
  const char* old_tz = std::getenv("TZ");
  std::string saved = old_tz ? old_tz : "";
  using namespace std::chrono;
  const int64_t starts[] = {1798761599, 1798761600, 1764201599, 86399, 1500000000};
  for (const char* tz : {"UTC", "America/Los_Angeles", "Asia/Kolkata", "Pacific/Chatham"}) {
    setenv("TZ", tz, 1);
    tzset();
    auto ours = MakeLineFormatter();
    int lines = 0;
    for (int64_t start : starts) {
      // spdlog keeps the UTC offset for 10 s of message time and does not notice time going
      // backwards: a fresh one for each start.
      spdlog::pattern_formatter theirs("%Y-%m-%dT%H:%M:%S.%e%z %l %v");
      for (int64_t ms : {0, 1, 999, 1000, 1001, 59999, 60000, 3599999}) {
        for (auto level : {spdlog::level::info, spdlog::level::warn, spdlog::level::err,
                           spdlog::level::debug, spdlog::level::trace}) {
          spdlog::details::log_msg msg(system_clock::time_point(milliseconds(start * 1000 + ms)),
                                       spdlog::source_loc{}, "gkm", level,
                                       "req=1 POST /v1beta/models/m:generateContent status=200");
          EXPECT_EQ(Format(*ours, msg), Format(theirs, msg)) << tz << " " << start << "+" << ms;
          ++lines;
        }
      }
    }
    EXPECT_EQ(lines, 200);
  }
  if (old_tz) {
    setenv("TZ", saved.c_str(), 1);
  } else {
    unsetenv("TZ");
  }
  tzset();
}

}  // namespace
}  // namespace gkm
