// Internal to translate/: what the whole-answer and the streaming chat translators share —
// reading usage, mapping finish reasons, tool calls and logprobs. See chat_response.h for
// the rules.
#pragma once

#include <boost/json.hpp>
#include <string>
#include <string_view>
#include <vector>

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
// The same from the candidate's logprobsResult (nullptr: none).
json::value LogprobsOf(const json::value* logprobs_result);

// OpenAI url_citation annotations ({"type":"url_citation","url_citation":{url, title,
// start_index, end_index}}) from a candidate's groundingMetadata; `text` is the choice's
// content. A grounding support's segment (Gemini: byte offsets into part partIndex)
// gives the indices, in code points of `text`, one annotation per cited chunk; a chunk no
// support cites spans the whole text. `part_offsets[i]` is the byte offset in `text` of
// Gemini part i, or -1 when that part is not content (a segment in it is skipped); empty
// (streaming) means offsets are into the whole text. Empty when there is no grounding.
json::array Annotations(const json::value* grounding_metadata, std::string_view text,
                        const std::vector<int64_t>& part_offsets);

// Whether the part is a thought summary.
bool IsThought(const json::object& part);

// Calls f(part) for each object in a Gemini candidate's content.parts; anything not so
// shaped (no content, parts not an array, a part not an object) is skipped.
template <class F>
void ForEachPart(const json::object& candidate, F&& f) {
  const json::value* content = candidate.if_contains("content");
  if (content == nullptr || !content->is_object()) return;
  const json::value* parts = content->get_object().if_contains("parts");
  if (parts == nullptr || !parts->is_array()) return;
  for (const json::value& part : parts->get_array()) {
    if (part.is_object()) f(part.get_object());
  }
}

}  // namespace gkm::translate_internal
