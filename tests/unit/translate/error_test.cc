#include "translate/error.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "fixture_util.h"

namespace gkm {
namespace {

namespace json = boost::json;
using testing_util::JsonTextEq;

struct Shape {
  int status;
  const char* type;
  const char* code;
};

class ErrorShapes : public testing::TestWithParam<Shape> {};

TEST_P(ErrorShapes, TypeAndCodeFollowTheStatus) {
  const Shape& s = GetParam();
  json::object want;
  want["message"] = "m";
  want["type"] = s.type;
  want["param"] = nullptr;
  want["code"] = s.code;
  EXPECT_TRUE(JsonTextEq(OpenAiErrorBody(s.status, "m"), json::object{{"error", want}}));
}

INSTANTIATE_TEST_SUITE_P(Statuses, ErrorShapes,
                         testing::Values(Shape{400, "invalid_request_error", "invalid_request"},
                                         Shape{401, "authentication_error", "invalid_api_key"},
                                         Shape{403, "permission_error", "permission_denied"},
                                         Shape{404, "not_found_error", "not_found"},
                                         Shape{408, "timeout_error", "timeout"},
                                         Shape{409, "conflict_error", "conflict"},
                                         Shape{413, "invalid_request_error", "request_too_large"},
                                         Shape{422, "invalid_request_error",
                                               "unprocessable_entity"},
                                         Shape{418, "invalid_request_error", "invalid_request"},
                                         Shape{429, "rate_limit_error", "rate_limit_exceeded"},
                                         Shape{500, "api_error", "internal_error"},
                                         Shape{502, "api_error", "bad_gateway"},
                                         Shape{503, "api_error", "service_unavailable"},
                                         Shape{504, "api_error", "gateway_timeout"},
                                         Shape{599, "api_error", "internal_error"}));

TEST(OpenAiError, ParamNamesTheField) {
  EXPECT_TRUE(JsonTextEq(
      OpenAiErrorBody(TranslateError{400, "stop: at most 5 stop sequences, got 6", "stop"}),
      json::parse(R"({"error":{"message":"stop: at most 5 stop sequences, got 6",
          "type":"invalid_request_error","param":"stop","code":"invalid_request"}})")));
}

TEST(GeminiError, CarriesGooglesMessage) {
  const std::string body = R"({
  "error": {
    "code": 400,
    "message": "* GenerateContentRequest.contents: contents is not specified\n",
    "status": "INVALID_ARGUMENT"
  }
})";
  EXPECT_TRUE(JsonTextEq(TranslateGeminiError(400, body), json::parse(R"({"error":{
      "message":"* GenerateContentRequest.contents: contents is not specified\n",
      "type":"invalid_request_error","param":null,"code":"invalid_request"}})")));
}

TEST(GeminiError, ArrayWrappedAndUnreadableBodies) {
  EXPECT_NE(TranslateGeminiError(429, R"([{"error":{"code":429,"message":"quota"}}])")
                .find(R"("message":"quota")"),
            std::string::npos);
  EXPECT_TRUE(JsonTextEq(TranslateGeminiError(502, "<html>Bad Gateway</html>"),
                         json::parse(R"({"error":{"message":"upstream answered HTTP 502",
                             "type":"api_error","param":null,"code":"bad_gateway"}})")));
}

}  // namespace
}  // namespace gkm
