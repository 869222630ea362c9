#include "translate/anthropic_error.h"

#include <boost/json.hpp>

#include "translate/json_util.h"

namespace gkm {
namespace {

namespace json = boost::json;

// Google's message from {"error":{"message":...}} or [{"error":...}]; empty when unreadable.
std::string GeminiMessage(std::string_view body) {
  std::string ignored;
  translate_internal::ScratchJson scratch;
  std::optional<json::value> v = translate_internal::ParseJson(body, &ignored, scratch.storage());
  if (!v) return {};
  const json::value* root = &*v;
  if (root->is_array() && !root->get_array().empty()) root = &root->get_array()[0];
  if (!root->is_object()) return {};
  const json::value* e = root->get_object().if_contains("error");
  if (e == nullptr || !e->is_object()) return {};
  const json::value* m = e->get_object().if_contains("message");
  if (m == nullptr || !m->is_string()) return {};
  return std::string(m->get_string());
}

}  // namespace

std::string_view AnthropicErrorType(int status) {
  switch (status) {
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 408:
      return "timeout_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 503:
    case 529:
      return "overloaded_error";
    default:
      break;
  }
  if (status >= 500) return "api_error";
  return "invalid_request_error";
}

std::string AnthropicErrorBody(int status, std::string_view message, std::string_view request_id) {
  json::object err;
  err["type"] = AnthropicErrorType(status);
  err["message"] = message;
  json::object root;
  root["type"] = "error";
  root["error"] = std::move(err);
  if (!request_id.empty()) root["request_id"] = request_id;
  return json::serialize(root);
}

std::string AnthropicErrorBody(const TranslateError& error, std::string_view request_id) {
  return AnthropicErrorBody(error.status, error.message, request_id);
}

std::string TranslateGeminiErrorToAnthropic(int status, std::string_view gemini_error_body,
                                            std::string_view request_id) {
  std::string message = GeminiMessage(gemini_error_body);
  if (message.empty()) message = "upstream answered HTTP " + std::to_string(status);
  return AnthropicErrorBody(status, message, request_id);
}

}  // namespace gkm
