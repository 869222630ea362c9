#include "verdict/verdict.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace gkm {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(GKM_FIXTURES) + "/verdict/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing fixture " << name;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

struct Case {
  const char* fixture;
  int status;
  Bare429 bare429;
  Outcome outcome;
  const char* reason;
  int64_t delay_ms;
};

class ClassifyFixture : public testing::TestWithParam<Case> {};

TEST_P(ClassifyFixture, GivesTheVerdictOfSpec42) {
  const Case& c = GetParam();
  const Verdict v = Classify(c.status, Fixture(c.fixture), c.bare429);
  EXPECT_EQ(OutcomeName(v.outcome), OutcomeName(c.outcome));
  EXPECT_EQ(v.reason, c.reason);
  EXPECT_EQ(v.retry_delay.count(), c.delay_ms);
}

constexpr Bare429 kDay = Bare429::kDay;
constexpr Bare429 kCool = Bare429::kCooling;

INSTANTIATE_TEST_SUITE_P(
    Bodies, ClassifyFixture,
    testing::Values(
        Case{"bad_key_400.json", 400, kDay, Outcome::kInvalid, "API key invalid", 0},
        Case{"bad_key_expired_400.json", 400, kDay, Outcome::kInvalid, "API key invalid", 0},
        Case{"bad_key_not_found_400.json", 400, kDay, Outcome::kInvalid, "API key invalid", 0},
        Case{"suspended_403.json", 403, kDay, Outcome::kInvalid, "key suspended", 0},
        Case{"suspended_message_only_403.json", 403, kDay, Outcome::kInvalid, "key suspended", 0},
        Case{"denied_403.json", 403, kDay, Outcome::kInvalid, "key denied", 0},
        // No key reached Google: the proxy's request was at fault, not the key.
        Case{"unregistered_403.json", 403, kDay, Outcome::kClientError, "upstream 403", 0},
        Case{"file_permission_403.json", 403, kDay, Outcome::kClientError, "upstream 403", 0},
        Case{"location_400.json", 400, kDay, Outcome::kClientError, "upstream 400", 0},
        Case{"overloaded_503.json", 503, kDay, Outcome::kTransient, "upstream 503", 0},
        Case{"per_day_429.json", 429, kCool, Outcome::kDayExhausted, "per-day quota", 26000},
        Case{"per_day_36s_429.json", 429, kCool, Outcome::kDayExhausted, "per-day quota", 36000},
        Case{"per_minute_429.json", 429, kDay, Outcome::kCooling, "per-minute quota", 26000},
        Case{"input_tokens_429.json", 429, kDay, Outcome::kCooling, "per-minute quota", 12000},
        Case{"day_and_minute_429.json", 429, kCool, Outcome::kDayExhausted, "per-day quota", 4000},
        Case{"reordered_429.json", 429, kDay, Outcome::kCooling, "per-minute quota", 7000},
        Case{"fractional_delay_429.json", 429, kDay, Outcome::kCooling, "per-minute quota", 45837},
        Case{"limit_zero_429.json", 429, kCool, Outcome::kDayExhausted, "quota limit 0", 13000},
        Case{"limit_zero_message_429.json", 429, kCool, Outcome::kDayExhausted, "quota limit 0", 0},
        Case{"bare_429.json", 429, kDay, Outcome::kDayExhausted, "rate limited (no details)", 0},
        Case{"bare_429.json", 429, kCool, Outcome::kCooling, "rate limited (no details)", 0},
        Case{"retry_only_429.json", 429, kDay, Outcome::kCooling, "rate limited", 2500},
        Case{"array_wrapped_429.json", 429, kCool, Outcome::kDayExhausted, "per-day quota", 0},
        Case{"not_json_502.html", 502, kDay, Outcome::kTransient, "upstream 502", 0},
        // Unreadable bodies decide nothing, whatever words they happen to contain.
        Case{"not_json_429.html", 429, kDay, Outcome::kDayExhausted, "rate limited (no details)",
             0},
        Case{"not_json_429.html", 429, kCool, Outcome::kCooling, "rate limited (no details)", 0},
        Case{"truncated_429.json", 429, kCool, Outcome::kCooling, "rate limited (no details)", 0},
        Case{"truncated_400.json", 400, kDay, Outcome::kClientError, "upstream 400", 0}),
    [](const testing::TestParamInfo<Case>& info) {
      std::string name = info.param.fixture;
      name =
          name.substr(0, name.find('.')) + (info.param.bare429 == kDay ? "_bareday" : "_barecool");
      return name;
    });

// A 429 whose RetryInfo delay is the only variable part.
std::string RetryOnly(const std::string& delay_json) {
  return R"({"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[)"
         R"({"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":)" +
         delay_json + "}]}}";
}

TEST(Classify, RetryDelayIsReadToTheMillisecondAndGarbageIsZero) {
  struct {
    const char* json;
    int64_t ms;
  } cases[] = {
      {R"("26s")", 26000},
      {R"("0s")", 0},
      {R"("45.837906927s")", 45837},
      {R"("1.5s")", 1500},
      {R"("0.0009s")", 0},
      {R"("3")", 3000},
      {R"("-3s")", 0},
      {R"("abc")", 0},
      {R"("")", 0},
      {R"("12x")", 0},
      {R"("s")", 0},
      {R"(".5s")", 500},
      {"17", 0},
      {"null", 0},
      {R"({"seconds":"9","nanos":250000000})", 9250},
      {R"("99999999999999999999999s")", (int64_t{1} << 32) * 1000 /* capped */},
  };
  for (const auto& c : cases) {
    const Verdict v = Classify(429, RetryOnly(c.json), Bare429::kDay);
    EXPECT_EQ(v.outcome, Outcome::kCooling) << c.json;
    EXPECT_EQ(v.retry_delay.count(), c.ms) << c.json;
  }
}

TEST(Classify, StatusAloneDecidesWithoutABody) {
  struct {
    int status;
    Outcome outcome;
  } cases[] = {
      {200, Outcome::kSuccess},     {204, Outcome::kSuccess},     {301, Outcome::kSuccess},
      {304, Outcome::kSuccess},     {400, Outcome::kClientError}, {401, Outcome::kClientError},
      {403, Outcome::kClientError}, {404, Outcome::kClientError}, {413, Outcome::kClientError},
      {500, Outcome::kTransient},   {502, Outcome::kTransient},   {503, Outcome::kTransient},
      {504, Outcome::kTransient},   {507, Outcome::kTransient},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(Classify(c.status, "", Bare429::kDay).outcome, c.outcome) << c.status;
  }
  EXPECT_EQ(Classify(429, "", Bare429::kDay).outcome, Outcome::kDayExhausted);
  EXPECT_EQ(Classify(429, "", Bare429::kCooling).outcome, Outcome::kCooling);
  EXPECT_EQ(Classify(500, "", Bare429::kDay).reason, "upstream 500");
}

TEST(Classify, SuccessIgnoresTheBody) {
  EXPECT_EQ(Classify(200, Fixture("per_day_429.json"), Bare429::kDay).outcome, Outcome::kSuccess);
}

TEST(Classify, OnlyA400WithTheReasonIsABadKey) {
  // The text alone does not decide (WIRE A1: classify by reason).
  EXPECT_EQ(Classify(400, R"({"error":{"code":400,"message":"API key not valid."}})", Bare429::kDay)
                .outcome,
            Outcome::kClientError);
  // A 404 with the reason is still the request's fault: the rule is about 400.
  EXPECT_EQ(Classify(404, Fixture("bad_key_400.json"), Bare429::kDay).outcome,
            Outcome::kClientError);
}

TEST(Classify, Forbidden403ReasonsMarkTheKeyInvalid) {
  for (const char* reason :
       {"CONSUMER_SUSPENDED", "API_KEY_SERVICE_BLOCKED", "SERVICE_DISABLED", "API_KEY_INVALID"}) {
    const std::string body = std::string(R"({"error":{"code":403,"status":"PERMISSION_DENIED",)") +
                             R"("message":"Permission denied.","details":[{"reason":")" + reason +
                             R"("}]}})";
    EXPECT_EQ(Classify(403, body, Bare429::kDay).outcome, Outcome::kInvalid) << reason;
  }
}

TEST(Classify, LimitZeroInTheMessageIsNotLimitTen) {
  auto body = [](const std::string& msg) {
    return R"({"error":{"code":429,"message":")" + msg + R"("}})";
  };
  EXPECT_EQ(Classify(429, body("limit: 0, model: x"), Bare429::kCooling).reason, "quota limit 0");
  EXPECT_EQ(Classify(429, body("ends with limit: 0"), Bare429::kCooling).reason, "quota limit 0");
  EXPECT_EQ(Classify(429, body("limit: 05, model: x"), Bare429::kCooling).outcome,
            Outcome::kCooling);
  EXPECT_EQ(Classify(429, body("limit: 0.5, model: x"), Bare429::kCooling).outcome,
            Outcome::kCooling);
}

TEST(Classify, OddOrBrokenBodiesNeverThrow) {
  // Deeper than the parser's nesting limit.
  const std::string kDeep = std::string(100, '[') + std::string(100, ']');
  for (const char* body : {"null", "[]", "[1,2]", "{}", R"({"error":null})", R"({"error":[]})",
                           R"({"error":{"details":{}}})", R"({"error":{"details":[1,"x",null]}})",
                           R"({"error":{"details":[{"violations":[1,{"quotaId":5}]}]}})",
                           kDeep.c_str(), "\xff\xfe{", ""}) {
    EXPECT_NO_THROW({
      const Verdict v = Classify(429, body, Bare429::kCooling);
      EXPECT_EQ(v.outcome, Outcome::kCooling) << body;
    });
  }
}

TEST(TransportFailure, IsTransientWithItsReason) {
  const Verdict v = TransportFailure("connection reset");
  EXPECT_EQ(v.outcome, Outcome::kTransient);
  EXPECT_EQ(v.reason, "connection reset");
  EXPECT_EQ(v.retry_delay.count(), 0);
}

TEST(OutcomeName, LabelsForMetrics) {
  EXPECT_EQ(OutcomeName(Outcome::kSuccess), "success");
  EXPECT_EQ(OutcomeName(Outcome::kDayExhausted), "day_exhausted");
  EXPECT_EQ(OutcomeName(Outcome::kCooling), "cooling");
  EXPECT_EQ(OutcomeName(Outcome::kInvalid), "invalid");
  EXPECT_EQ(OutcomeName(Outcome::kTransient), "transient");
  EXPECT_EQ(OutcomeName(Outcome::kClientError), "client_error");
}

// 2026-01-01T00:00:00Z
const TimePoint kMinute = FromUnixMs(1767225600000);

TEST(CoolingUntil, WaitsForTheNextMinuteBoundary) {
  EXPECT_EQ(CoolingUntil(kMinute + seconds(20), Millis(0)), kMinute + minutes(1));
  EXPECT_EQ(CoolingUntil(kMinute + seconds(20), Millis(26000)), kMinute + minutes(1));
}

TEST(CoolingUntil, ALongerDelayWins) {
  EXPECT_EQ(CoolingUntil(kMinute + seconds(20), Millis(45837)), kMinute + Millis(65837));
}

TEST(CoolingUntil, ExactlyOnABoundaryMeansTheNextOne) {
  EXPECT_EQ(CoolingUntil(kMinute, Millis(0)), kMinute + minutes(1));
}

TEST(CoolingUntil, AtLeastOneSecond) {
  EXPECT_EQ(CoolingUntil(kMinute + Millis(59500), Millis(0)), kMinute + Millis(60500));
  EXPECT_EQ(CoolingUntil(kMinute + Millis(59999), Millis(-5000)), kMinute + Millis(60999));
}

}  // namespace
}  // namespace gkm
