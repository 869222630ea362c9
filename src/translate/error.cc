#include "translate/error.h"

#include <boost/json.hpp>

#include "translate/json_util.h"

namespace gkm {
namespace {

namespace json = boost::json;
using translate_internal::ParseJson;

struct Kind {
  const char* type;
  const char* code;
};

Kind KindOf(int status) {
  switch (status) {
    case 400:
      return {"invalid_request_error", "invalid_request"};
    case 401:
      return {"authentication_error", "invalid_api_key"};
    case 403:
      return {"permission_error", "permission_denied"};
    case 404:
      return {"not_found_error", "not_found"};
    case 408:
      return {"timeout_error", "timeout"};
    case 409:
      return {"conflict_error", "conflict"};
    case 413:
      return {"invalid_request_error", "request_too_large"};
    case 422:
      return {"invalid_request_error", "unprocessable_entity"};
    case 429:
      return {"rate_limit_error", "rate_limit_exceeded"};
    case 500:
      return {"api_error", "internal_error"};
    case 502:
      return {"api_error", "bad_gateway"};
    case 503:
      return {"api_error", "service_unavailable"};
    case 504:
      return {"api_error", "gateway_timeout"};
    default:
      break;
  }
  if (status >= 500) return {"api_error", "internal_error"};
  return {"invalid_request_error", "invalid_request"};
}

}  // namespace

std::string OpenAiErrorBody(int status, std::string_view message, std::string_view param) {
  const Kind kind = KindOf(status);
  json::object err;
  err["message"] = message;
  err["type"] = kind.type;
  if (param.empty()) {
    err["param"] = nullptr;
  } else {
    err["param"] = param;
  }
  err["code"] = kind.code;
  json::object root;
  root["error"] = std::move(err);
  return json::serialize(root);
}

std::string OpenAiErrorBody(const TranslateError& error) {
  if (error.status == 404 && error.param == "model") {
    json::object err;
    err["message"] = error.message;
    err["type"] = "invalid_request_error";
    err["param"] = "model";
    err["code"] = "model_not_found";
    json::object root;
    root["error"] = std::move(err);
    return json::serialize(root);
  }
  return OpenAiErrorBody(error.status, error.message, error.param);
}

std::string TranslateGeminiError(int status, std::string_view gemini_error_body) {
  std::string message;
  std::string ignored;
  if (auto v = ParseJson(gemini_error_body, &ignored)) {
    const json::value* root = &*v;
    if (root->is_array() && !root->get_array().empty()) root = &root->get_array()[0];
    if (root->is_object()) {
      const json::value* e = root->get_object().if_contains("error");
      if (e != nullptr && e->is_object()) {
        const json::value* m = e->get_object().if_contains("message");
        if (m != nullptr && m->is_string()) message = m->get_string();
      }
    }
  }
  if (message.empty()) message = "upstream answered HTTP " + std::to_string(status);
  return OpenAiErrorBody(status, message);
}

}  // namespace gkm
