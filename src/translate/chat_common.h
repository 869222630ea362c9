// Internal to translate/: what the whole-answer and the streaming chat translators share —
// reading usage, mapping finish reasons, tool calls and logprobs. See chat_response.h for
// the rules.
#pragma once

#include <boost/json.hpp>
#include <string>
#include <string_view>

#include "translate/chat_response.h"

namespace gkm::translate_internal {

namespace json = boost::json;

GeminiUsage ReadUsage(const json::object& response);
json::object OpenAiUsage(const GeminiUsage& u);

// "stop", "length" or "content_filter" for a Gemini finishReason (tool_calls is decided by
// the parts, not here).
std::string_view MapFinishReason(std::string_view gemini_reason);

// One OpenAI tool call (without `index`) from a functionCall part; calls the context's
// id generator and signature store.
json::object ToolCall(const json::object& part, const ResponseContext& ctx);

// OpenAI logprobs {"content":[...]} from a candidate's logprobsResult; null if none.
json::value Logprobs(const json::object& candidate);

// Whether the part is a thought summary.
bool IsThought(const json::object& part);

}  // namespace gkm::translate_internal
