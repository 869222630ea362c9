// Anthropic Messages request translation: a `POST /v1/messages` body → a Gemini
// `generateContent` body, and a `POST /v1/messages/count_tokens` body → a `countTokens`
// body (WIRE-AGENTS D2, D4).
//
// Pure: no I/O, no clock, no randomness; never throws and never crashes on any input
// (fuzz/anthropic_request_fuzz.cc). A request it cannot translate is a TranslateError whose
// message starts with the path of the field at fault ("messages[2].content[0].source.type:
// ..."): 400, or 404 for a model name that cannot be a Gemini model.
//
// The mapping (D2):
// - `system` (a string or text blocks) → systemInstruction, one part per block, empty ones
//   dropped; the per-request block Claude Code sends (`x-anthropic-billing-header: ...`) is
//   dropped too: it changes with every request and would defeat Gemini's prefix cache.
// - messages: user → user, assistant → model, system (newer SDKs) → user text; consecutive
//   contents of one role are merged. A string content is one text block.
// - Blocks: text → {text} (empty dropped); image / document with a base64 source →
//   inlineData; a text document → text; url or file sources → 400 naming the field;
//   tool_use → functionCall{name, args: input} with the thought signature carried in its id
//   (translate/thought_signature.h); tool_result → functionResponse{name found through
//   tool_use_id, response: {"output": text} or {"error": text} when is_error}; the results of
//   one user message come first in that content, ordered as their calls were, then its other
//   blocks. Images inside a tool result are not forwarded (a note says how many).
// - thinking blocks this proxy made carry a signature "gs1.<base64url>" (the signature of
//   the thought part the block stands for: sent back as {text, thought: true,
//   thoughtSignature}) or "gs1p.<base64url>" (the signature of the part just before the
//   block, typically a text part: put back on that part). Any other signature is another
//   provider's: the block is dropped, as are redacted_thinking and server tool blocks.
// - In the current turn (the contents after the last user text, the part Gemini 3
//   validates), a model content whose first functionCall has no signature gets Google's
//   bypass value kSkipThoughtSignature, so that a client that lost ids still gets an answer.
// - tools: custom tools (no `type`, or "custom") → one functionDeclarations list with
//   input_schema as parametersJsonSchema, unchanged; cache_control, strict and
//   input_examples dropped. Server tools (web_search_..., bash_..., any other `type`) are
//   dropped (googleSearch cannot be combined with function declarations).
// - tool_choice auto/any/none/tool → AUTO/ANY/NONE/ANY + allowedFunctionNames (sent only
//   when there are declarations); disable_parallel_tool_use ignored.
// - max_tokens → maxOutputTokens (at most kMaxOutputTokens), stop_sequences (at most 5) →
//   stopSequences, temperature, top_p → topP, top_k → topK.
// - thinking: enabled{budget_tokens} → includeThoughts + thinkingBudget (at most 24576 for
//   gemini-2.5-flash*, 32768 otherwise); adaptive → includeThoughts and, for gemini-3*,
//   thinkingLevel from output_config.effort (low, medium, high, max = high; medium is high
//   on gemini-3-pro*, which knows only low and high), else thinkingBudget -1 (dynamic);
//   disabled → thinkingBudget 0 where a model allows it (gemini-2.5-flash*), else nothing.
//   output_config.effort without thinking sets thinkingLevel on gemini-3*. Never a level
//   and a budget together (Gemini refuses that).
// - output_config.format (or the older output_format) json_schema → responseMimeType
//   application/json + responseJsonSchema.
// - metadata, cache_control, service_tier, container, context_management, mcp_servers and
//   unknown fields are ignored.
// - Bounds: UTF-8 only, nesting at most 64 deep, at most 10,000 items in any array.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "common/model_aliases.h"
#include "translate/error.h"

namespace gkm {

// The largest maxOutputTokens sent (Gemini's largest output limit; a larger value is a 400).
inline constexpr int64_t kMaxOutputTokens = 65536;

// Prefixes of the thinking-block signatures this proxy issues (see above).
inline constexpr std::string_view kOwnThinkingPrefix = "gs1.";
inline constexpr std::string_view kPreviousPartPrefix = "gs1p.";

struct AnthropicRequest {
  std::string model;         // the Gemini model, without "models/"
  std::string client_model;  // as the client named it, "models/" dropped (for the answer)
  bool stream = false;       // use :streamGenerateContent?alt=sse
  std::string body;          // the generateContent (or countTokens) JSON
  // metadata.user_id (Claude Code's holds `..._session_<uuid>`): the client's session, for
  // soft session affinity (keypool/sessions.h); empty when absent. Not sent to Google.
  std::string session;
};

using AnthropicRequestResult = std::variant<AnthropicRequest, TranslateError>;

// POST /v1/messages.
// `aliases` (--model-alias) turns the client's model name into a Gemini model; an unmapped
// name of another vendor is a 404. Null: the name is used as it is.
AnthropicRequestResult TranslateAnthropicRequest(std::string_view anthropic_json,
                                                 const ModelAliases* aliases = nullptr);

// POST /v1/messages/count_tokens: {"generateContentRequest": {"model": "models/<model>",
// contents, systemInstruction, tools}} — the form that counts the system prompt and the tool
// declarations too. max_tokens is not required.
AnthropicRequestResult TranslateAnthropicCountTokens(std::string_view anthropic_json,
                                                     const ModelAliases* aliases = nullptr);

}  // namespace gkm
