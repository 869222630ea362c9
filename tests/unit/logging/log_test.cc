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

std::string Json(std::string_view s) {
  spdlog::memory_buf_t out;
  AppendJsonString(out, s);
  return std::string(out.data(), out.size());
}

TEST(AppendJsonString, EscapesWhatJsonRequires) {
  EXPECT_EQ(Json(""), R"("")");
  EXPECT_EQ(Json("plain text /v1beta/models/m:generateContent"),
            R"("plain text /v1beta/models/m:generateContent")");
  EXPECT_EQ(Json(R"(say "hi" \ bye)"), R"("say \"hi\" \\ bye")");
  EXPECT_EQ(Json("a\nb\rc\td"), R"("a\nb\rc\td")");
  EXPECT_EQ(Json(std::string_view("\0\x01\x1f\x7f", 4)), "\"\\u0000\\u0001\\u001f\x7f\"");
  EXPECT_EQ(Json("\x1b[31mred"), R"("\u001b[31mred")");
}

TEST(AppendJsonString, KeepsUtf8AndEscapesBytesThatAreNot) {
  // Two, three and four byte sequences pass as they are.
  EXPECT_EQ(Json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  // A lone continuation byte, a cut sequence, an overlong '/', a surrogate, beyond U+10FFFF.
  EXPECT_EQ(Json("\x80"), R"("\u0080")");
  EXPECT_EQ(Json("a\xc3"), R"("a\u00c3")");
  EXPECT_EQ(Json("\xe2\x82x"), R"("\u00e2\u0082x")");
  EXPECT_EQ(Json("\xc0\xaf"), R"("\u00c0\u00af")");
  EXPECT_EQ(Json("\xed\xa0\x80"), R"("\u00ed\u00a0\u0080")");
  EXPECT_EQ(Json("\xf4\x90\x80\x80"), R"("\u00f4\u0090\u0080\u0080")");
  EXPECT_EQ(Json("\xff"), R"("\u00ff")");
}

// The json line: the text line's time and level, then the text as "msg", or the members
// LogFields gave.
TEST(LineFormatter, JsonLinesCarryTimeLevelAndMessage) {
  const char* old_tz = std::getenv("TZ");
  std::string saved = old_tz ? old_tz : "";
  setenv("TZ", "Asia/Kolkata", 1);
  tzset();
  using namespace std::chrono;
  const system_clock::time_point t(milliseconds(1798761600123));
  auto json = MakeLineFormatter(true);
  spdlog::details::log_msg text(t, spdlog::source_loc{}, "gkm", spdlog::level::warn,
                                "keys.txt: line 3: \"x\" is a duplicate");
  EXPECT_EQ(Format(*json, text), R"({"ts":"2027-01-01T05:30:00.123+05:30","level":"warning",)"
                                 R"("msg":"keys.txt: line 3: \"x\" is a duplicate"})"
                                 "\n");
  spdlog::details::log_msg fields(t, spdlog::source_loc{}, "gkm.fields", spdlog::level::info,
                                  R"("msg":"request","id":7)");
  EXPECT_EQ(Format(*json, fields),
            R"({"ts":"2027-01-01T05:30:00.123+05:30","level":"info","msg":"request","id":7})"
            "\n");
  // The text formatter is unchanged by it.
  EXPECT_EQ(Format(*MakeLineFormatter(), text),
            "2027-01-01T05:30:00.123+05:30 warning keys.txt: line 3: \"x\" is a duplicate\n");
  // JsonLine: the same object, at the present time.
  std::string line = JsonLine(spdlog::level::info, R"("msg":"x")");
  EXPECT_TRUE(line.starts_with(R"({"ts":")")) << line;
  EXPECT_TRUE(line.ends_with(R"(,"level":"info","msg":"x"})"
                             "\n"))
      << line;
  if (old_tz) {
    setenv("TZ", saved.c_str(), 1);
  } else {
    unsetenv("TZ");
  }
  tzset();
}

}  // namespace
}  // namespace gkm
