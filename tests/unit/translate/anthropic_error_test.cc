#include "translate/anthropic_error.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "fixture_util.h"

namespace gkm {
namespace {

namespace json = boost::json;
using testing_util::JsonTextEq;

TEST(AnthropicError, TypeFollowsTheStatusAsWireAgentsD6Says) {
  const struct {
    int status;
    const char* type;
  } cases[] = {{400, "invalid_request_error"},
               {401, "authentication_error"},
               {403, "permission_error"},
               {404, "not_found_error"},
               {408, "timeout_error"},
               {413, "request_too_large"},
               {422, "invalid_request_error"},
               {429, "rate_limit_error"},
               {500, "api_error"},
               {502, "api_error"},
               {503, "overloaded_error"},
               {504, "api_error"},
               {529, "overloaded_error"},
               {418, "invalid_request_error"}};
  for (const auto& c : cases) EXPECT_EQ(AnthropicErrorType(c.status), c.type) << c.status;
}

TEST(AnthropicError, BodyHasAnthropicsShape) {
  EXPECT_TRUE(JsonTextEq(AnthropicErrorBody(404, "no such model"), json::parse(R"(
      {"type":"error","error":{"type":"not_found_error","message":"no such model"}})")));
  EXPECT_TRUE(
      JsonTextEq(AnthropicErrorBody(TranslateError{400, "model: required", "model"}, "req_1"),
                 json::parse(R"({"type":"error","error":{"type":"invalid_request_error",
                             "message":"model: required"},"request_id":"req_1"})")));
}

TEST(AnthropicError, GoogleErrorsCarryGooglesMessage) {
  const char* google = R"({
  "error": {
    "code": 400,
    "message": "Unable to submit request because function call `Read` in the 2. content block is missing a `thought_signature`.",
    "status": "INVALID_ARGUMENT"
  }
})";
  EXPECT_TRUE(JsonTextEq(TranslateGeminiErrorToAnthropic(400, google), json::parse(R"(
      {"type":"error","error":{"type":"invalid_request_error","message":
      "Unable to submit request because function call `Read` in the 2. content block is missing a `thought_signature`."}})")));
  EXPECT_TRUE(JsonTextEq(
      TranslateGeminiErrorToAnthropic(
          404, R"([{"error":{"code":404,"message":"models/x is not found"}}])"),
      json::parse(
          R"({"type":"error","error":{"type":"not_found_error","message":"models/x is not found"}})")));
  EXPECT_TRUE(JsonTextEq(TranslateGeminiErrorToAnthropic(500, "<html>"), json::parse(R"(
      {"type":"error","error":{"type":"api_error","message":"upstream answered HTTP 500"}})")));
}

}  // namespace
}  // namespace gkm
