// Anthropic Messages response translation: a Gemini `generateContent` answer → an
// Anthropic `message` (WIRE-AGENTS D3, D4), and a `countTokens` answer → count_tokens'.
//
// The message is what the stream's message_start would hold with the whole content, the
// stop_reason and the final usage:
//   {"id","type":"message","role":"assistant","model","content":[...],"stop_reason",
//    "stop_sequence":null,"usage":{input_tokens, output_tokens, cache_creation_input_tokens,
//    cache_read_input_tokens}}
// - content, in the order of the parts of the first candidate: a run of thought parts → one
//   `thinking` block, a run of text parts → one `text` block (never an empty one), each
//   functionCall → a `tool_use` block {id, name, input: the args}, the id a fresh
//   "toolu_<random>" carrying the part's thought signature (translate/thought_signature.h).
//   A thinking block's signature is "gs1.<base64url of the thought part's signature>"
//   ("gs1." alone when it had none); a signature on a text part (or a signature-only part)
//   rides in a thinking block right after that text, with empty thinking and the signature
//   "gs1p.<base64url>" (anthropic_request.h puts each back on its part).
// - stop_reason: any functionCall → tool_use; STOP → end_turn; MAX_TOKENS → max_tokens;
//   SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII, or a blocked prompt (no
//   candidates) → refusal; anything else → end_turn. stop_sequence is always null (Gemini
//   does not say which sequence matched).
// - usage: input_tokens = promptTokenCount − cachedContentTokenCount; cache_read_input_tokens
//   = cachedContentTokenCount; cache_creation_input_tokens = 0; output_tokens = candidates +
//   thoughts.
//
// Pure given its id generator; never throws. An answer that is not a readable JSON object is
// a TranslateError with status 502.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <variant>

#include "translate/chat_response.h"  // GeminiUsage
#include "translate/error.h"

namespace gkm {

// What every answer to one client request shares.
struct AnthropicContext {
  std::string id;     // "msg_..." (the caller's randomness)
  std::string model;  // the model name to report: the one the client asked for
  // Makes a fresh tool_use id, "toolu_" + random characters (the caller's randomness).
  std::function<std::string()> new_tool_use_id;
};

struct AnthropicResponse {
  std::string body;  // the message JSON
  GeminiUsage usage;
};

std::variant<AnthropicResponse, TranslateError> TranslateAnthropicResponse(
    std::string_view gemini_json, const AnthropicContext& ctx);

// {"totalTokens":N} → {"input_tokens":N}.
std::variant<std::string, TranslateError> TranslateAnthropicCountTokensResponse(
    std::string_view gemini_json);

}  // namespace gkm
