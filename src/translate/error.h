// OpenAI-shaped errors: what the OpenAI-compatible routes (SPEC 3.4) send when something
// goes wrong, whether the client's request could not be translated or Google refused it.
//
// Every translation function of this module reports failure as a TranslateError value and
// never throws; the caller turns one into a response with OpenAiErrorBody(). Pure and
// thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace gkm {

// Why a translation failed, ready for the client.
struct TranslateError {
  // The HTTP status to answer with: 400 for a request the proxy cannot translate, 502 for
  // an upstream answer it cannot read.
  int status = 400;
  // Names the field first when there is one:
  // "messages[2].content[0].image_url.url: invalid base64 data".
  std::string message;
  // The field's path alone ("messages[2].content[0].image_url.url"), OpenAI's error.param;
  // empty when the problem is not one field's (the body is not JSON, ...).
  std::string param;
};

// {"error":{"message","type","param","code"}}, with type and code chosen by status:
//   400, 413, 422, other 4xx  invalid_request_error  invalid_request / request_too_large /
//                                                    unprocessable_entity
//   401                       authentication_error   invalid_api_key
//   403                       permission_error       permission_denied
//   404                       not_found_error        not_found
//   408                       timeout_error          timeout
//   409                       conflict_error         conflict
//   429                       rate_limit_error       rate_limit_exceeded
//   500, 502, 503, 504, 5xx   api_error              internal_error / bad_gateway /
//                                                    service_unavailable / gateway_timeout
// An empty param is written as null.
std::string OpenAiErrorBody(int status, std::string_view message, std::string_view param = {});
// A 404 whose param is "model" is OpenAI's unknown model: invalid_request_error,
// model_not_found.
std::string OpenAiErrorBody(const TranslateError& error);

// Google's error answer (status and body, `{"error":{"code","message","status",...}}`,
// possibly wrapped in an array as the non-SSE stream sends it) as an OpenAI error body
// carrying Google's message. A body that cannot be read gives a generic message naming the
// status. The status itself is the caller's to forward.
std::string TranslateGeminiError(int status, std::string_view gemini_error_body);

}  // namespace gkm
