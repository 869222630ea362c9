// Chat response translation: a Gemini `generateContent` answer → an OpenAI
// `chat.completion` (WIRE.md part C).
//
// One choice per candidate (n), in candidate order, index from the candidate. Per choice:
// - content: the text parts joined; null when there is no text and the choice ends in tool
//   calls or a content filter, "" otherwise.
// - reasoning_content: the thought parts (`thought: true`) joined, only when there are any.
// - tool_calls: one per functionCall part, id from the part's `id` if Gemini gave one, else
//   a fresh one from ResponseContext::new_tool_call_id ("call_<random>"); `arguments` is the
//   args object serialized. A part with a thoughtSignature puts it on the tool call as
//   extra_content.google.thought_signature (what Google's own OpenAI layer does, so clients
//   that echo tool calls back carry it) and hands it to ResponseContext::remember_signature
//   (for clients that drop unknown fields; chat_request.h's SignatureLookup reads it back).
// - finish_reason: any functionCall → tool_calls; STOP → stop; MAX_TOKENS → length;
//   SAFETY, RECITATION, LANGUAGE, OTHER, BLOCKLIST, PROHIBITED_CONTENT, SPII, IMAGE_* →
//   content_filter; anything else (MALFORMED_FUNCTION_CALL, UNEXPECTED_TOOL_CALL,
//   TOO_MANY_TOOL_CALLS, NO_IMAGE, unspecified, missing) → stop.
// - logprobs: from logprobsResult, best effort: chosenCandidates[i] → content[i]
//   {token, logprob, bytes (the token's UTF-8 bytes), top_logprobs from topCandidates[i]};
//   null when Gemini sent none.
// - annotations: search grounding (groundingMetadata) as url_citation annotations, see
//   Annotations() in chat_common.h; absent when the candidate has none.
// A blocked prompt (no candidates) is one choice with content null and finish_reason
// content_filter. usage: prompt_tokens = promptTokenCount; completion_tokens =
// candidates + thoughts + toolUsePrompt; total_tokens = totalTokenCount (or the sum when
// absent); completion_tokens_details.reasoning_tokens = thoughts;
// prompt_tokens_details.cached_tokens = cachedContentTokenCount when present.
//
// Pure given its callbacks; never throws. An answer that is not a readable JSON object is
// a TranslateError with status 502.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <variant>

#include "translate/error.h"

namespace gkm {

// Makes a fresh tool call id, "call_" + random characters. The randomness is the caller's.
using ToolCallIdGenerator = std::function<std::string()>;
// Remembers the thoughtSignature Gemini attached to the call given this id, so that the
// next turn can carry it back. The caller keeps a bounded cache.
using SignatureStore =
    std::function<void(std::string_view tool_call_id, std::string_view thought_signature)>;

// What every answer to one client request shares.
struct ResponseContext {
  std::string id;       // "chatcmpl-..." (the caller's randomness)
  int64_t created = 0;  // unix seconds (the caller's clock)
  std::string model;    // the model name to report, usually the one the client asked for
  ToolCallIdGenerator new_tool_call_id;  // required when the answer may hold tool calls
  SignatureStore remember_signature;     // may be empty
};

// Gemini's usageMetadata, for the caller's accounting (SPEC 5). Zeros when absent.
struct GeminiUsage {
  bool present = false;
  int64_t prompt_tokens = 0;           // promptTokenCount
  int64_t candidates_tokens = 0;       // candidatesTokenCount
  int64_t thoughts_tokens = 0;         // thoughtsTokenCount
  int64_t tool_use_prompt_tokens = 0;  // toolUsePromptTokenCount
  int64_t cached_tokens = 0;           // cachedContentTokenCount
  int64_t total_tokens = 0;            // totalTokenCount
};

struct ChatResponse {
  std::string body;  // the chat.completion JSON
  GeminiUsage usage;
};

std::variant<ChatResponse, TranslateError> TranslateChatResponse(std::string_view gemini_json,
                                                                 const ResponseContext& ctx);

}  // namespace gkm
