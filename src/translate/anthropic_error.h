// Anthropic-shaped errors (WIRE-AGENTS D6): what the Anthropic Messages routes (SPEC 3.6)
// send when something goes wrong, whether the client's request could not be translated,
// Google refused it, or no key can serve it.
//
// The body is {"type":"error","error":{"type","message"}} (plus "request_id" when one is
// given); the error type follows the HTTP status as Anthropic's API uses it, which is what
// the SDKs turn into their exception classes. Pure and thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "translate/error.h"

namespace gkm {

// The Anthropic error type for an HTTP status:
//   400, 422, other 4xx  invalid_request_error     401  authentication_error
//   403                  permission_error          404  not_found_error
//   408                  timeout_error             413  request_too_large
//   429                  rate_limit_error          503, 529  overloaded_error
//   500, 502, 504, other 5xx  api_error
// (503 is the proxy's "no key can serve now": Anthropic's overloaded_error is the type
// clients treat as "come back later".)
std::string_view AnthropicErrorType(int status);

std::string AnthropicErrorBody(int status, std::string_view message,
                               std::string_view request_id = {});
std::string AnthropicErrorBody(const TranslateError& error, std::string_view request_id = {});

// Google's error answer (status and body, possibly wrapped in an array as the non-SSE stream
// sends it) as an Anthropic error body carrying Google's message; a body that cannot be read
// gives a message naming the status. The status itself is the caller's to forward.
std::string TranslateGeminiErrorToAnthropic(int status, std::string_view gemini_error_body,
                                            std::string_view request_id = {});

}  // namespace gkm
